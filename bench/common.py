"""What the benchmarks share: statistics, the machine description, services, and the test events."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from devtools.local_stack import (
    ROOT,
    Broker,
    Postgres,
    drop_database,
    local_postgres,
    start_broker,
    tansu_binary,
)
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import Market, PriceEvent, encode

PAIRS: tuple[str, ...] = (
    "btcusd", "btceur", "ethusd", "etheur", "ltcusd", "xrpusd", "solusd", "adausd", "dogeusd", "dotusd",
    "btcgbp", "ethgbp", "ltceur", "xrpeur", "soleur", "adaeur", "dogeeur", "doteur", "linkusd", "maticusd",
)  # fmt: skip
"""Twenty pairs, so twenty price tables, as in the issue's load."""

EXCHANGES: tuple[str, ...] = ("coinbase-pro", "kraken", "bitstamp")
EPOCH = datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
SUBPROCESS_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


@dataclass(frozen=True)
class Figure:
    """One measured quantity over several runs."""

    name: str
    samples: list[float]
    unit: str

    @property
    def median(self) -> float:
        return median(self.samples)

    def line(self) -> str:
        return (
            f"{self.name}: median {self.median:,.3f} {self.unit} "
            f"(min {min(self.samples):,.3f}, max {max(self.samples):,.3f}, n={len(self.samples)})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "unit": self.unit, "median": self.median, "samples": self.samples}


def ratio_figure(name: str, numerators: Sequence[float], denominators: Sequence[float]) -> Figure:
    """Per-run ratios (each run's figure over the baseline measured in the same run)."""
    return Figure(name, [n / d for n, d in zip(numerators, denominators, strict=True)], "x")


def print_figures(title: str, figures: Sequence[Figure]) -> None:
    print(f"\n== {title}", flush=True)
    for figure in figures:
        print("  " + figure.line(), flush=True)


def _command_output(*command: str) -> str:
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, timeout=30).stdout.strip()
    except OSError:
        return "unknown"


def machine() -> dict[str, str]:
    """The machine the figures come from: CPUs, CPU model, RAM, and the service versions."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?"
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    mem_kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    import confluent_kafka
    import psycopg

    postgres = local_postgres("postgres")
    with postgres.connect() as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "ram": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "os": platform.platform(),
        "python": platform.python_version(),
        "postgresql": str(row[0]) if row else "?",
        "tansu": _command_output(str(tansu_binary()), "--version").removeprefix("tansu "),
        "confluent-kafka": f"{confluent_kafka.__version__} (librdkafka {confluent_kafka.libversion()[0]})",
        "psycopg": f"{psycopg.__version__} ({psycopg.pq.__impl__})",
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def print_machine() -> dict[str, str]:
    described = machine()
    print("Machine: " + "; ".join(f"{k} {v}" for k, v in described.items()), flush=True)
    return described


@contextmanager
def bench_broker() -> Iterator[Broker]:
    """A Tansu broker (memory storage) for the ``with`` block."""
    with tempfile.TemporaryDirectory(prefix="franz-bench-") as logs:
        broker = start_broker(Path(logs))
        try:
            yield broker
        finally:
            broker.stop()


@contextmanager
def fresh_database(prefix: str = "franz_bench") -> Iterator[Postgres]:
    """A new, empty PostgreSQL database, dropped after the ``with`` block."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    postgres = local_postgres(name)
    try:
        yield postgres
    finally:
        drop_database(postgres, name)


def bench_event(index: int) -> PriceEvent:
    """The ``index``-th benchmark event: pairs in turn, a price that moves, a unique event id."""
    pair = PAIRS[index % len(PAIRS)]
    market = Market("cryptowatch", EXCHANGES[index % len(EXCHANGES)], pair)
    return PriceEvent(
        event_id=event_id_for("bench", str(index)),
        market=market,
        observed_at=EPOCH + timedelta(milliseconds=index),
        price=Decimal(1000 + index % 997) + Decimal(index % 10_000) / 10_000,
    )


def partition_of(index: int, partitions: int) -> int:
    """Where event ``index`` goes: each pair keeps to one partition, as keying by market does."""
    return (index % len(PAIRS)) % partitions


def preload(broker: Broker, topic: str, events: int, partitions: int, first: int = 0) -> None:
    """Create ``topic`` (unless it exists) and fill it with ``events`` benchmark events, all
    acknowledged: events ``first`` to ``first + events - 1``, so later loads have ids of their own."""
    from franz_ivan.publish import ensure_topic, produce

    config = {"bootstrap.servers": broker.bootstrap}
    ensure_topic(config, topic, partitions, timeout=30)
    numbers = range(first, first + events)
    messages = ((event.market.key.encode(), encode(event)) for event in map(bench_event, numbers))
    produce(config, topic, messages, timeout=115, partition_of=lambda index: partition_of(index, partitions))


def run_worker(*args: str, env: dict[str, str] | None = None, timeout: float = 900) -> dict[str, Any]:
    """Run ``python -m bench.worker *args`` in a fresh process (``env`` added); its JSON result."""
    completed = subprocess.run(
        [sys.executable, "-m", "bench.worker", *args],
        cwd=ROOT,
        env={**SUBPROCESS_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"bench.worker {' '.join(args)} failed:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def run_workers_together(
    arguments: Sequence[Sequence[str]], timeout: float = 900, slots: int | None = None
) -> list[dict[str, Any]]:
    """Start one ``bench.worker`` per argument list and release them once all are ready: all together,
    or at most ``slots`` at a time, the next as soon as one finishes (an executor's parallelism)."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bench.worker", *args, "--wait-go"],
            cwd=ROOT,
            env=SUBPROCESS_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in arguments
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"bench.worker did not get ready: {process.communicate()[1][-4000:]}")
        free = threading.BoundedSemaphore(slots or len(processes))

        def release_and_wait(process: subprocess.Popen[str]) -> dict[str, Any]:
            with free:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
                stdout, stderr = process.communicate(timeout=timeout)
            if process.returncode != 0:
                raise RuntimeError(f"bench.worker failed:\n{stderr[-4000:]}")
            result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
            return result

        with ThreadPoolExecutor(max_workers=len(processes)) as pool:
            return list(pool.map(release_and_wait, processes))
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def postgres_args(postgres: Postgres) -> list[str]:
    return ["--pg", json.dumps({"host": postgres.host, "port": postgres.port, "user": postgres.user,
                                "dbname": postgres.database})]  # fmt: skip
