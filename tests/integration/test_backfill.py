"""Candles from history into the pair tables: the store's candle path, the gap finder, and producer
runs of a past interval through ``airflow dags test`` against the local API's candle endpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from psycopg import sql

from devtools.freshness import topic_events
from devtools.local_stack import Stack
from devtools.price_api import EMPTY_EVERY, PriceApiServer, candle_at
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import Candle, Market, PriceEvent
from franz_ivan.gaps import Gap, backfill_command, find_gaps, report, retention_gaps
from franz_ivan.producer import candle_event_id
from franz_ivan.store import Batch, Located, PriceStore
from tests.helpers import BACKFILL_MARKETS, BACKFILL_TABLES

pytestmark = pytest.mark.integration

MINUTE = timedelta(minutes=1)
KRAKEN = Market("kraken", "kraken", "btcusd")
COINBASE = Market("coinbase", "coinbase", "btcusd")
START = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})


def candle(market: Market, minute: datetime, offset: int, close: str = "100.5") -> Located[PriceEvent]:
    event = PriceEvent(
        candle_event_id(market, minute),
        market,
        minute,
        Decimal(close),
        Candle(Decimal("100"), Decimal("101"), Decimal("99.5"), Decimal("2.25")),
    )
    return Located(event, partition=0, offset=offset)


def tick(market: Market, moment: datetime, offset: int) -> Located[PriceEvent]:
    event = PriceEvent(event_id_for("live", str(offset)), market, moment, Decimal("100.7"))
    return Located(event, partition=0, offset=offset)


@pytest.fixture
def store(pg: Any) -> PriceStore:
    created = PriceStore(pg, "backfill_test", "backfill_test_group")
    created.prepare()
    return created


def rows(pg: Any, table: str) -> list[tuple[Any, ...]]:
    query = sql.SQL(
        "SELECT kind, observed_at, value, open, high, low, volume, kafka_offset FROM {} ORDER BY kafka_offset"
    )
    return [tuple(row) for row in pg.execute(query.format(sql.Identifier(table))).fetchall()]


# --- the store's candle path ---------------------------------------------------------------------


def test_candles_are_stored_with_their_ohlcv_and_a_second_time_not_at_all(store: PriceStore, pg: Any) -> None:
    first = store.write(Batch(candles=[candle(KRAKEN, START, 0), candle(KRAKEN, START + MINUTE, 1)]))
    again = store.write(Batch(candles=[candle(KRAKEN, START, 2), candle(KRAKEN, START + MINUTE, 3)]))
    assert (first.tables, again.tables) == ({"btcusd": 2}, {}), "rows per table: none the second time"

    assert (first.prices, first.duplicates) == (2, 0)
    assert (again.prices, again.duplicates) == (0, 2)
    assert rows(pg, "btcusd") == [
        ("candle", START, Decimal("100.5"), Decimal(100), Decimal(101), Decimal("99.5"), Decimal("2.25"), 0),
        (
            "candle",
            START + MINUTE,
            Decimal("100.5"),
            Decimal(100),
            Decimal(101),
            Decimal("99.5"),
            Decimal("2.25"),
            1,
        ),
    ]


def test_a_candle_is_stored_beside_the_live_rows_of_its_minute_which_stay(store: PriceStore, pg: Any) -> None:
    batch = Batch(prices=[tick(KRAKEN, START + timedelta(seconds=7), 0)], candles=[candle(KRAKEN, START, 1)])
    batch.next_offsets = {0: 2}
    counts = store.write(batch)

    assert counts.prices == 2
    assert [(kind, value, volume) for kind, _, value, _, _, _, volume, _ in rows(pg, "btcusd")] == [
        ("tick", Decimal("100.7"), None),
        ("candle", Decimal("100.5"), Decimal("2.25")),
    ]
    assert store.stored_offsets() == {0: 2}


def test_a_table_from_before_candles_gains_the_columns_and_keeps_its_rows(store: PriceStore, pg: Any) -> None:
    pg.execute(
        'CREATE TABLE btcusd ("timestamp" timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,'
        " value numeric NOT NULL,"
        " source text NOT NULL, exchange text NOT NULL, observed_at timestamptz NOT NULL,"
        " event_id uuid PRIMARY KEY, kafka_partition integer NOT NULL, kafka_offset bigint NOT NULL)"
    )
    pg.execute(
        "INSERT INTO btcusd (value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset)"
        " VALUES (1, 'kraken', 'kraken', %s, %s, 0, 0)",
        (START, event_id_for("old")),
    )
    pg.commit()
    store.write(Batch(candles=[candle(KRAKEN, START, 1)]))

    assert [row[0] for row in rows(pg, "btcusd")] == ["tick", "candle"]
    with pytest.raises(Exception, match="btcusd_kind_check"):
        pg.execute("UPDATE btcusd SET kind = 'other'")
    pg.rollback()


# --- the gap finder ------------------------------------------------------------------------------


def test_the_gap_finder_lists_each_markets_missing_minutes_and_the_backfill_for_them(
    store: PriceStore, pg: Any
) -> None:
    # Kraken: minutes 0-9 filled but 3, 4 and 8; a live tick fills minute 9. Coinbase: minute 0 only.
    filled = [0, 1, 2, 5, 6, 7]
    batch = Batch(
        candles=[candle(KRAKEN, START + n * MINUTE, n) for n in filled] + [candle(COINBASE, START, 20)],
        prices=[tick(KRAKEN, START + 9 * MINUTE + timedelta(seconds=59.9), 21)],
    )
    store.write(batch)
    window = (START, START + 10 * MINUTE)

    kraken = find_gaps(pg, KRAKEN, *window)
    coinbase = find_gaps(pg, COINBASE, *window)
    absent = find_gaps(pg, Market("kraken", "kraken", "ethusd"), *window)

    assert kraken == [
        Gap(KRAKEN, START + 3 * MINUTE, START + 5 * MINUTE),
        Gap(KRAKEN, START + 8 * MINUTE, START + 9 * MINUTE),
    ]
    assert coinbase == [Gap(COINBASE, START + MINUTE, START + 10 * MINUTE)]
    assert absent == [Gap(Market("kraken", "kraken", "ethusd"), *window)]
    assert retention_gaps(pg, "crypto_prices", START) == []
    assert backfill_command(kraken[0]) == (
        "airflow backfill create --dag-id crypto_prices_producer --from-date 2026-11-30T08:03:00+00:00 "
        "--to-date 2026-11-30T08:04:00+00:00 --reprocess-behavior completed"
    )
    printed = report(kraken + coinbase, [])
    assert printed.splitlines()[:4] == [
        "kraken:kraken:btcusd: 3 missing minutes in 2 ranges",
        "  2026-11-30 08:03 to 2026-11-30 08:05 UTC (2 minutes)",
        "  2026-11-30 08:08 to 2026-11-30 08:09 UTC (1 minutes)",
        "coinbase:coinbase:btcusd: 9 missing minutes in 1 ranges",
    ]
    assert printed.count("airflow backfill create") == 3


def test_the_gap_finder_lists_the_recorded_retention_losses(pg: Any) -> None:
    pg.execute(
        "CREATE TABLE crypto_prices_retention_gaps (topic text, kafka_partition integer, from_offset bigint,"
        " to_offset bigint, detected_at timestamptz)"
    )
    pg.execute(
        "INSERT INTO crypto_prices_retention_gaps VALUES ('crypto_prices', 1, 100, 250, %s),"
        " ('other', 0, 1, 2, %s), ('crypto_prices', 0, 5, 6, %s)",
        (START + MINUTE, START, START - MINUTE),
    )
    lost = retention_gaps(pg, "crypto_prices", START)
    assert lost == [("crypto_prices", 1, 100, 250, START + MINUTE)]
    assert report([], lost) == (
        "No missing minutes.\n"
        "retention loss: crypto_prices[1] offsets 100 to 250, detected 2026-11-30 08:01:00 UTC"
    )


# --- producer runs of a past interval ------------------------------------------------------------


def candle_rows(pg: Any, pairs: list[str]) -> set[tuple[Any, ...]]:
    found = set()
    for pair in pairs:
        query = sql.SQL("SELECT source, observed_at, value, open, high, low, volume, kind FROM {}")
        found |= {(pair, *row) for row in pg.execute(query.format(sql.Identifier(pair))).fetchall()}
    return found


def served_rows(price_api: PriceApiServer, start: datetime, end: datetime) -> set[tuple[Any, ...]]:
    """The candles served for minutes in [start, end), as the rows they should become."""
    return {
        (
            pair,
            source,
            datetime.fromtimestamp(c.minute, UTC),
            c.close,
            c.open,
            c.high,
            c.low,
            c.volume,
            "candle",
        )
        for source, pair, c in price_api.state.candles_served
        if start.timestamp() <= c.minute < end.timestamp()
    }


def past_minute(hours: float) -> datetime:
    """A minute about ``hours`` ago that every source traded in."""
    moment = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=hours)
    while int(moment.timestamp()) // 60 % EMPTY_EVERY in {0, 1, 2}:
        moment -= MINUTE
    return moment


def test_a_past_run_publishes_each_sources_candle_of_its_minute_and_again_stores_nothing(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any
) -> None:
    airflow_stack.markets = list(BACKFILL_MARKETS)
    logical = past_minute(2)
    # The same minute twice: the second run publishes the same candles under the same ids.
    airflow_stack.airflow("dags", "test", "crypto_prices_producer", logical.isoformat())
    airflow_stack.airflow("dags", "test", "crypto_prices_producer", logical.isoformat())
    airflow_stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    assert {request["source"] for request in price_api.state.requests} == {
        "kraken_ohlc",
        "coinbase_candles",
        "binance_klines",
        "bitstamp_ohlc",
        "cryptowatch_ohlc",
    }
    # ``dags test`` at time T covers the minute that ended at T (a scheduled or backfill run's
    # logical date is its minute's start instead).
    minute = logical - MINUTE
    expected = served_rows(price_api, minute, logical)
    assert len(expected) == 5
    assert candle_rows(pg, ["btcusd", "btcusdt", "ethusd"]) == expected
    assert expected == {
        (
            pair,
            source,
            minute,
            *(getattr(served, f) for f in ("close", "open", "high", "low", "volume")),
            "candle",
        )
        for pair, source in BACKFILL_TABLES
        for served in [candle_at(source, pair, int(minute.timestamp()))]
    }

    published = topic_events(airflow_stack.broker.bootstrap, airflow_stack.topic)
    candles = [event.event_id for event in published if event.type == "price"]
    assert len(candles) == 10
    assert len(set(candles)) == 5


def test_a_window_beyond_krakens_720_minutes_fails_its_task_naming_the_limit(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any
) -> None:
    airflow_stack.markets = ["kraken:btcusd", "bitstamp:btcusd"]
    logical = past_minute(13)
    produced = airflow_stack.airflow(
        "dags", "test", "crypto_prices_producer", logical.isoformat(), check=False
    )
    airflow_stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    output = produced.stdout + produced.stderr
    assert (
        "1 of 1 kraken markets were not filled from history: kraken kraken:btcusd: "
        "kraken serves only its 720 most recent one-minute candles" in output
    )
    minute = logical - MINUTE
    assert (
        f"{minute:%Y-%m-%d %H:%M} to {minute:%H:%M} UTC (1 minutes) could not be filled; filled nothing"
        in output
    )
    # Bitstamp reaches back further: its candle is stored, Kraken's task failed.
    assert [row[:2] for row in candle_rows(pg, ["btcusd"])] == [("btcusd", "bitstamp")]
