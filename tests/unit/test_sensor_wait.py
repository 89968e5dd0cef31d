"""How long the consumer's sensor listens: the run's param, else the task's wait, else by the run's type."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from franz_ivan.sensors import PendingEventsSensor


def sensor(max_wait_seconds: float | None = None, **kwargs: object) -> PendingEventsSensor:
    return PendingEventsSensor(
        task_id="wait_for_events",
        topic="crypto_prices",
        consumer_group="crypto_prices_consumer",
        kafka_conn_id="crypto_prices_kafka",
        postgres_conn_id="crypto_prices_postgres",
        max_wait_seconds=max_wait_seconds,
        **kwargs,  # type: ignore[arg-type]
    )


def context(run_type: DagRunType, **params: object) -> dict[str, object]:
    return {"dag_run": SimpleNamespace(run_type=run_type), "params": params}


@pytest.mark.parametrize("params", [{}, {"max_wait_seconds": None}])
@pytest.mark.parametrize(
    ("run_type", "seconds"),
    [
        (DagRunType.SCHEDULED, 600),  # the continuous runs
        (DagRunType.MANUAL, 10),  # a Trigger, airflow dags test
        (DagRunType.BACKFILL, 10),
        (DagRunType.ASSET_TRIGGERED, 10),
    ],
)
def test_an_empty_wait_follows_the_run_type(
    params: dict[str, object], run_type: DagRunType, seconds: float
) -> None:
    assert sensor()._max_wait(context(run_type, **params)) == seconds


def test_the_runs_param_wins_over_the_tasks_wait_and_the_run_type() -> None:
    assert sensor()._max_wait(context(DagRunType.MANUAL, max_wait_seconds=120)) == 120
    assert sensor()._max_wait(context(DagRunType.SCHEDULED, max_wait_seconds=0)) == 0
    assert sensor(30)._max_wait(context(DagRunType.SCHEDULED, max_wait_seconds=2.5)) == 2.5
    assert sensor(30)._max_wait(context(DagRunType.SCHEDULED)) == 30
    other = sensor(max_wait_param="listen_for")
    assert other._max_wait(context(DagRunType.MANUAL, listen_for=7, max_wait_seconds=99)) == 7
    assert sensor(max_wait_param=None)._max_wait(context(DagRunType.MANUAL, max_wait_seconds=99)) == 10


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("120", "param 'max_wait_seconds' must be a number of seconds, got '120'"),
        ("None", "must be a number of seconds, got 'None'"),
        (True, "must be a number of seconds, got True"),
        (-1, "param 'max_wait_seconds' must not be negative, got -1"),
    ],
)
def test_a_bad_param_is_named(value: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sensor()._max_wait(context(DagRunType.MANUAL, max_wait_seconds=value))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"max_wait_seconds": "{{ params.max_wait_seconds }}"}, "max_wait_seconds must be a number"),
        ({"max_wait_seconds": -5}, "max_wait_seconds must not be negative"),
        ({"manual_max_wait_seconds": -1}, "manual_max_wait_seconds must not be negative"),
        ({"poll_interval": 0}, "poll_interval must be positive"),
    ],
)
def test_a_bad_argument_is_named_when_the_dag_file_is_parsed(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sensor(**kwargs)
