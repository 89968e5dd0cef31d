"""How long the consumer's sensor listens: the param when given, else by the run's type."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from airflow.sdk.api.datamodels._generated import DagRunType

from franz_ivan.sensors import PendingEventsSensor


def sensor(max_wait_seconds: float | str | None) -> PendingEventsSensor:
    return PendingEventsSensor(
        task_id="wait_for_events",
        topic="crypto_prices",
        consumer_group="crypto_prices_consumer",
        kafka_conn_id="crypto_prices_kafka",
        postgres_conn_id="crypto_prices_postgres",
        max_wait_seconds=max_wait_seconds,
    )


def context(run_type: DagRunType) -> dict[str, object]:
    return {"dag_run": SimpleNamespace(run_type=run_type)}


@pytest.mark.parametrize("empty", [None, "", "None"])
@pytest.mark.parametrize(
    ("run_type", "seconds"),
    [
        (DagRunType.SCHEDULED, 600),  # the continuous runs
        (DagRunType.MANUAL, 10),  # a Trigger, airflow dags test
        (DagRunType.BACKFILL, 10),
        (DagRunType.ASSET_TRIGGERED, 10),
    ],
)
def test_an_empty_wait_follows_the_run_type(empty: str | None, run_type: DagRunType, seconds: float) -> None:
    # "None" is what the template "{{ params.max_wait_seconds }}" renders for an empty param.
    assert sensor(empty)._max_wait(context(run_type)) == seconds


def test_a_given_wait_wins_over_the_run_type() -> None:
    assert sensor("120")._max_wait(context(DagRunType.MANUAL)) == 120
    assert sensor(0)._max_wait(context(DagRunType.SCHEDULED)) == 0


@pytest.mark.parametrize(("value", "problem"), [("soon", "is not a number"), ("-1", "must not be negative")])
def test_a_bad_wait_is_named(value: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sensor(value)._max_wait(context(DagRunType.MANUAL))
