"""Mapped drains on Celery workers: one worker against two, through the whole Airflow stack.

For each worker count, starts the stack of ``make up EXECUTOR=celery`` (Tansu with a 4-partition
topic, PostgreSQL, scheduler, triggerer, dag-processor, api-server, ``--workers`` Celery workers of
one slot each; producer and quality DAGs paused). Then, per run: the consumer is paused and its
listening run ended, N benchmark events are published, the consumer is unpaused, and its new
run's sensor sees the whole backlog at once and maps four drains (``CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS``
N/8, cap 4). Reported per run: events over the time from the first drain's start to the last
drain's end (Airflow's own task instance times: task start-up is inside, scheduling between
waves too), and the whole run, sensor to last drain.

``python -m bench.celery_drains [--events 400000] [--runs 2] [--workers 1,2]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import Figure, median, preload, print_figures
from devtools.airflow_services import CONSUMER, Airflow, CeleryWorkers, airflow_services, metadata_database
from devtools.local_stack import drop_database, free_port, running_stack, wait_until

PARTITIONS = 4
DRAINS = 4
WAIT_SECONDS = 600.0


def end_listening_runs(airflow: Airflow) -> None:
    """Pause the consumer and end its running run, whose sensor would fire on the first events."""
    airflow.api.set_paused(CONSUMER, True)
    for run in airflow.api.dag_runs(CONSUMER):
        if run["state"] in {"queued", "running"}:
            path = f"/dags/{CONSUMER}/dagRuns/{run['dag_run_id']}"
            airflow.api.call("PATCH", path, json={"state": "success"})


def stored(airflow: Airflow) -> int:
    with airflow.stack.postgres.connect() as conn:
        exists = conn.execute("SELECT to_regclass('crypto_prices_consumer_offsets')").fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute(
            "SELECT coalesce(sum(next_offset), 0) FROM crypto_prices_consumer_offsets"
        ).fetchone()
        return int(row[0]) if row else 0


def timed_run(airflow: Airflow, events: int, first: int) -> dict[str, float]:
    """Publish ``events`` more (from number ``first``), let one consumer run drain them; the span of
    its drains and of the whole run."""
    end_listening_runs(airflow)
    target = stored(airflow) + events
    preload(airflow.stack.broker, airflow.stack.topic, events, PARTITIONS, first=first)
    before = {run["dag_run_id"] for run in airflow.api.dag_runs(CONSUMER)}
    airflow.api.set_paused(CONSUMER, False)

    def drained() -> list[dict[str, Any]] | None:
        airflow.check_alive()
        if stored(airflow) < target:
            return None
        runs = [run for run in airflow.api.dag_runs(CONSUMER) if run["dag_run_id"] not in before]
        instances = [ti for run in runs for ti in airflow.api.task_instances(CONSUMER, run["dag_run_id"])]
        drains = [ti for ti in instances if ti["task_id"] == "drain_events"]
        if not drains or any(ti["state"] != "success" for ti in drains):
            return None
        return instances

    instances = wait_until(drained, WAIT_SECONDS, f"{events} events drained", interval=1)
    drains = [ti for ti in instances if ti["task_id"] == "drain_events"]
    if len(drains) != DRAINS:
        raise RuntimeError(f"expected {DRAINS} mapped drains, the run made {len(drains)}")
    first = min(datetime.fromisoformat(ti["start_date"]) for ti in drains)
    last = max(datetime.fromisoformat(ti["end_date"]) for ti in drains)
    sensed = min(datetime.fromisoformat(ti["start_date"]) for ti in instances)
    return {
        "drains": events / (last - first).total_seconds(),
        "run": events / (last - sensed).total_seconds(),
        "hosts": len({ti["hostname"] for ti in drains}),
    }


def measure(workers: int, events: int, runs: int) -> list[dict[str, float]]:
    database = f"franz_bench_celery_{uuid.uuid4().hex[:8]}"
    settings = {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "CRYPTO_PRICES_TOPIC_PARTITIONS": str(PARTITIONS),
        "CRYPTO_PRICES_DRAIN_MAX_GROUPS": str(DRAINS),
        # Tansu reports each partition's last batch short: N/8 keeps the plan at four groups.
        "CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS": str(events // (2 * DRAINS)),
    }
    os.environ["CRYPTO_PRICES_TOPIC_PARTITIONS"] = str(PARTITIONS)  # create_topic reads it here
    with (
        tempfile.TemporaryDirectory(prefix="franz-bench-celery-") as home,
        running_stack(Path(home), database, pin_markets=False) as stack,
    ):
        try:
            stack.create_topic()
            celery = CeleryWorkers(count=workers, concurrency=1)
            with airflow_services(stack, free_port(), celery=celery, env=settings, unpause=()) as airflow:
                found = []
                for run in range(runs):
                    found.append(timed_run(airflow, events, first=run * events))
                    print(f"  {workers} worker(s): {found[-1]}", flush=True)
                    time.sleep(1)
                return found
        finally:
            drop_database(stack.postgres, database)
            drop_database(stack.postgres, metadata_database(Path(home)))


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--workers", default="1,2", help="worker counts to compare, the first is the baseline"
    )
    args = parser.parse_args(argv)
    counts = [int(count) for count in args.workers.split(",")]
    results = {count: measure(count, args.events, args.runs) for count in counts}
    figures = []
    for count, found in results.items():
        figures += [
            Figure(
                f"{count} worker(s): mapped drains, first start to last end",
                [r["drains"] for r in found],
                "events/s",
            ),
            Figure(
                f"{count} worker(s): consumer run, sensor to last drain",
                [r["run"] for r in found],
                "events/s",
            ),
        ]
    base = median([r["drains"] for r in results[counts[0]]])
    for count in counts[1:]:
        ratio = median([r["drains"] for r in results[count]]) / base
        figures.append(Figure(f"{count} workers / {counts[0]}, drains (ratio of the medians)", [ratio], "x"))
    print_figures(f"Mapped drains on Celery workers, N={args.events:,}, {DRAINS} drains", figures)
    return figures


if __name__ == "__main__":
    main()
