"""Every DAG imports cleanly, offline, cheaply, and follows the project's policy."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
DAG_FILES = sorted(DAGS.glob("*.py"))
HEAVY_MODULES = ("confluent_kafka", "psycopg", "requests")


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
    assert set(dag_bag.dag_ids) == {"crypto_prices_producer", "crypto_prices_consumer"}


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
    assert sensor.max_wait_seconds == "{{ params.max_wait_seconds }}"
    assert dag.params["max_wait_seconds"] == 600
    assert dag.get_task("plan_drains").upstream_task_ids == {"wait_for_events"}
    drain = dag.get_task("drain_events")
    assert drain.upstream_task_ids == {"plan_drains"}
    assert drain.is_mapped, "the drain is mapped over partition groups"


def test_producer_runs_every_minute_by_default(dag_bag: Any) -> None:
    dag = dag_bag.dags["crypto_prices_producer"]
    assert dag.schedule == "* * * * *"


@pytest.mark.parametrize("dag_file", DAG_FILES, ids=lambda path: path.name)
def test_parsing_imports_no_client_library(dag_file: Path) -> None:
    """Kafka, PostgreSQL and HTTP clients load inside tasks, never when the scheduler parses."""
    probe = (
        "import json, runpy, sys; "
        f"runpy.run_path({str(dag_file)!r}); "
        f"print(json.dumps([m for m in {list(HEAVY_MODULES)!r} if m in sys.modules]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**_env(), "PYTHONPATH": str(ROOT / "plugins")},
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)
