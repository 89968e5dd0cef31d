"""Every DAG imports cleanly, offline, cheaply, and follows the project's policy."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
HEAVY_MODULES = ("confluent_kafka", "psycopg", "requests", "aiohttp", "airflow.providers.http.hooks")


class NetworkAtParseTimeError(AssertionError):
    pass


@pytest.fixture(scope="module")
def dag_bag(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The DAG folder parsed with every outgoing connection refused."""
    import os

    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    from airflow.models import DagBag

    def refuse(self: socket.socket, address: object) -> None:
        raise NetworkAtParseTimeError(f"DAG parsing tried to connect to {address}")

    original = socket.socket.connect
    socket.socket.connect = refuse  # type: ignore[method-assign]
    try:
        return DagBag(dag_folder=str(DAGS))
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]


def test_every_file_holds_one_dag_named_after_it(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert sorted(dag_bag.dag_ids) == sorted(path.stem for path in DAG_FILES)
    assert set(dag_bag.dag_ids) == {
        "crypto_prices_producer",
        "crypto_prices_consumer",
        "crypto_prices_quality",
    }


def test_policy_owner_tags_retries_docs(dag_bag: Any) -> None:
    for dag_id, dag in dag_bag.dags.items():
        assert dag.doc_md, f"{dag_id} has no doc_md"
        assert "crypto_prices" in dag.tags, f"{dag_id} lacks the crypto_prices tag"
        assert dag.catchup is False, f"{dag_id} would backfill"
        for task in dag.tasks:
            assert task.owner == "franz-ivan", f"{dag_id}.{task.task_id} owner {task.owner!r}"
            assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"


def test_consumer_is_continuous_with_one_run_and_a_bounded_deferrable_sensor(dag_bag: Any) -> None:
    dag = dag_bag.dags["crypto_prices_consumer"]
    assert dag.max_active_runs == 1
    assert dag.schedule == "@continuous"
    sensor = dag.get_task("wait_for_events")
    assert sensor.deferrable is True
    # The wait is read from the run's params, not rendered into a string.
    assert (sensor.max_wait_param, sensor.max_wait_seconds) == ("max_wait_seconds", None)
    assert "max_wait_seconds" not in sensor.template_fields
    # Empty: the wait follows the run type, long for the continuous runs, short for a person.
    assert dag.params["max_wait_seconds"] is None
    assert (sensor.continuous_max_wait_seconds, sensor.manual_max_wait_seconds) == (600, 10)
    assert dag.get_task("plan_drains").upstream_task_ids == {"wait_for_events"}
    drain = dag.get_task("drain_events")
    assert drain.upstream_task_ids == {"plan_drains"}
    assert drain.is_mapped, "the drain is mapped over partition groups"
    # The tables' Asset events come from one task once the drains are done, whatever some of them did.
    record = dag.get_task("record_tables")
    assert record.upstream_task_ids == {"drain_events"}
    assert record.trigger_rule == "all_done_min_one_success"


def test_producer_runs_every_minute_by_default_each_run_covering_the_minute_before(dag_bag: Any) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dag_bag.dags["crypto_prices_producer"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.timetable.expression == "* * * * *"
    assert dag.catchup is False


def test_quality_runs_at_most_every_five_minutes_and_judges_every_minute(dag_bag: Any) -> None:
    """A bound on the metadata (one run per 5 minutes, not one per drain) that loses no check: the
    prices spike and divergence judge reach back further than the cadence."""
    from airflow.sdk import CronTriggerTimetable

    from franz_ivan.quality.config import QualityConfig

    dag = dag_bag.dags["crypto_prices_quality"]
    assert isinstance(dag.timetable, CronTriggerTimetable), "an Asset trigger would run it after every drain"
    assert dag.timetable.expression == "*/5 * * * *"
    assert QualityConfig().recent_minutes >= 5, "minutes between two runs would go unjudged"
    assert dag.max_active_runs == 1
    checks = {"staleness", "spike", "divergence", "allowance", "consumer_lag", "dead_letters"}
    assert {task.task_id for task in dag.tasks} == {"load_settings", *checks}
    for task_id in checks:
        assert dag.get_task(task_id).upstream_task_ids == {"load_settings"}


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_parsing_imports_no_client_library(dag_file: Path) -> None:
    """Kafka, PostgreSQL and HTTP clients load inside tasks, never when the scheduler parses."""
    probe = (
        "import json, runpy, sys; "
        f"runpy.run_path({str(dag_file)!r}); "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    assert probe_json(probe) == []


@pytest.mark.parametrize("default_deferrable", [True, False])
def test_the_consumers_sensor_defers_whatever_the_default_deferrable_setting(
    default_deferrable: bool,
) -> None:
    """The sensor's own default follows ``[operators] default_deferrable`` (read at import, as the
    providers' sensors do, hence a fresh process); the consumer DAG asks for deferral itself."""
    probe = (
        "import json, runpy; from franz_ivan.sensors import PendingEventsSensor; "
        "bare = PendingEventsSensor(task_id='s', topic='t', consumer_group='g', kafka_conn_id='k', "
        "postgres_conn_id='p'); "
        f"dag = runpy.run_path({str(DAGS / 'crypto_prices_consumer.py')!r})['crypto_prices_consumer'](); "
        "print(json.dumps([bare.deferrable, dag.get_task('wait_for_events').deferrable]))"
    )
    env = {**os.environ, "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(default_deferrable)}
    assert probe_json(probe, env) == [default_deferrable, True]


def probe_json(code: str, env: Mapping[str, str] | None = None) -> Any:
    """Run ``code`` in a new Python (environment ``env``, default this one's); its last line, as JSON.

    The package is installed, so the probe imports it as Airflow does: nothing on ``PYTHONPATH``.
    """
    completed = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env=dict(os.environ if env is None else env),
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_every_param_has_a_title_and_a_description_for_the_trigger_form(dag_bag: Any) -> None:
    for dag_id, dag in dag_bag.dags.items():
        for name in dag.params:
            param = dag.params.get_param(name)
            assert param.schema.get("title"), f"{dag_id} param {name} has no title"
            assert param.description, f"{dag_id} param {name} has no description"
    assert set(dag_bag.dags["crypto_prices_producer"].params) == {"markets"}
    assert dag_bag.dags["crypto_prices_producer"].params["markets"] is None, "default: the Variable"


def test_every_task_reports_its_failure_to_the_alerts_webhook(dag_bag: Any) -> None:
    from franz_ivan.dag_defaults import alert_on_failure

    for dag_id, dag in dag_bag.dags.items():
        for task in dag.tasks:
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert alert_on_failure in callbacks, f"{dag_id}.{task.task_id} does not alert on failure"


def test_assets_chain_producer_topic_consumer_tables_quality(dag_bag: Any) -> None:
    """Aliases only: the servers' names come from the connections at run time, never at parse time."""
    from franz_ivan.lineage import tables_alias, topic_alias

    producer = dag_bag.dags["crypto_prices_producer"]
    consumer = dag_bag.dags["crypto_prices_consumer"]
    publish = producer.get_task("publish_prices")
    drain = consumer.get_task("drain_events")
    assert drain.inlets == [topic_alias()]
    # The mapped tasks send no Asset events: two of them naming a new Asset at once would race in
    # Airflow's API server. One task per run sends them once the mapped ones are done.
    assert publish.outlets == drain.outlets == []
    record_topic, record_tables = producer.get_task("record_topic"), consumer.get_task("record_tables")
    assert (record_topic.outlets, record_tables.outlets) == ([topic_alias()], [tables_alias()])
    assert (record_topic.upstream_task_ids, record_tables.upstream_task_ids) == (
        {"publish_prices"},
        {"drain_events"},
    )
    assert record_topic.trigger_rule == record_tables.trigger_rule == "all_done_min_one_success"
    # Each lineage-reporting task offers the OpenLineage provider its own datasets and facets.
    quality = dag_bag.dags["crypto_prices_quality"]
    checks = [quality.get_task(task_id) for task_id in ("staleness", "consumer_lag", "dead_letters")]
    for task in (publish, drain, *checks):
        operator = getattr(task, "operator_class", type(task))  # a mapped task runs as its operator class
        assert callable(getattr(operator, "get_openlineage_facets_on_complete", None)), task.task_id


def test_a_bad_task_setting_breaks_no_dag_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in a setting only a task reads fails that task (with an alert), not every DAG's import."""
    from airflow.models import DagBag

    monkeypatch.setenv("CRYPTO_PRICES_FETCH_BUDGET", "45s")
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_BATCH_SIZE", "20k")
    monkeypatch.setenv("CRYPTO_PRICES_KRAKEN_ALLOWANCE_FLOOR", "-1")

    bag = DagBag(dag_folder=str(DAGS))

    assert bag.import_errors == {}
    assert len(bag.dag_ids) == len(DAG_FILES)


@pytest.mark.parametrize(("transport", "listeners"), [(None, 0), ('{"type": "console"}', 1)])
def test_without_an_openlineage_transport_no_listener_and_no_client_is_loaded(
    transport: str | None, listeners: int
) -> None:
    """No transport: the provider registers no listener, so the operators' lineage is never built."""
    probe = (
        "import json, runpy, sys; "
        + "".join(f"runpy.run_path({str(path)!r}); " for path in DAG_FILES)
        + "from airflow.providers.openlineage.plugins.openlineage import OpenLineageProviderPlugin as P; "
        "print(json.dumps([len(P.listeners), 'openlineage.client' in sys.modules]))"
    )
    env = {key: value for key, value in os.environ.items() if "OPENLINEAGE" not in key}
    if transport is not None:
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = transport
    assert probe_json(probe, env) == [listeners, transport is not None]


def test_the_producer_outranks_every_other_task_and_the_consumer_leaves_it_its_slots(dag_bag: Any) -> None:
    """Priorities are absolute (a task's own weight, not the sum over its downstream tasks); every
    producer task outranks every consumer and quality task; every consumer task runs in the drains'
    pool, which the deployments size to the worker slots minus the producer's peak; the producer and
    quality tasks stay out of it."""
    from franz_ivan.dag_defaults import DRAINS_POOL, PRODUCER_PEAK_TASKS

    weights: dict[str, set[int]] = {}
    for dag_id, dag in dag_bag.dags.items():
        for task in dag.tasks:
            assert str(getattr(task.weight_rule, "value", task.weight_rule)) == "absolute" or (
                type(task.weight_rule).__name__ == "_AbsolutePriorityWeightStrategy"
            ), f"{dag_id}.{task.task_id} weight rule {task.weight_rule!r}"
            weights.setdefault(dag_id, set()).add(task.priority_weight)
            in_pool = task.pool == DRAINS_POOL
            assert in_pool == (dag_id == "crypto_prices_consumer"), f"{dag_id}.{task.task_id}: {task.pool}"
    producer = weights["crypto_prices_producer"]
    others = weights["crypto_prices_consumer"] | weights["crypto_prices_quality"]
    assert min(producer) > max(others), f"producer {producer} vs others {others}"
    assert max(weights["crypto_prices_consumer"]) > max(weights["crypto_prices_quality"])
    producer_tasks = dag_bag.dags["crypto_prices_producer"].tasks
    assert PRODUCER_PEAK_TASKS == 1 + 5, "the markets list and one publish task per source"
    # record_topic starts once every publish task is done: it never adds to the peak.
    assert {task.task_id for task in producer_tasks} == {"list_markets", "publish_prices", "record_topic"}


def test_every_dag_alerts_a_run_that_fails_without_a_failed_task_and_the_producer_has_a_deadline(
    dag_bag: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import AsyncCallback, DeadlineReference

    from franz_ivan.dag_defaults import alert_on_dag_failure, alert_on_deadline_miss
    from franz_ivan.settings import settings

    for dag_id, dag in dag_bag.dags.items():
        callbacks = dag.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert alert_on_dag_failure in callbacks, f"{dag_id} does not alert a run that fails without a task"
    # Off by default (airflow dags test cannot end a run of a DAG with a deadline), on as deployed.
    assert settings().producer_deadline_seconds == 0
    assert not dag_bag.dags["crypto_prices_producer"].deadline
    monkeypatch.setenv("CRYPTO_PRICES_PRODUCER_DEADLINE", "180")
    from airflow.models import DagBag

    producer = DagBag(dag_folder=str(DAGS / "crypto_prices_producer.py")).dags["crypto_prices_producer"]
    [deadline] = producer.deadline if isinstance(producer.deadline, list) else [producer.deadline]
    assert deadline.reference == DeadlineReference.DAGRUN_QUEUED_AT
    assert deadline.interval.total_seconds() == 180
    assert isinstance(deadline.callback, AsyncCallback)
    assert deadline.callback.path == f"{alert_on_deadline_miss.__module__}.alert_on_deadline_miss"
    assert producer.dagrun_timeout.total_seconds() > deadline.interval.total_seconds()
