"""Drain throughput against its two ceilings, and the drain's memory at two backlog sizes.

Pre-loads N price events over 20 pairs into a 4-partition topic of a Tansu broker, then in each
run, every job in a fresh process (imports excluded from the clock):

- ``drain``: :class:`franz_ivan.drain.Drain` with a real :class:`PriceStore`, all partitions;
- ``read``: a bare confluent-kafka read of the same topic (ceiling a);
- ``copy``: a bare ``COPY`` of the same rows into the same, empty tables (ceiling b).

Each job starts from a fresh database with the tables created. Reported per run: events/s of
each, the ratio drain / min(read, copy), and the CPU the drain spends per event in its own
process and in its PostgreSQL backend (robust figures when the machine is shared). Memory: the
drain's tracemalloc peak and resident-set growth for a small and a large backlog; both must
depend on the batch size, not on N.

``python -m bench.drain_throughput [--events 200000] [--runs 5]``
"""

from __future__ import annotations

import argparse
import uuid
from typing import Any

from bench.common import (
    Figure,
    bench_broker,
    fresh_database,
    postgres_args,
    preload,
    print_figures,
    ratio_figure,
    run_worker,
)
from devtools.local_stack import Broker

PARTITIONS = 4


def run_job(
    mode: str, broker: Broker, topic: str, events: int, batch_size: int, *extra: str
) -> dict[str, Any]:
    with fresh_database() as postgres:
        return run_worker(
            mode,
            "--bootstrap", broker.bootstrap,
            "--topic", topic,
            "--events", str(events),
            "--partition-count", str(PARTITIONS),
            "--batch-size", str(batch_size),
            *postgres_args(postgres),
            *extra,
        )  # fmt: skip


def checked(result: dict[str, Any], expected: int) -> dict[str, Any]:
    if result["events"] != expected:
        raise RuntimeError(f"{result['mode']} handled {result['events']} events, expected {expected}")
    return result


def throughput(broker: Broker, events: int, runs: int, batch_size: int) -> list[Figure]:
    topic = f"bench_drain_{uuid.uuid4().hex[:8]}"
    preload(broker, topic, events, PARTITIONS)
    results: dict[str, list[dict[str, Any]]] = {"read": [], "copy": [], "drain": []}
    for _ in range(runs):
        for mode, found in results.items():
            found.append(checked(run_job(mode, broker, topic, events, batch_size), events))
    rate = {mode: [r["events"] / r["seconds"] for r in found] for mode, found in results.items()}
    ceiling = [min(read, copy) for read, copy in zip(rate["read"], rate["copy"], strict=True)]
    drains = results["drain"]
    figures = [
        Figure("drain", rate["drain"], "events/s"),
        Figure("bare read (a)", rate["read"], "events/s"),
        Figure("bare COPY (b)", rate["copy"], "rows/s"),
        ratio_figure("drain / min(a, b)", rate["drain"], ceiling),
        Figure("drain CPU in its process", [r["cpu_seconds"] / events * 1e6 for r in drains], "us/event"),
    ]
    if all(r["backend_cpu_seconds"] is not None for r in drains + results["copy"]):
        figures += [
            Figure(
                "drain CPU in PostgreSQL",
                [r["backend_cpu_seconds"] / events * 1e6 for r in drains],
                "us/event",
            ),
            Figure(
                "bare COPY CPU in PostgreSQL",
                [r["backend_cpu_seconds"] / events * 1e6 for r in results["copy"]],
                "us/row",
            ),
        ]
    return figures


def memory(broker: Broker, sizes: list[int], runs: int, batch_size: int) -> list[Figure]:
    figures = []
    for events in sizes:
        topic = f"bench_memory_{uuid.uuid4().hex[:8]}"
        preload(broker, topic, events, PARTITIONS)
        traced = [
            checked(run_job("drain", broker, topic, events, batch_size, "--trace-memory"), events)
            for _ in range(runs)
        ]
        heap = [r["tracemalloc_peak_kb"] / 1024 for r in traced]
        resident = [(r["rss_peak_kb"] - r["rss_before_kb"]) / 1024 for r in traced]
        figures += [
            Figure(f"N={events:,}: Python heap peak (tracemalloc)", heap, "MiB"),
            Figure(f"N={events:,}: resident set growth", resident, "MiB"),
        ]
    return figures


def main(argv: list[str] | None = None) -> dict[str, list[Figure]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--memory-events", default="100000,400000", help="two backlog sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=20_000, help="the drain's DrainLimits.batch_size")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.memory_events.split(",")]
    with bench_broker() as broker:
        figures = {
            f"Drain throughput, N={args.events:,}, batch {args.batch_size:,}": throughput(
                broker, args.events, args.runs, args.batch_size
            ),
            f"Drain memory, batch {args.batch_size:,}": memory(broker, sizes, args.runs, args.batch_size),
        }
    for title, found in figures.items():
        print_figures(title, found)
    return figures


if __name__ == "__main__":
    main()
