"""PriceStore's two ways of storing prices: COPY straight into the tables, and the staging insert
that skips stored event ids. Both must leave the same rows and counts. How the rows are formatted
for COPY: tests/unit/test_copy_price_rows.py."""

from __future__ import annotations

from datetime import UTC, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from psycopg import sql

from franz_ivan.copy_rows import price_row
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import Market, PriceEvent
from franz_ivan.settings import read_sql
from franz_ivan.store import Batch, Located, PriceStore
from tests.helpers import BTC, START, price_at

pytestmark = pytest.mark.integration

ETH = Market("cryptowatch", "kraken", "ethusd")


def batch(*prices: Located[PriceEvent]) -> Batch:
    found = Batch(prices=list(prices))
    found.next_offsets = {0: max(p.offset for p in prices) + 1}
    return found


def stored(pg: Any, table: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT event_id::text, value, kafka_offset FROM {} ORDER BY kafka_offset")
    return [tuple(row) for row in pg.execute(query.format(sql.Identifier(table))).fetchall()]


@pytest.fixture
def store(pg: Any) -> PriceStore:
    created = PriceStore(pg, "store_test", "store_test_group")
    created.prepare()
    return created


def test_a_batch_of_new_events_is_copied_into_each_pairs_table(store: PriceStore, pg: Any) -> None:
    counts = store.write(batch(price_at(0, BTC, 0), price_at(1, ETH, 1), price_at(2, BTC, 2)))

    assert (counts.prices, counts.duplicates) == (3, 0)
    assert counts.tables == {"btcusd": 2, "ethusd": 1}, "the rows per table the drain reports as lineage"
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0, 2]
    assert [value for _, value, _ in stored(pg, "ethusd")] == [Decimal("1001.25")]
    assert store.stored_offsets() == {0: 3}


def test_a_batch_with_stored_events_keeps_them_and_adds_only_the_new_ones(store: PriceStore, pg: Any) -> None:
    store.write(batch(price_at(0, BTC, 0), price_at(1, ETH, 1)))

    counts = store.write(batch(price_at(0, BTC, 2, same_id_as=0), price_at(3, BTC, 3), price_at(4, ETH, 4)))

    assert (counts.prices, counts.duplicates) == (2, 1)
    assert counts.tables == {"btcusd": 1, "ethusd": 1}, "a skipped duplicate is no row of its table"
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0, 3]
    assert [offset for _, _, offset in stored(pg, "ethusd")] == [1, 4]
    assert store.stored_offsets() == {0: 5}


def test_an_event_twice_in_one_batch_is_stored_once_from_its_first_position(
    store: PriceStore, pg: Any
) -> None:
    counts = store.write(batch(price_at(0, BTC, 0), price_at(1, BTC, 1, same_id_as=0), price_at(2, ETH, 2)))

    assert (counts.prices, counts.duplicates) == (2, 1)
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0]
    assert len(stored(pg, "ethusd")) == 1


def columns(pg: Any, table: str) -> list[tuple[Any, ...]]:
    query = sql.SQL(
        "SELECT value::text, source, exchange, observed_at, event_id, kafka_partition, kafka_offset"
        " FROM {} ORDER BY kafka_offset"
    )
    return [tuple(row) for row in pg.execute(query.format(sql.Identifier(table))).fetchall()]


def test_rows_formatted_for_copy_read_back_as_psycopgs_own_rows(store: PriceStore, pg: Any) -> None:
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-3, seconds=15))]
    values = ["24063.40", "1E+3", "1E-7", "0.000000001", "123456789012.5", "7"]
    prices = [
        Located(
            PriceEvent(
                event_id_for("copy-format", str(index)),
                BTC,
                (START + timedelta(microseconds=index * 250_001)).astimezone(zones[index % len(zones)]),
                Decimal(value),
            ),
            partition=index % 3,
            offset=index,
        )
        for index, value in enumerate(values * 2)
    ]
    store.write(batch(*prices))
    pg.execute("CREATE TEMP TABLE expected (LIKE btcusd INCLUDING DEFAULTS)")
    with pg.cursor().copy(
        sql.SQL(read_sql("copy_price_table")).format(table=sql.Identifier("expected"))
    ) as copy:
        for item in prices:
            copy.write_row(price_row(item))

    assert columns(pg, "btcusd") == columns(pg, "expected")
    assert len(columns(pg, "btcusd")) == 12
