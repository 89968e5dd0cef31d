"""Running the DAGs by hand, as a person does: ``airflow dags test`` with and without params.

The idle consumer ends soon and says why; the producer takes a one-off ``markets`` param checked
like the Variable; both DAGs record their Asset events with counts; a failed task posts its state
to the alerts webhook (a local HTTP server here); ``airflow db clean`` keeps the metadata bounded.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devtools.local_stack import Stack
from devtools.price_api import PriceApiServer
from tests.helpers import webhook_receiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PRODUCER = "crypto_prices_producer"
CONSUMER = "crypto_prices_consumer"


def metadata(stack: Stack) -> sqlite3.Connection:
    return sqlite3.connect(stack.airflow_home / "airflow.db")


def asset_events(stack: Stack, dag_id: str) -> list[tuple[str, dict[str, Any]]]:
    """The Asset events a DAG's runs recorded: (asset URI, extra), oldest first."""
    with metadata(stack) as conn:
        rows = conn.execute(
            "SELECT asset.uri, asset_event.extra FROM asset_event"
            " JOIN asset ON asset.id = asset_event.asset_id"
            " WHERE asset_event.source_dag_id = ? ORDER BY asset_event.id",
            (dag_id,),
        ).fetchall()
    return [(uri, json.loads(extra)) for uri, extra in rows]


def aliases_of(stack: Stack, dag_id: str) -> set[tuple[str, str]]:
    """(asset URI, alias name) of the Asset events a DAG's runs recorded through an alias."""
    with metadata(stack) as conn:
        rows = conn.execute(
            "SELECT asset.uri, asset_alias.name FROM asset_event"
            " JOIN asset ON asset.id = asset_event.asset_id"
            " JOIN asset_alias_asset_event ON asset_alias_asset_event.event_id = asset_event.id"
            " JOIN asset_alias ON asset_alias.id = asset_alias_asset_event.alias_id"
            " WHERE asset_event.source_dag_id = ?",
            (dag_id,),
        ).fetchall()
    return set(rows)


def test_idle_consumer_dags_test_ends_after_its_short_manual_wait_saying_so(airflow_stack: Stack) -> None:
    airflow_stack.airflow("dags", "test", PRODUCER)
    airflow_stack.airflow("dags", "test", CONSUMER)  # drains the one event, so nothing is pending after

    started = time.monotonic()
    idle = airflow_stack.airflow("dags", "test", CONSUMER)
    elapsed = time.monotonic() - started
    output = idle.stdout + idle.stderr
    assert "Waiting up to 10 s for events" in output
    assert "within 10 s: nothing to drain" in output
    print(f"idle `airflow dags test {CONSUMER}`: {elapsed:.1f} s wall clock")


def test_markets_param_runs_other_markets_once_and_assets_carry_the_counts(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any
) -> None:
    markets = ["coinbase-pro:ethusd", "coinbase-pro:ltcusd"]
    airflow_stack.airflow("dags", "test", PRODUCER, "--conf", json.dumps({"markets": markets}))
    assert sorted(request["path"] for request in price_api.state.requests) == [
        "/markets/coinbase-pro/ethusd/price",
        "/markets/coinbase-pro/ltcusd/price",
    ], "the run used the Variable's markets instead of its param"
    airflow_stack.airflow("dags", "test", CONSUMER)
    assert pg.execute("SELECT count(*) FROM ethusd").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM ltcusd").fetchone() == (1,)

    # Named after the servers the connections point at, read at run time (no made-up names).
    topic = f"kafka://{airflow_stack.broker.bootstrap}/{airflow_stack.topic}"
    assert asset_events(airflow_stack, PRODUCER)[-1] == (
        topic,
        {"prices": 2, "events": 4, "sources": ["cryptowatch"]},
    )
    pg_server = f"{airflow_stack.postgres.host}:{airflow_stack.postgres.port}"
    tables = f"postgres://{pg_server}/{airflow_stack.postgres.database}/public"
    counts = {"events": 4, "prices": 2, "allowances": 2, "dead_letters": 0, "duplicates": 0}
    # The Airflow home is shared by the tests of a worker: other tests' drains wrote their own databases.
    ours = [event for event in asset_events(airflow_stack, CONSUMER) if event[0].startswith(f"{tables}/")]
    assert sorted(ours) == [
        (f"{tables}/cryptowatch_api_allowance", {"rows": 2, **counts}),
        (f"{tables}/ethusd", {"rows": 1, **counts}),
        (f"{tables}/ltcusd", {"rows": 1, **counts}),
    ], "one Asset event per table the run's drains wrote, through the alias"
    assert {(uri, alias) for uri, alias in aliases_of(airflow_stack, PRODUCER) if uri == topic} == {
        (topic, "crypto_prices_topic")
    }
    assert {alias for uri, alias in aliases_of(airflow_stack, CONSUMER) if uri.startswith(f"{tables}/")} == {
        "crypto_prices_tables"
    }


def test_a_bad_markets_param_fails_naming_it_and_the_webhook_hears_of_it(
    airflow_stack: Stack, price_api: PriceApiServer
) -> None:
    with webhook_receiver() as (url, received):
        alerts = json.dumps({"conn_type": "http", "host": url})
        run = airflow_stack.airflow(
            "dags", "test", PRODUCER, "--conf", json.dumps({"markets": ["nowhere:btc:usd:x"]}),
            check=False, env={"AIRFLOW_CONN_CRYPTO_PRICES_ALERTS": alerts},
        )  # fmt: skip
    output = run.stdout + run.stderr
    assert "param 'markets'" in output
    assert "nowhere:btc:usd:x" in output
    assert price_api.state.requests == [], "a bad param must stop the run before any fetch"
    assert [alert["path"] for alert in received] == ["/alerts/token-in-path"]
    body = received[0]["body"]
    assert set(body) == {"dag_id", "task_id", "run_id", "try_number", "state", "reason", "message"}
    assert (body["dag_id"], body["task_id"], body["state"]) == (PRODUCER, "list_markets", "failed")
    assert body["reason"] == "task_failure", "one alert: the run's own failure callback leaves it to the task"
    assert body["run_id"].startswith("manual__")
    assert "param 'markets'" in body["message"]
    assert "nowhere:btc:usd:x" in body["message"]
    assert "token-in-path" not in output, "the webhook URL (it may hold a token) reached the log"


def test_without_the_alerts_connection_a_failure_is_only_logged(airflow_stack: Stack) -> None:
    run = airflow_stack.airflow(
        "dags", "test", PRODUCER, "--conf", json.dumps({"markets": ["nowhere:btc:usd:x"]}), check=False
    )
    assert "No connection crypto_prices_alerts: alert not sent" in run.stdout + run.stderr


def test_db_clean_recipe_removes_the_runs_before_its_cutoff(airflow_stack: Stack) -> None:
    """The docs/operations.md recipe, run against a metadata database holding producer runs.

    ``db clean`` keeps each DAG's latest *scheduled* run (the scheduler's reference point); these
    runs are manual, so every one of them goes.
    """
    airflow_stack.airflow("dags", "test", PRODUCER)
    airflow_stack.airflow("dags", "test", PRODUCER)
    with metadata(airflow_stack) as conn:
        before = conn.execute("SELECT count(*) FROM dag_run WHERE dag_id = ?", (PRODUCER,)).fetchone()[0]
    assert before >= 2

    cutoff = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    airflow_stack.airflow(
        "db", "clean", "--clean-before-timestamp", cutoff, "--skip-archive", "--yes",
        "--tables", "dag_run,task_instance,log,xcom,job,asset_event",
    )  # fmt: skip

    with metadata(airflow_stack) as conn:
        after = conn.execute("SELECT count(*) FROM dag_run WHERE dag_id = ?", (PRODUCER,)).fetchone()[0]
        archives = conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE '_airflow_deleted%'")
        assert archives.fetchone() == (0,)
    assert after == 0
