"""Mapped drains on two Celery workers: the CeleryExecutor of ``make up EXECUTOR=celery``, for real.

One stack for the module: Tansu, a fresh PostgreSQL database, Airflow's scheduler, triggerer,
dag-processor and api-server with the CeleryExecutor on the machine's Redis, and two ``airflow
celery worker`` processes of one slot each. The producer stays paused: the tests publish their own
backlogs, large enough for one drain per partition (``CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS`` is
lowered), so that the two workers share each consumer run's drains.

1. A backlog is drained by both workers, exactly once: its drains are held before their first
   batch is stored until two run at once, one on each worker (the task instances name them).
2. One worker is SIGKILLed (it and every process it runs: a lost machine) while its drain is in
   the middle of a batch. Airflow notices the missing heartbeats (the timeout is lowered from 300 s
   to 20 s), retries that drain on the surviving worker, and every event is still stored once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from devtools.airflow_services import CONSUMER, Airflow, CeleryWorkers, airflow_services, metadata_database
from devtools.faults import DrainTarget, Feed, make_feed
from devtools.local_stack import drop_database, free_port, running_stack, wait_until
from franz_ivan.publish import produce
from franz_ivan.settings import CONSUMER_GROUP
from franz_ivan.store_schema import prepare_schema
from tests.helpers import assert_exactly_once, dsn

pytestmark = [pytest.mark.e2e]

WORKERS = CeleryWorkers(count=2, concurrency=1)
"""One slot each: of a run's three drains, each worker takes one and the third waits for a slot."""
HEARTBEAT_TIMEOUT = 20
SETTINGS = {
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # A worker that died is noticed by its task instances' missing heartbeats: 20 s instead of 300.
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
    # One drain per pending partition, however few events the sensor saw pending when it fired (it
    # may fire while a backlog is still being published), in small batches: a drain takes long
    # enough to be caught in the middle of one.
    "CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS": "1",
    "CRYPTO_PRICES_DRAIN_MAX_GROUPS": "3",
    "CRYPTO_PRICES_DRAIN_BATCH_SIZE": "200",
}
DRAIN = "drain_events"
WAIT_SECONDS = 150.0


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Airflow]:
    database = f"franz_celery_{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("airflow_celery")
    with running_stack(home, database, pin_markets=False) as stack:
        try:
            stack.create_topic()
            with airflow_services(stack, free_port(), celery=WORKERS, env=SETTINGS, unpause=()) as running:
                yield running
        finally:
            drop_database(stack.postgres, database)
            drop_database(stack.postgres, metadata_database(home))


@pytest.fixture(scope="module")
def published() -> list[Feed]:
    """Every feed the module's tests published, in order: together they are the whole topic."""
    return []


def publish(airflow: Airflow, published: list[Feed], count: int) -> None:
    feed = make_feed(count, run=f"celery-{len(published)}", resend_every=40, malformed_every=97)
    produce({"bootstrap.servers": airflow.stack.broker.bootstrap}, airflow.stack.topic, feed.messages)
    published.append(feed)


def target(airflow: Airflow) -> DrainTarget:
    return DrainTarget(
        airflow.stack.broker.bootstrap, dsn(airflow.stack.postgres), airflow.stack.topic, CONSUMER_GROUP
    )


def whole_topic(published: list[Feed]) -> Feed:
    return Feed(
        messages=[message for feed in published for message in feed.messages],
        event_ids=set().union(*(feed.event_ids for feed in published)),
        malformed=sum(feed.malformed for feed in published),
    )


def stored_positions(airflow: Airflow) -> int:
    with airflow.stack.postgres.connect() as conn:
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM crypto_prices_consumer_offsets"
        ).fetchone()
        return int(row[0])


def wait_until_stored(airflow: Airflow, published: list[Feed]) -> None:
    """Wait until the positions cover every message published, and no drain is running or waiting."""
    total = sum(len(feed.messages) for feed in published)

    def done() -> bool | None:
        airflow.check_alive()
        if stored_positions(airflow) < total:
            return None
        return None if any(ti["state"] not in {"success", "failed"} for ti in drains(airflow)) else True

    wait_until(done, WAIT_SECONDS, f"the consumer to store all {total} messages", interval=2)


def drains(airflow: Airflow) -> list[dict[str, Any]]:
    """Every mapped ``drain_events`` task instance of every consumer run, oldest run first (not the
    placeholder, map index -1, of a run whose sensor is still listening)."""
    runs = sorted(airflow.api.dag_runs(CONSUMER), key=lambda run: run["run_after"])
    return [
        ti
        for run in runs
        for ti in airflow.api.task_instances(CONSUMER, run["dag_run_id"])
        if ti["task_id"] == DRAIN and ti["map_index"] >= 0
    ]


def tries(airflow: Airflow, ti: dict[str, Any]) -> list[dict[str, Any]]:
    path = f"/dags/{CONSUMER}/dagRuns/{ti['dag_run_id']}/taskInstances/{DRAIN}/{ti['map_index']}/tries"
    found: list[dict[str, Any]] = airflow.api.call("GET", path)["task_instances"]
    return sorted(found, key=lambda attempt: attempt["try_number"])


def running_drains(airflow: Airflow, before: set[tuple[str, int]]) -> list[dict[str, Any]] | None:
    """The drains (not among ``before``) a worker is running now, or ``None``."""
    found = [
        ti
        for ti in drains(airflow)
        if (ti["dag_run_id"], ti["map_index"]) not in before and ti["state"] == "running" and ti["hostname"]
    ]
    return found or None


def test_a_backlog_is_drained_by_both_workers_exactly_once(airflow: Airflow, published: list[Feed]) -> None:
    with psycopg.connect(dsn(airflow.stack.postgres)) as conn:
        prepare_schema(conn)
    # Hold every drain before its first batch is stored until two run at once. Without the gate the
    # test would race the machine: a worker still finishing its previous task (the sensor, the plan)
    # when the drains are queued leaves them to the other, and a fast drain can take the whole
    # backlog before it is back (seen once in CI).
    with airflow.stack.postgres.connect() as gate:
        gate.execute("LOCK TABLE crypto_prices_consumer_offsets IN EXCLUSIVE MODE")
        publish(airflow, published, 9_000)

        def two_running() -> list[dict[str, Any]] | None:
            found = running_drains(airflow, set()) or []
            return found if len(found) >= 2 else None

        at_once = wait_until(two_running, WAIT_SECONDS, "two drains running at once", interval=0.5)
        gate.rollback()
    assert {ti["hostname"] for ti in at_once} == set(WORKERS.names()), at_once

    wait_until_stored(airflow, published)

    instances = drains(airflow)
    assert {ti["state"] for ti in instances} == {"success"}
    assert {ti["hostname"] for ti in instances} == set(WORKERS.names()), instances
    assert max(ti["map_index"] for ti in instances) >= 1, "the backlog was not split into mapped drains"
    with psycopg.connect(dsn(airflow.stack.postgres)) as conn:
        assert_exactly_once(conn, target(airflow), whole_topic(published))


def test_a_worker_killed_mid_drain_has_its_drain_retried_on_the_other_and_nothing_is_lost_or_doubled(
    airflow: Airflow, published: list[Feed]
) -> None:
    before = {(ti["dag_run_id"], ti["map_index"]) for ti in drains(airflow)}
    stored_before = stored_positions(airflow)
    publish(airflow, published, 60_000)

    # Once a drain of this backlog has committed a batch, hold every drain at its next batch's
    # positions: rows written, transaction open. Then one worker dies in the middle of a batch.
    wait_until(
        lambda: True if stored_positions(airflow) > stored_before else None, WAIT_SECONDS, "a batch", 0.05
    )
    with airflow.stack.postgres.connect() as gate:
        gate.execute("LOCK TABLE crypto_prices_consumer_offsets IN EXCLUSIVE MODE")

        victim = wait_until(lambda: running_drains(airflow, before), 60, "a running drain", interval=0.5)[0]
        airflow.kill_worker(victim["hostname"])
        killed_at = datetime.now(UTC)
        gate.rollback()

    wait_until_stored(airflow, published)

    [survivor] = set(WORKERS.names()) - {victim["hostname"]}
    attempts = tries(airflow, victim)
    assert attempts[0]["hostname"] == victim["hostname"]
    assert attempts[0]["state"] == "failed", attempts
    assert attempts[-1]["state"] == "success", attempts
    assert attempts[-1]["hostname"] == survivor
    retried = datetime.fromisoformat(attempts[-1]["start_date"]) - killed_at
    print(
        f"drain {victim['map_index']} killed on {victim['hostname']}, retried on {survivor} {retried} later"
    )
    new = [ti for ti in drains(airflow) if (ti["dag_run_id"], ti["map_index"]) not in before]
    assert {ti["state"] for ti in new} == {"success"}, new
    with psycopg.connect(dsn(airflow.stack.postgres)) as conn:
        assert_exactly_once(conn, target(airflow), whole_topic(published))
