"""The producer keeps its minute on few worker slots, and late or timed-out runs reach the webhook.

One stack as ``make up`` starts it, with three worker slots (``[core] parallelism``) and the consumer's
pool at 3 - 2 = 1 slot (the producer's peak with one source: the markets list and one publish task),
every alert going to a local webhook, and the producer's deadline at 1 s, so that every producer
run misses it. A backlog spread over the three partitions maps three drains; a lock the test holds
on their table keeps them running as long as the test needs (as a slow database or a huge backlog
would). The quality DAG stays paused: its checks would read the locked table.

1. Every scheduled producer run starts (its first task) within 30 s of its schedule, before the
   backlog and while the drains hold their pool; the delays are printed.
2. Each finished producer run posted one ``deadline_missed`` alert naming the DAG and the run.
3. A run past its ``dagrun_timeout`` (a probe DAG with the project's failure callback, 15 s) posts
   one ``timed_out`` alert and no task alert.
"""

from __future__ import annotations

import json
import shutil
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from devtools.airflow_services import (
    CONSUMER,
    PRODUCER,
    QUALITY,
    Airflow,
    airflow_services,
    metadata_database,
)
from devtools.faults import make_feed
from devtools.local_stack import ROOT, drop_database, free_port, running_stack, wait_until
from devtools.price_api import serve
from franz_ivan.publish import produce
from tests.helpers import webhook_receiver

pytestmark = [pytest.mark.e2e]

MARKETS = ["coinbase-pro:btcusd"]
BACKLOG_PAIR = "xrpusd"
START_BOUND = 30.0
"""How late after its schedule a producer run's first task may start."""
PROBE = "ops_timeout_probe"
PROBE_DAG = """
from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from franz_ivan.dag_defaults import QUALITY_PRIORITY, alert_on_dag_failure, task_defaults


@dag(
    dag_id="ops_timeout_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    dagrun_timeout=timedelta(seconds=15),
    on_failure_callback=alert_on_dag_failure,
    default_args=task_defaults(retry_delay=timedelta(seconds=5), priority_weight=QUALITY_PRIORITY),
)
def ops_timeout_probe():
    @task
    def outlast_the_run():
        import time

        time.sleep(300)

    outlast_the_run()


ops_timeout_probe()
"""


@dataclass
class Shared:
    airflow: Airflow
    alerts: list[dict[str, Any]]
    since: datetime


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    database = f"franz_e2e_{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("airflow_shared")
    dags = tmp_path_factory.mktemp("dags")
    for dag_file in (ROOT / "dags").glob("*.py"):
        shutil.copy(dag_file, dags)
    (dags / f"{PROBE}.py").write_text(PROBE_DAG)
    with (
        serve() as price_api,
        webhook_receiver() as (webhook, alerts),
        running_stack(home, database, price_api.url, MARKETS, pin_markets=False) as stack,
    ):
        env = {
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PARALLELISM": "3",
            "AIRFLOW_CONN_CRYPTO_PRICES_ALERTS": json.dumps({"conn_type": "http", "host": webhook}),
            "CRYPTO_PRICES_PRODUCER_DEADLINE": "1",
            "CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS": "1",  # Tansu's watermarks undercount (docs/scaling.md)
        }
        try:
            stack.create_topic()
            with airflow_services(stack, free_port(), env=env, drains_pool_slots=1) as airflow:
                airflow.api.set_paused(QUALITY, True)
                yield Shared(airflow, alerts, datetime.now(UTC))
        finally:
            drop_database(stack.postgres, database)
            drop_database(stack.postgres, metadata_database(home))


def start_delays(shared: Shared, after: datetime) -> dict[str, float]:
    """Per scheduled producer run due after ``after`` whose first task started: seconds from its
    schedule (the end of its interval) to that start."""
    delays = {}
    for run in shared.airflow.api.dag_runs(PRODUCER):
        due = datetime.fromisoformat(run["run_after"])
        if run["run_type"] != "scheduled" or due <= after:
            continue
        starts = [ti["start_date"] for ti in shared.airflow.api.task_instances(PRODUCER, run["dag_run_id"])]
        if starts and all(starts):
            delays[run["dag_run_id"]] = (min(map(datetime.fromisoformat, starts)) - due).total_seconds()
    return delays


def wait_for_runs(shared: Shared, after: datetime, count: int) -> dict[str, float]:
    def started() -> dict[str, float] | None:
        shared.airflow.check_alive()
        delays = start_delays(shared, after)
        return delays if len(delays) >= count else None

    return wait_until(started, 60.0 * (count + 2), f"{count} scheduled producer runs to start", interval=3)


def drains(shared: Shared) -> dict[str, int]:
    """The mapped drains of the running consumer run, counted by state."""
    states: dict[str, int] = {}
    for run in shared.airflow.api.dag_runs(CONSUMER):
        if run["state"] != "running":
            continue
        for ti in shared.airflow.api.task_instances(CONSUMER, run["dag_run_id"]):
            if ti["task_id"] == "drain_events":
                states[str(ti["state"])] = states.get(str(ti["state"]), 0) + 1
    return states


def test_producer_runs_start_on_time_while_drains_hold_their_pool(shared: Shared) -> None:
    stack = shared.airflow.stack
    before = wait_for_runs(shared, shared.since, 2)

    # The backlog's table must exist before it can be locked: one event, drained.
    seed = make_feed(1, run="seed", pairs=[BACKLOG_PAIR], allowance_every=0)
    produce({"bootstrap.servers": stack.broker.bootstrap}, stack.topic, seed.messages)

    def table_made() -> bool | None:
        with stack.postgres.connect() as conn:
            return True if conn.execute("SELECT to_regclass(%s)", (BACKLOG_PAIR,)).fetchone()[0] else None

    wait_until(table_made, 120, f"the table {BACKLOG_PAIR} to be made by a drain", interval=2)

    held = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        with stack.postgres.connect() as conn, conn.transaction():
            conn.execute(f"LOCK TABLE {BACKLOG_PAIR} IN ACCESS EXCLUSIVE MODE")
            held.set()
            release.wait(600)

    locker = threading.Thread(target=hold_lock, daemon=True)
    locker.start()
    assert held.wait(30), "could not lock the backlog's table"
    try:
        # 300 events under 300 keys: every partition holds some, so the plan maps three drains.
        feed = make_feed(300, run="backlog", pairs=[BACKLOG_PAIR], allowance_every=0)
        spread = [(f"backlog-{number}".encode(), value) for number, (_, value) in enumerate(feed.messages)]
        produce({"bootstrap.servers": stack.broker.bootstrap}, stack.topic, spread)

        def drains_mapped() -> dict[str, int] | None:
            shared.airflow.check_alive()
            states = drains(shared)
            return states if sum(states.values()) >= 2 and states.get("running", 0) >= 1 else None

        # The parallel suite loads the machine: mapping and starting a drain can take minutes then.
        mapped = wait_until(drains_mapped, 360, "several mapped drains, one running", interval=3)
        backlog_since = datetime.now(UTC)
        during = wait_for_runs(shared, backlog_since, 2)
        still = drains(shared)
    finally:
        release.set()
        locker.join(30)

    print(f"\nproducer start delays (s) before the backlog: {sorted(before.values())}")
    print(f"... while {sum(mapped.values())} drains were mapped ({still}): {sorted(during.values())}")
    medians = [statistics.median(delays.values()) for delays in (before, during)]
    print("median {:.1f} s before, {:.1f} s during".format(*medians))
    assert sum(still.values()) >= 2, f"the backlog mapped fewer than two drains: {still}"
    assert still.get("running", 0) == 1, f"the drains left their pool of one slot: {still}"
    for label, delays in (("before", before), ("during", during)):
        assert max(delays.values()) <= START_BOUND, f"{label} the backlog, a run started late: {delays}"


def test_each_late_producer_run_alerts_once_with_its_dag_run_and_reason(shared: Shared) -> None:
    api = shared.airflow.api
    finished = [
        run["dag_run_id"]
        for run in api.dag_runs(PRODUCER)
        if run["state"] in {"success", "failed"} and run["run_type"] == "scheduled"
    ]
    assert finished

    def alerted() -> list[dict[str, Any]] | None:
        late = [alert["body"] for alert in shared.alerts if alert["body"]["reason"] == "deadline_missed"]
        return late if {body["run_id"] for body in late} >= set(finished) else None

    late = wait_until(alerted, 60, "a deadline alert for each finished producer run", interval=2)
    per_run = [body["run_id"] for body in late]
    assert len(per_run) == len(set(per_run)), f"a run alerted twice: {per_run}"
    for body in late:
        assert body["dag_id"] == PRODUCER
        assert "was not finished 1 s after it was queued" in body["message"]


def test_a_run_past_its_dagrun_timeout_alerts_once(shared: Shared) -> None:
    api = shared.airflow.api
    wait_until(lambda: True if api.dag_exists(PROBE) else None, 120, f"{PROBE} to be parsed", interval=2)
    api.set_paused(PROBE, False)
    run_id = api.trigger(PROBE)["dag_run_id"]

    def alerted() -> list[dict[str, Any]] | None:
        bodies = [alert["body"] for alert in shared.alerts if alert["body"]["dag_id"] == PROBE]
        return bodies or None

    bodies = wait_until(alerted, 180, f"an alert for {PROBE}", interval=2)
    time.sleep(10)  # a second alert (the task's) would arrive within this
    bodies = [alert["body"] for alert in shared.alerts if alert["body"]["dag_id"] == PROBE]
    assert [(body["run_id"], body["reason"], body["state"], body["task_id"]) for body in bodies] == [
        (run_id, "timed_out", "failed", None)
    ]
    assert api.dag_run(PROBE, run_id)["state"] == "failed"
