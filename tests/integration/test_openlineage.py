"""OpenLineage events as a backend gets them: the provider's file transport under ``airflow dags test``.

The producer, the consumer and the quality DAG run as a person runs them, with
``AIRFLOW__OPENLINEAGE__TRANSPORT`` pointing the provider at a file; every event it wrote is read
back, validated against the OpenLineage run event schema (``tests/fixtures/openlineage``), and
checked for its job, inputs, outputs and facets. The SQL operators' own lineage for a pair table
names the same dataset as the drain's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from devtools.local_stack import Stack
from devtools.quality_seed import NORMAL_MARKETS, moving_prices, store

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PRODUCER = "crypto_prices_producer"
CONSUMER = "crypto_prices_consumer"
QUALITY = "crypto_prices_quality"
SCHEMA = json.loads(
    (Path(__file__).parents[1] / "fixtures" / "openlineage" / "run-event.schema.json").read_text()
)
QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})


@dataclass
class Lineage:
    """The stack with the file transport on, and the events written so far."""

    stack: Stack
    path: Path

    @property
    def env(self) -> dict[str, str]:
        transport = {"type": "file", "log_file_path": str(self.path), "append": True}
        return {"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}

    def run(self, *args: str, check: bool = True) -> Any:
        return self.stack.airflow("dags", "test", *args, env=self.env, check=check)

    def events(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]

    def task_events(self, dag_id: str, task_id: str) -> list[dict[str, Any]]:
        """The task's events, in the order written: START then COMPLETE or FAIL per task run."""
        name = f"{dag_id}.{task_id}"
        return [event for event in self.events() if event["job"]["name"] == name]


@pytest.fixture
def lineage(airflow_stack: Stack, tmp_path: Path) -> Lineage:
    return Lineage(airflow_stack, tmp_path / "openlineage.jsonl")


def datasets(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(item["namespace"], item["name"]) for item in items}


def row_counts(event: dict[str, Any]) -> dict[str, int]:
    return {
        output["name"]: output["outputFacets"]["outputStatistics"]["rowCount"] for output in event["outputs"]
    }


def one_run(events: list[dict[str, Any]], end: str = "COMPLETE") -> tuple[dict[str, Any], dict[str, Any]]:
    """The START and the ``end`` event of the one task run among ``events``, with the same run id."""
    assert [event["eventType"] for event in events] == ["START", end], events
    start, finish = events
    assert start["run"]["runId"] == finish["run"]["runId"]
    return start, finish


def assert_valid(events: list[dict[str, Any]]) -> None:
    assert events, "the transport wrote no event"
    for event in events:
        jsonschema.validate(event, SCHEMA, format_checker=jsonschema.FormatChecker())


def sql_operator_inputs(stack: Stack, monkeypatch: pytest.MonkeyPatch, sql: str) -> set[tuple[str, str]]:
    """The datasets the provider's SQL parser finds in ``sql`` on the pipeline's PostgreSQL connection."""
    from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator

    from franz_ivan.settings import POSTGRES_CONN_ID

    for name, value in stack.airflow_env().items():
        if name.startswith("AIRFLOW_CONN_"):
            monkeypatch.setenv(name, value)
    parsed = SQLExecuteQueryOperator(
        task_id="read", conn_id=POSTGRES_CONN_ID, sql=sql
    ).get_openlineage_facets_on_start()
    assert parsed is not None
    return {(dataset.namespace, dataset.name) for dataset in parsed.inputs}


def test_producer_and_consumer_report_the_topic_and_each_pair_table_with_row_counts(
    lineage: Lineage, pg: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = lineage.stack
    kafka = f"kafka://{stack.broker.bootstrap}"
    postgres = f"postgres://{stack.postgres.host}:{stack.postgres.port}"
    database = stack.postgres.database
    markets = ["coinbase-pro:btcusd", "coinbase-pro:ethusd"]

    lineage.run(PRODUCER, "--conf", json.dumps({"markets": markets}))
    start, complete = one_run(lineage.task_events(PRODUCER, "publish_prices"))
    assert (start["inputs"], datasets(start["outputs"])) == ([], {(kafka, stack.topic)})
    assert complete["inputs"] == []
    assert row_counts(complete) == {stack.topic: 4}, "2 prices and 2 allowances acknowledged"

    lineage.run(CONSUMER, "--conf", QUICK_CONSUMER)
    start, complete = one_run(lineage.task_events(CONSUMER, "drain_events"))
    assert datasets(start["inputs"]) == datasets(complete["inputs"]) == {(kafka, stack.topic)}
    assert row_counts(complete) == {
        f"{database}.public.btcusd": 1,
        f"{database}.public.ethusd": 1,
        f"{database}.public.cryptowatch_api_allowance": 2,
    }
    assert {output["namespace"] for output in complete["outputs"]} == {postgres}
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
    assert_valid(lineage.events())

    # A SQL operator reading btcusd on the same connection names the dataset the drain wrote.
    drained = {
        (out["namespace"], out["name"]) for out in complete["outputs"] if out["name"].endswith(".btcusd")
    }
    assert sql_operator_inputs(stack, monkeypatch, "SELECT value FROM btcusd") == drained


def test_a_backfill_run_reads_the_source_api_and_writes_the_topic(lineage: Lineage) -> None:
    lineage.stack.markets = ["kraken:btcusd"]
    logical = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)

    lineage.run(PRODUCER, logical.isoformat())

    start, complete = one_run(lineage.task_events(PRODUCER, "publish_prices"))
    assert datasets(start["inputs"]) == set(), "the run's window is known to be past only once it runs"
    api = lineage.stack.api_url.rstrip("/")
    assert datasets(complete["inputs"]) == {(api, "kraken:kraken:btcusd")}, "the API whose history was read"
    assert datasets(complete["outputs"]) == {
        (f"kafka://{lineage.stack.broker.bootstrap}", lineage.stack.topic)
    }
    assert row_counts(complete)[lineage.stack.topic] >= 1
    assert_valid(lineage.events())


def test_quality_checks_report_the_tables_they_read_with_their_verdicts(lineage: Lineage, pg: Any) -> None:
    stack = lineage.stack
    stack.markets = [market.key for market in NORMAL_MARKETS]
    postgres = f"postgres://{stack.postgres.host}:{stack.postgres.port}"
    database = stack.postgres.database
    store(pg, moving_prices(datetime.now(UTC), 60), topic=stack.topic)

    lineage.run(QUALITY)

    _, spike = one_run(lineage.task_events(QUALITY, "spike"))
    pairs = {market.pair for market in NORMAL_MARKETS}
    assert datasets(spike["inputs"]) == {(postgres, f"{database}.public.{pair}") for pair in pairs}
    for table in spike["inputs"]:
        assertions = table["inputFacets"]["dataQualityAssertions"]["assertions"]
        pair = table["name"].rsplit(".", 1)[1]
        assert {
            (a["assertion"], a["params"]["market"].endswith(f":{pair}"), a["success"]) for a in assertions
        } == {("spike", True, True)}
    _, dead_letters = one_run(lineage.task_events(QUALITY, "dead_letters"))
    # The stock SQL parser's inputs (the query reads the results table too), the verdict on its table.
    tables = {table["name"]: table for table in dead_letters["inputs"]}
    assert set(tables) == {
        f"{database}.public.crypto_prices_dead_letter",
        f"{database}.public.crypto_prices_quality_results",
    }
    assert {table["namespace"] for table in tables.values()} == {postgres}
    (assertion,) = tables[f"{database}.public.crypto_prices_dead_letter"]["inputFacets"][
        "dataQualityAssertions"
    ]["assertions"]
    assert (assertion["assertion"], assertion["params"]["market"], assertion["success"]) == (
        "dead_letters",
        stack.topic,
        True,
    )
    _, lag = one_run(lineage.task_events(QUALITY, "consumer_lag"))
    assert (f"kafka://{stack.broker.bootstrap}", stack.topic) in datasets(lag["inputs"])
    assert_valid(lineage.events())


def test_a_failed_check_reports_fail_with_the_failed_assertion(lineage: Lineage, pg: Any) -> None:
    stack = lineage.stack
    stack.markets = ["coinbase:coinbase:btcusd"]  # configured, never stored: stale

    lineage.run(QUALITY, check=False)

    _, fail = one_run(lineage.task_events(QUALITY, "staleness"), end="FAIL")
    (table,) = fail["inputs"]
    assert table["name"] == f"{stack.postgres.database}.public.btcusd"
    (assertion,) = table["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["assertion"], assertion["success"]) == ("staleness", False)
    assert_valid(lineage.events())
