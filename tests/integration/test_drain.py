"""The drain and the pending-events check against a real Tansu broker and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Consumer

from devtools.local_stack import Broker, Postgres
from franz_ivan.drain import DrainLimits
from franz_ivan.drain_runner import open_drain
from franz_ivan.events import AllowanceEvent, Event, Market, PriceEvent, event_id_for
from franz_ivan.kafka_topics import consumer_settings
from franz_ivan.pending import pending_events
from franz_ivan.publish import ensure_topic, publish
from franz_ivan.store import Batch, Located, PriceStore

pytestmark = pytest.mark.integration

GROUP = "crypto_prices_consumer"
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MARKETS = [Market("cryptowatch", "coinbase-pro", "btcusd"), Market("cryptowatch", "kraken", "etheur")]


def price_events(run: int, markets: list[Market] = MARKETS) -> list[tuple[str, Event]]:
    events: list[tuple[str, Event]] = []
    for index, market in enumerate(markets):
        observed = START + timedelta(minutes=run)
        events.append(
            (
                market.key,
                PriceEvent(
                    event_id_for(f"run{run}", market.key, "price"),
                    market,
                    observed,
                    Decimal(f"{100 + run}.{index}"),
                ),
            )
        )
        events.append(
            (
                market.key,
                AllowanceEvent(
                    event_id_for(f"run{run}", market.key, "allowance"),
                    market,
                    observed,
                    Decimal("9.5") - Decimal(run) / 100,
                    cost=Decimal("0.005"),
                ),
            )
        )
    return events


@pytest.fixture
def kafka(broker: Broker, topic: str) -> dict[str, Any]:
    config = {"bootstrap.servers": broker.bootstrap}
    ensure_topic(config, topic, partitions=3, timeout=10)
    return config


@pytest.fixture
def consumer(kafka: dict[str, Any]) -> Iterator[Consumer]:
    client = Consumer({**kafka, **consumer_settings(GROUP)})
    yield client
    client.close()


def drain_once(kafka: dict[str, Any], database: Postgres, topic: str, batch_size: int = 5000) -> Any:
    limits = DrainLimits(batch_size=batch_size, stall_seconds=10)
    with open_drain(kafka, database.connect, topic, GROUP, limits=limits, mirror=None) as drain:
        return drain.run()


def rows(pg: Any, query: str) -> list[tuple[Any, ...]]:
    return pg.execute(query).fetchall()


def test_drain_stores_every_event_once_across_partitions_and_batches(
    kafka: dict[str, Any], database: Postgres, pg: Any, topic: str
) -> None:
    for run in range(10):
        publish(kafka, topic, price_events(run), timeout=10)

    result = drain_once(kafka, database, topic, batch_size=7)

    assert (result.events, result.prices, result.allowances, result.dead_letters) == (40, 20, 20, 0)
    assert result.batches >= 40 // 7
    btc = rows(pg, "SELECT value, exchange, observed_at FROM btcusd ORDER BY observed_at")
    assert [value for value, _, _ in btc] == [Decimal(f"{100 + run}.0") for run in range(10)]
    assert {exchange for _, exchange, _ in btc} == {"coinbase-pro"}
    assert rows(pg, "SELECT count(*), count(DISTINCT event_id) FROM etheur") == [(10, 10)]
    assert rows(pg, "SELECT count(*) FROM cryptowatch_api_allowance") == [(20,)]
    stored = dict(rows(pg, "SELECT kafka_partition, next_offset FROM crypto_prices_consumer_offsets"))
    assert sum(stored.values()) == 40
    assert stored == result.next_offsets


def test_a_second_drain_adds_nothing_and_a_later_one_only_the_new_events(
    kafka: dict[str, Any], database: Postgres, pg: Any, topic: str
) -> None:
    publish(kafka, topic, price_events(0), timeout=10)
    drain_once(kafka, database, topic)
    again = drain_once(kafka, database, topic)
    assert (again.events, again.prices, again.allowances) == (0, 0, 0)

    publish(kafka, topic, price_events(1), timeout=10)
    later = drain_once(kafka, database, topic)
    assert (later.events, later.prices) == (4, 2)
    assert rows(pg, "SELECT count(*) FROM btcusd") == [(2,)]


def test_an_event_sent_twice_is_stored_once(
    kafka: dict[str, Any], database: Postgres, pg: Any, topic: str
) -> None:
    """A retried producer task re-sends the same event ids; the tables keep one row each."""
    publish(kafka, topic, price_events(0), timeout=10)
    publish(kafka, topic, price_events(0), timeout=10)
    result = drain_once(kafka, database, topic)
    assert (result.events, result.prices, result.allowances, result.duplicates) == (8, 2, 2, 4)
    assert rows(pg, "SELECT count(*) FROM btcusd") == [(1,)]
    assert rows(pg, "SELECT count(*) FROM cryptowatch_api_allowance") == [(2,)]


def test_pending_counts_what_is_not_stored_and_consumes_nothing(
    kafka: dict[str, Any], database: Postgres, pg: Any, topic: str, consumer: Consumer
) -> None:
    store = PriceStore(pg, topic, GROUP)
    store.prepare()
    assert pending_events(consumer, store) == {}

    publish(kafka, topic, price_events(0), timeout=10)
    pending = pending_events(consumer, store)
    assert pending
    assert pending_events(consumer, store) == pending  # looking twice changes nothing

    drain_once(kafka, database, topic)
    assert pending_events(consumer, store) == {}
    assert rows(pg, "SELECT count(*) FROM btcusd") == [(1,)]


def test_stored_rows_carry_their_topic_position(
    kafka: dict[str, Any], database: Postgres, pg: Any, topic: str
) -> None:
    publish(kafka, topic, price_events(0), timeout=10)
    drain_once(kafka, database, topic)
    positions = rows(
        pg,
        "SELECT kafka_partition, kafka_offset FROM btcusd UNION ALL "
        "SELECT kafka_partition, kafka_offset FROM cryptowatch_api_allowance "
        "WHERE pair = 'btcusd'",
    )
    partitions = {partition for partition, _ in positions}
    assert len(partitions) == 1, "one market's events share a partition (keyed by market)"
    assert sorted(offset for _, offset in positions) == sorted({offset for _, offset in positions})


def test_a_store_reused_after_a_failed_write_creates_its_tables_again(pg: Any, topic: str) -> None:
    """A table created inside a rolled-back transaction is gone; the store must not assume it exists."""
    store = PriceStore(pg, topic, GROUP)
    store.prepare()
    [(_, event), _] = price_events(0, MARKETS[:1])
    # The offsets table refuses partition -1, so the write fails after the table was created.
    pg.execute(
        "ALTER TABLE crypto_prices_consumer_offsets ADD CONSTRAINT no_negative CHECK (kafka_partition >= 0)"
    )
    pg.commit()
    doomed = Batch(prices=[Located(event, 0, 0)], next_offsets={-1: 0})
    with pytest.raises(Exception, match="no_negative"):
        store.write(doomed)
    assert rows(pg, "SELECT to_regclass('btcusd') IS NULL") == [(True,)]

    counts = store.write(Batch(prices=[Located(event, 0, 0)], next_offsets={0: 1}))
    assert counts.prices == 1
    assert rows(pg, "SELECT count(*) FROM btcusd") == [(1,)]
