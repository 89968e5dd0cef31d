"""How :func:`franz_ivan.store.copy_price_rows` hands rows to a COPY: one preformatted text when
no value would read differently, else psycopg's own escaping row by row (the rows in a real
PostgreSQL: tests/integration/test_store_copy.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from franz_ivan.events import PriceEvent
from franz_ivan.store import Located, copy_price_rows
from tests.helpers import BTC, START, price_at


class RecordingCopy:
    def __init__(self) -> None:
        self.text: list[str] = []
        self.rows: list[tuple[Any, ...]] = []

    def write(self, text: str) -> None:
        self.text.append(text)

    def write_row(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row)


@pytest.mark.parametrize("event_id", ["a\tb", "a\nb", "a\\.b", "a\rb", "a\\tb"])
def test_a_value_copy_would_read_differently_is_sent_escaped_by_psycopg(event_id: str) -> None:
    copy = RecordingCopy()
    item = Located(PriceEvent(event_id, BTC, START, Decimal("1.5")), partition=0, offset=7)

    copy_price_rows(copy, [price_at(0, BTC, 0), item])  # type: ignore[arg-type]

    assert copy.text == []
    assert [row[4] for row in copy.rows] == [price_at(0, BTC, 0).event.event_id, event_id]


def test_a_signalling_nan_is_sent_as_psycopg_sends_it() -> None:
    copy = RecordingCopy()

    copy_price_rows(copy, [Located(PriceEvent("x", BTC, START, Decimal("sNaN")), 0, 0)])  # type: ignore[arg-type]

    assert copy.text == []
    assert len(copy.rows) == 1


def test_plain_rows_are_sent_as_preformatted_text_with_the_pair_for_staging() -> None:
    copy = RecordingCopy()

    copy_price_rows(copy, [price_at(0, BTC, 5)], pair="btcusd")  # type: ignore[arg-type]

    event = price_at(0, BTC, 5).event
    assert copy.rows == []
    assert copy.text == [f"btcusd\t1000.25\tcryptowatch\tcoinbase-pro\t{START}\t{event.event_id}\t0\t5\n"]
