"""Scale-out: one drain over a 4-partition topic versus parallel drains, and the consumer DAG's
mapped drains under a LocalExecutor with parallelism 2.

Pre-loads N events into a 4-partition topic. In each run, for each layout, starts one process per
drain (a group of partitions), all writing into one fresh database, and releases them once all
are ready (imports and client setup are not timed): all at once, or at most ``--parallelism`` at
a time, the next as soon as one finishes, as an executor's parallelism does. The time runs from
the first start to the last finish. Reported: events/s per layout and per-run ratios to the
single drain.

The mapped layouts take their groups from :func:`franz_ivan.groups.partition_groups` over the
backlog per partition, as the consumer's ``plan_drains`` task does with the sensor's pending map:
with the default limits, and with one group per partition (cap 4).

``python -m bench.scale_out [--events 200000] [--runs 5] [--parallelism 2]``
"""

from __future__ import annotations

import argparse
import uuid
from collections import Counter
from dataclasses import dataclass

from bench.common import (
    Figure,
    bench_broker,
    fresh_database,
    partition_of,
    postgres_args,
    preload,
    print_figures,
    ratio_figure,
    run_workers_together,
)
from devtools.local_stack import Broker
from franz_ivan.groups import GroupLimits, partition_groups

PARTITIONS = 4


@dataclass(frozen=True)
class Layout:
    name: str
    groups: list[list[int]]
    slots: int | None = None
    """At most this many drains at once (an executor's parallelism); ``None``: all together."""


def layouts(events: int, parallelism: int) -> list[Layout]:
    backlog = Counter(partition_of(index, PARTITIONS) for index in range(events))
    pending = {str(partition): count for partition, count in backlog.items()}
    planned = partition_groups(pending, GroupLimits())
    per_partition = partition_groups(pending, GroupLimits(max_groups=PARTITIONS, min_events_per_group=1))
    return [
        Layout("1 drain (0-3)", [[0, 1, 2, 3]]),
        Layout("2 drains together (0-1, 2-3)", [[0, 1], [2, 3]]),
        Layout("4 drains together (one each)", [[0], [1], [2], [3]]),
        Layout(f"mapped, default plan {planned}, parallelism {parallelism}", planned, parallelism),
        Layout(f"mapped, cap 4 {per_partition}, parallelism {parallelism}", per_partition, parallelism),
    ]


def parallel_rate(broker: Broker, topic: str, events: int, layout: Layout, batch_size: int) -> float:
    """Events per second of the layout's drains, first start to last finish."""
    with fresh_database() as postgres:
        common = ["--bootstrap", broker.bootstrap, "--topic", topic, "--batch-size", str(batch_size)]
        results = run_workers_together(
            [
                ["drain", *common, *postgres_args(postgres), "--partitions", ",".join(map(str, group))]
                for group in layout.groups
            ],
            slots=layout.slots,
        )
    drained = int(sum(result["events"] for result in results))
    if drained != events:
        raise RuntimeError(f"{layout.name}: drains stored {drained} events, expected {events}")
    wall = float(max(r["finished"] for r in results) - min(r["started"] for r in results))
    return drained / wall


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--parallelism", type=int, default=2, help="the executor's slots for mapped drains")
    args = parser.parse_args(argv)
    measured = layouts(args.events, args.parallelism)
    rates: dict[str, list[float]] = {layout.name: [] for layout in measured}
    with bench_broker() as broker:
        topic = f"bench_scale_{uuid.uuid4().hex[:8]}"
        preload(broker, topic, args.events, PARTITIONS)
        for _ in range(args.runs):
            for layout in measured:
                rates[layout.name].append(parallel_rate(broker, topic, args.events, layout, args.batch_size))
    single = measured[0].name
    figures = [Figure(name, found, "events/s") for name, found in rates.items()]
    figures += [
        ratio_figure(f"{name} / 1 drain", found, rates[single])
        for name, found in rates.items()
        if name != single
    ]
    print_figures(f"Scale-out over {PARTITIONS} partitions, N={args.events:,}", figures)
    return figures


if __name__ == "__main__":
    main()
