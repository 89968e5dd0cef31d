"""PriceStore's two ways of storing prices: COPY straight into the tables, and the staging insert
that skips stored event ids. Both must leave the same rows and counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg import sql

from franz_ivan.events import Market, PriceEvent, event_id_for
from franz_ivan.store import Batch, Located, PriceStore

pytestmark = pytest.mark.integration

BTC = Market("cryptowatch", "coinbase-pro", "btcusd")
ETH = Market("cryptowatch", "kraken", "ethusd")
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def price(index: int, market: Market, offset: int, *, same_id_as: int | None = None) -> Located[PriceEvent]:
    event_id = event_id_for("store-test", str(index if same_id_as is None else same_id_as))
    event = PriceEvent(event_id, market, START + timedelta(seconds=index), Decimal(f"{1000 + index}.25"))
    return Located(event, partition=0, offset=offset)


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
    counts = store.write(batch(price(0, BTC, 0), price(1, ETH, 1), price(2, BTC, 2)))

    assert (counts.prices, counts.duplicates) == (3, 0)
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0, 2]
    assert [value for _, value, _ in stored(pg, "ethusd")] == [Decimal("1001.25")]
    assert store.stored_offsets() == {0: 3}


def test_a_batch_with_stored_events_keeps_them_and_adds_only_the_new_ones(store: PriceStore, pg: Any) -> None:
    store.write(batch(price(0, BTC, 0), price(1, ETH, 1)))

    counts = store.write(batch(price(0, BTC, 2, same_id_as=0), price(3, BTC, 3), price(4, ETH, 4)))

    assert (counts.prices, counts.duplicates) == (2, 1)
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0, 3]
    assert [offset for _, _, offset in stored(pg, "ethusd")] == [1, 4]
    assert store.stored_offsets() == {0: 5}


def test_an_event_twice_in_one_batch_is_stored_once_from_its_first_position(
    store: PriceStore, pg: Any
) -> None:
    counts = store.write(batch(price(0, BTC, 0), price(1, BTC, 1, same_id_as=0), price(2, ETH, 2)))

    assert (counts.prices, counts.duplicates) == (2, 1)
    assert [offset for _, _, offset in stored(pg, "btcusd")] == [0]
    assert len(stored(pg, "ethusd")) == 1
