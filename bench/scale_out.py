"""Scale-out: one drain over a 4-partition topic versus 2 and 4 parallel drains (one process each).

Pre-loads N events into a 4-partition topic; in each run, for each layout (1 drain of all four
partitions; 2 drains of two partitions each; 4 drains of one partition each) starts the drains
as separate processes writing into one fresh database, releases them together, and measures
the wall time from the first start to the last finish. Reported: events/s per layout and the
per-run ratios to the single drain.

``python -m bench.scale_out [--events 200000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import uuid

from bench.common import (
    Figure,
    bench_broker,
    fresh_database,
    postgres_args,
    preload,
    print_figures,
    ratio_figure,
    run_workers_together,
)
from devtools.local_stack import Broker

PARTITIONS = 4
LAYOUTS: dict[int, list[list[int]]] = {1: [[0, 1, 2, 3]], 2: [[0, 1], [2, 3]], 4: [[0], [1], [2], [3]]}
"""Drains -> the partitions each drains."""


def parallel_rate(broker: Broker, topic: str, events: int, groups: list[list[int]], batch_size: int) -> float:
    """Events per second of ``len(groups)`` drains started together, first start to last finish."""
    with fresh_database() as postgres:
        common = ["--bootstrap", broker.bootstrap, "--topic", topic, "--batch-size", str(batch_size)]
        results = run_workers_together(
            [
                ["drain", *common, *postgres_args(postgres), "--partitions", ",".join(map(str, group))]
                for group in groups
            ]
        )
    drained = int(sum(result["events"] for result in results))
    if drained != events:
        raise RuntimeError(f"{len(groups)} drains stored {drained} events, expected {events}")
    wall = float(max(r["finished"] for r in results) - min(r["started"] for r in results))
    return drained / wall


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=5000)
    args = parser.parse_args(argv)
    rates: dict[int, list[float]] = {drains: [] for drains in LAYOUTS}
    with bench_broker() as broker:
        topic = f"bench_scale_{uuid.uuid4().hex[:8]}"
        preload(broker, topic, args.events, PARTITIONS)
        for _ in range(args.runs):
            for drains, groups in LAYOUTS.items():
                rates[drains].append(parallel_rate(broker, topic, args.events, groups, args.batch_size))
    figures = [Figure(f"{drains} drain(s)", found, "events/s") for drains, found in rates.items()]
    figures += [
        ratio_figure(f"{drains} drains / 1 drain", rates[drains], rates[1])
        for drains in LAYOUTS
        if drains > 1
    ]
    print_figures(f"Scale-out over {PARTITIONS} partitions, N={args.events:,}", figures)
    return figures


if __name__ == "__main__":
    main()
