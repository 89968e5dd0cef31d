"""Retried publishes store nothing twice; a replay rebuilds the same rows from the topic, idempotently."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from devtools.faults import DrainTarget, drain_once, make_feed, process_env
from devtools.local_stack import ROOT, Postgres
from devtools.price_api import PriceApiServer
from franz_ivan.drain import DrainLimits
from franz_ivan.publish import produce
from tests.helpers import assert_exactly_once

pytestmark = pytest.mark.integration

MARKET = "cryptowatch:coinbase-pro:btcusd"
LIMITS = DrainLimits(batch_size=500, stall_seconds=20, max_seconds=120)


def connections(target: DrainTarget, database: Postgres, api_url: str) -> dict[str, str]:
    """The Airflow connections (as environment variables) the production code reads."""
    return {
        "AIRFLOW_CONN_CRYPTO_PRICES_KAFKA": json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": target.bootstrap}}
        ),
        "AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES": json.dumps(
            {
                "conn_type": "postgres",
                "host": database.host,
                "port": database.port,
                "login": database.user,
                "schema": database.database,
            }
        ),
        "AIRFLOW_CONN_CRYPTOWATCH_API": json.dumps({"conn_type": "generic", "host": api_url}),
        "CRYPTO_PRICES_TOPIC": target.topic,
    }


def test_a_retried_task_republishes_the_same_ids_and_they_are_stored_once(
    target: DrainTarget,
    database: Postgres,
    price_api: PriceApiServer,
    pg: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from franz_ivan.producer import publish_source

    for name, value in connections(target, database, price_api.url).items():
        monkeypatch.setenv(name, value)
    run_key = "crypto_prices_producer/scheduled__2026-11-27T18:00:00+00:00"
    first = publish_source("cryptowatch", [MARKET], run_key)
    retried = publish_source("cryptowatch", [MARKET], run_key)
    assert first == retried
    assert (first["prices"], first["events"]) == (1, 2)
    assert len(price_api.state.served) == 2  # two real fetches, two prices observed

    result = drain_once(target, LIMITS)
    assert (result.events, result.prices, result.allowances, result.duplicates) == (4, 1, 1, 2)
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM cryptowatch_api_allowance").fetchone() == (1,)

    # Another run of the DAG is another observation: new ids, new rows.
    publish_source("cryptowatch", [MARKET], "crypto_prices_producer/manual__2026-11-27T18:01")
    assert drain_once(target, LIMITS).prices == 1
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (2,)


def replay(target: DrainTarget, database: Postgres) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "franz_ivan.replay", "--topic", target.topic],
        env={**process_env(), **connections(target, database, "http://unused")},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        cwd=ROOT,
    )
    return completed.stdout


def snapshot(pg: Any, pairs: list[str]) -> dict[str, list[Any]]:
    """Every row of the tables, without the recording time (a replayed row is recorded anew)."""
    from psycopg import sql

    rows = {
        table: pg.execute(
            sql.SQL("SELECT to_jsonb(t) - 'timestamp' FROM {} AS t ORDER BY event_id").format(
                sql.Identifier(table)
            )
        ).fetchall()
        for table in [*pairs, "cryptowatch_api_allowance"]
    }
    rows["dead letters"] = pg.execute(
        "SELECT to_jsonb(t) - 'timestamp' FROM crypto_prices_dead_letter AS t "
        "ORDER BY kafka_partition, kafka_offset"
    ).fetchall()
    pg.rollback()
    return rows


def test_replay_rebuilds_the_same_rows_and_is_idempotent(
    target: DrainTarget, database: Postgres, pg: Any
) -> None:
    pairs = ["btcusd", "ethusd", "solusd"]
    feed = make_feed(3000, run="replay", pairs=pairs, resend_every=30, malformed_every=101)
    produce({"bootstrap.servers": target.bootstrap}, target.topic, feed.messages)
    drain_once(target, LIMITS)
    before = snapshot(pg, pairs)
    assert_exactly_once(pg, target, feed)

    # Rows lost (a table emptied by mistake): the replay brings them back from the topic.
    pg.execute("DELETE FROM ethusd")
    pg.commit()
    assert "Positions forgotten (partition 0 at" in replay(target, database)
    replayed = drain_once(target, LIMITS)
    assert replayed.events == len(feed.messages)
    assert snapshot(pg, pairs) == before

    # Twice in a row is the same as once; the drain after it stores nothing new.
    replay(target, database)
    replay(target, database)
    again = drain_once(target, LIMITS)
    assert (again.prices + again.allowances, again.events) == (0, len(feed.messages))
    assert snapshot(pg, pairs) == before
    assert_exactly_once(pg, target, feed)
