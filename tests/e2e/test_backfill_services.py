"""A three-hour backfill through ``airflow backfill create`` with the real Airflow services running.

One stack for the module, as ``make up`` starts it (Tansu, a fresh PostgreSQL database, the local
price API with its candle endpoints, scheduler, triggerer, dag-processor and api-server), with the
producer on an hourly schedule (``CRYPTO_PRICES_PRODUCER_SCHEDULE``) so that the window is three
backfill runs of an hour each rather than 180 runs of a minute: the code path is the same, a run
covers its data interval. The scheduler runs the backfill; the sensor-triggered consumer stores the
candles. Every candle served for the window must be stored once, and a second backfill of the same
window must store nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from psycopg import sql

from devtools.airflow_services import PRODUCER, Airflow, airflow_services, metadata_database, services_env
from devtools.freshness import topic_events, wait_until_drained
from devtools.local_stack import drop_database, free_port, running_stack, wait_until
from devtools.price_api import EMPTY_EVERY, PriceApiServer, serve
from tests.helpers import BACKFILL_MARKETS, BACKFILL_TABLES

# slow: one stack of four Airflow components and a three-hour backfill.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAIRS = ["btcusd", "btcusdt", "ethusd"]
MISSING_WHEN_UNTRADED = {"coinbase", "cryptowatch"}
HOUR = timedelta(hours=1)
BACKFILL_SECONDS = 900.0


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Airflow, PriceApiServer]]:
    database = f"franz_e2e_{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("airflow_backfill")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CRYPTO_PRICES_PRODUCER_SCHEDULE", "0 * * * *")
        with (
            serve() as price_api,
            running_stack(home, database, price_api.url, BACKFILL_MARKETS, pin_markets=False) as stack,
        ):
            try:
                stack.create_topic()
                with airflow_services(stack, free_port()) as airflow:
                    yield airflow, price_api
            finally:
                drop_database(stack.postgres, database)
                drop_database(stack.postgres, metadata_database(home))


def backfill(airflow: Airflow, first: datetime, last: datetime) -> float:
    """``airflow backfill create`` for logical dates ``first`` to ``last``; seconds until all is stored."""
    started = time.monotonic()
    before = {
        item["id"] for item in airflow.api.call("GET", "/backfills", params={"dag_id": PRODUCER})["backfills"]
    }
    airflow.stack.airflow(
        "backfill",
        "create",
        "--dag-id",
        PRODUCER,
        "--from-date",
        first.isoformat(),
        "--to-date",
        last.isoformat(),
        "--reprocess-behavior",
        "completed",
        env=services_env(airflow.stack, airflow.port),
    )

    def completed() -> dict[str, Any] | None:
        airflow.check_alive()
        found = airflow.api.call("GET", "/backfills", params={"dag_id": PRODUCER})["backfills"]
        [mine] = [item for item in found if item["id"] not in before]
        return mine if mine["completed_at"] else None

    wait_until(completed, BACKFILL_SECONDS, "the backfill to complete", interval=3)
    wait_until_drained(airflow, timeout=BACKFILL_SECONDS)
    return time.monotonic() - started


def candle_rows(airflow: Airflow, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
    found = []
    with airflow.stack.postgres.connect() as conn:
        for pair in PAIRS:
            query = sql.SQL(
                "SELECT source, observed_at, value, open, high, low, volume FROM {} "
                "WHERE kind = 'candle' AND observed_at >= %s AND observed_at < %s"
            ).format(sql.Identifier(pair))
            found += [(pair, *row) for row in conn.execute(query, (start, end)).fetchall()]
    return found


def served(price_api: PriceApiServer, start: datetime, end: datetime) -> set[tuple[Any, ...]]:
    return {
        (pair, source, datetime.fromtimestamp(c.minute, UTC), c.close, c.open, c.high, c.low, c.volume)
        for source, pair, c in price_api.state.candles_served
        if start.timestamp() <= c.minute < end.timestamp()
    }


def test_a_three_hour_backfill_stores_every_candle_served_once_and_again_nothing(
    live: tuple[Airflow, PriceApiServer],
) -> None:
    airflow, price_api = live
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    first, last = hour - 4 * HOUR, hour - 2 * HOUR
    start, end = first, last + HOUR

    seconds = backfill(airflow, first, last)

    runs = [run for run in airflow.api.dag_runs(PRODUCER) if run["run_type"] == "backfill"]
    assert sorted(run["data_interval_start"] for run in runs) == [
        (first + n * HOUR).isoformat().replace("+00:00", "Z") for n in range(3)
    ]
    assert {run["state"] for run in runs} == {"success"}
    candles = served(price_api, start, end)
    rows = candle_rows(airflow, start, end)
    assert sorted(rows) == sorted(candles)
    per_market = {(pair, source): 0 for pair, source, *_ in candles}
    for pair, source, *_ in rows:
        per_market[(pair, source)] += 1
    untraded = sum(
        1 for n in range(180) if int((start + n * timedelta(minutes=1)).timestamp()) // 60 % EMPTY_EVERY == 0
    )
    assert per_market == {
        (pair, source): 180 - (untraded if source in MISSING_WHEN_UNTRADED else 0)
        for pair, source in BACKFILL_TABLES
    }
    print(
        f"\nbackfill {start:%Y-%m-%d %H:%M} to {end:%H:%M} UTC (3 runs, 5 markets): "
        f"{len(candles)} candles served, {len(rows)} rows stored, {seconds:.0f} s wall time"
    )

    published_before = len(topic_events(airflow.stack.broker.bootstrap, airflow.stack.topic))
    seconds_again = backfill(airflow, first, last)

    assert sorted(candle_rows(airflow, start, end)) == sorted(candles)
    published = len(topic_events(airflow.stack.broker.bootstrap, airflow.stack.topic))
    assert published - published_before >= len(candles), "the second backfill published no candles"
    print(
        f"second backfill: {published - published_before} events published, 0 rows stored, "
        f"{seconds_again:.0f} s"
    )
