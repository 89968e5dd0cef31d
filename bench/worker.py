"""One measured job in a fresh process: a drain, a bare Kafka read, or a bare COPY.

``python -m bench.worker MODE --bootstrap ... --topic ... --pg '{json}'`` prints one JSON line:
the events handled, the seconds the job took (process start and imports excluded), its
monotonic start and end (to combine parallel workers), and its memory: resident set before the
job and at its peak, and with ``--trace-memory`` the peak of Python allocations (tracemalloc).
With ``--wait-go`` the worker prints ``ready`` and starts when a line arrives on stdin, so that
parallel workers start together.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

COPY_CHUNK_BYTES = 1 << 20
CLEANUPS: list[Callable[[], object]] = []
"""Closing the clients, after the clock stops."""
BACKENDS: list[BackendCpu] = []
"""The PostgreSQL backend the job writes through, whose CPU time is reported."""


def current_rss_kb() -> int:
    """This process's resident set now, in KiB (``/proc/self/statm``)."""
    import os

    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kb() -> int:
    """This process's peak resident set since it started, in KiB (``VmHWM``).

    Not ``getrusage``'s ``ru_maxrss``: Linux carries that over from the parent through fork and
    exec, so a worker started by a benchmark that had just produced 400,000 events reported the
    benchmark's own resident set as its peak.
    """
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))


def create_tables(conn: Any) -> None:
    """The shared tables and the twenty pair tables, empty, as a running deployment has them.

    Both the drain and the bare COPY load rows into existing tables: creating twenty tables and
    their indexes (a fixed ~0.3 s, once per deployment) is not what is measured.
    """
    from psycopg import sql

    from bench.common import PAIRS
    from franz_ivan.settings import read_sql
    from franz_ivan.store_schema import lock_schema

    with conn.transaction():
        lock_schema(conn)
        conn.execute(read_sql("create_schema"))
        for pair in PAIRS:
            conn.execute(
                sql.SQL(read_sql("create_price_table")).format(
                    table=sql.Identifier(pair),
                    observed_at_index=sql.Identifier(f"{pair}_observed_at_idx"),
                    kind_check=sql.Identifier(f"{pair}_kind_check"),
                )
            )


class BackendCpu:
    """CPU seconds used by the PostgreSQL backend serving ``conn`` (read from ``/proc``; same host)."""

    def __init__(self, conn: Any) -> None:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        conn.commit()
        self.stat = Path(f"/proc/{row[0]}/stat")

    def seconds(self) -> float | None:
        import os

        try:
            fields = self.stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def drain_job(args: argparse.Namespace) -> Callable[[], int]:
    """The consumer DAG's drain (opened as :func:`run_drain` opens it) over the given partitions."""
    from contextlib import ExitStack

    from airflow.sdk import Connection

    from franz_ivan.drain import DrainLimits
    from franz_ivan.drain_runner import open_drain
    from franz_ivan.hooks.postgres import PricesPostgresHook

    gc.freeze()  # as run_drain does: the GC leaves Airflow's long-lived objects alone
    pg = json.loads(args.pg)
    database = Connection(
        conn_id="bench",
        conn_type="postgres",
        host=pg["host"],
        port=pg["port"],
        login=pg["user"],
        schema=pg["dbname"],
    )
    clients = ExitStack()
    drain = clients.enter_context(
        open_drain(
            {"bootstrap.servers": args.bootstrap},
            PricesPostgresHook(connection=database).get_conn,
            args.topic,
            "bench_drain",
            limits=DrainLimits(batch_size=args.batch_size),
            partitions=args.partitions,
        )
    )
    create_tables(drain.store.conn)
    BACKENDS.append(BackendCpu(drain.store.conn))
    CLEANUPS.append(clients.close)
    return lambda: drain.run().events


def read_job(args: argparse.Namespace) -> Callable[[], int]:
    """A bare confluent-kafka read of the partitions from their beginning to their end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    from franz_ivan.hooks.kafka import consumer_settings
    from franz_ivan.kafka_topics import partition_ids, position

    consumer = Consumer({"bootstrap.servers": args.bootstrap, **consumer_settings("bench_read")})

    def run() -> int:
        partitions = args.partitions or partition_ids(consumer, args.topic)
        consumer.assign([TopicPartition(args.topic, p, OFFSET_BEGINNING) for p in partitions])
        at_end: set[int] = set()
        count = 0
        while len(at_end) < len(partitions):
            for message in consumer.consume(num_messages=args.batch_size, timeout=0.5):
                error = message.error()
                if error is None:
                    count += message.value() is not None
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(position(message)[0])
                else:
                    raise RuntimeError(error.str())
        return count

    CLEANUPS.append(consumer.close)
    return run


def copy_job(args: argparse.Namespace) -> Callable[[], int]:
    """A bare ``COPY`` of the benchmark rows into fresh pair tables (one COPY per table).

    The rows are formatted before the clock starts: this is PostgreSQL's own speed, the ceiling.
    """
    import psycopg
    from psycopg import sql

    from bench.common import bench_event, partition_of

    blobs: dict[str, list[str]] = defaultdict(list)
    offsets: dict[int, int] = defaultdict(int)
    for index in range(args.events):
        event = bench_event(index)
        partition = partition_of(index, args.partition_count)
        blobs[event.market.pair].append(
            f"{event.price}\t{event.market.source}\t{event.market.exchange}\t"
            f"{event.observed_at.isoformat()}\t{event.event_id}\t{partition}\t{offsets[partition]}\n"
        )
        offsets[partition] += 1
    data = {pair: "".join(lines).encode() for pair, lines in blobs.items()}
    conn = psycopg.connect(**json.loads(args.pg))
    create_tables(conn)
    BACKENDS.append(BackendCpu(conn))

    def run() -> int:
        copied = 0
        with conn.transaction(), conn.cursor() as cursor:
            for pair, blob in data.items():
                statement = sql.SQL(
                    "COPY {} (value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset) "
                    "FROM STDIN"
                ).format(sql.Identifier(pair))
                with cursor.copy(statement) as copy:
                    for start in range(0, len(blob), COPY_CHUNK_BYTES):
                        copy.write(blob[start : start + COPY_CHUNK_BYTES])
                copied += cursor.rowcount
        return copied

    CLEANUPS.append(conn.close)
    return run


def fanout_job(args: argparse.Namespace) -> Callable[[], int]:
    """What the producer's per-source task calls: fetch the source's markets, publish the events.

    The Airflow connections come from ``AIRFLOW_CONN_*`` in the environment; the fetch
    concurrency from ``CRYPTO_PRICES_FETCH_CONCURRENCY``.
    """
    from franz_ivan.hooks.kafka import PricesKafkaHook
    from franz_ivan.producer import publish_source

    markets: list[str] = json.loads(args.markets)
    # The first connection lookup of a process loads Airflow's secrets backends (~2 s); a task
    # has done that before it runs, so it is done here before the clock starts.
    PricesKafkaHook().config()

    def run() -> int:
        result = publish_source(args.source, markets, run_key=f"bench/{time.time_ns()}")
        return int(str(result["prices"]))

    return run


def fetch_job(args: argparse.Namespace) -> Callable[[], int]:
    """The fetching half of :func:`publish_source`: the source's markets asked, nothing published."""
    from franz_ivan.markets import parse_market
    from franz_ivan.producer import observe_source, source_endpoint
    from franz_ivan.settings import settings
    from franz_ivan.sources import SOURCES
    from franz_ivan.sources.pacing import SourcePacer

    source = SOURCES[args.source]
    markets = [parse_market(key) for key in json.loads(args.markets)]
    endpoint = source_endpoint(source)

    def run() -> int:
        pacer = SourcePacer(args.source, settings().pacing(), settings().allowance_floor(args.source))
        observations = observe_source(source, endpoint, markets, f"bench/{time.time_ns()}", pacer)
        failed = [str(o.error or o.skipped) for o in observations if o.error or o.skipped]
        if failed:
            raise RuntimeError(f"markets failed: {failed}")
        return len(observations)

    return run


JOBS: dict[str, Callable[[argparse.Namespace], Callable[[], int]]] = {
    "fetch": fetch_job,
    "drain": drain_job,
    "read": read_job,
    "copy": copy_job,
    "fanout": fanout_job,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=sorted(JOBS))
    parser.add_argument("--bootstrap", default="")
    parser.add_argument("--topic", default="")
    parser.add_argument("--pg", default="{}", help="psycopg.connect keyword arguments as JSON")
    parser.add_argument("--partitions", type=lambda s: [int(p) for p in s.split(",")], default=None)
    parser.add_argument("--partition-count", type=int, default=4, help="copy: partitions of the load")
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=0, help="copy: how many benchmark rows")
    parser.add_argument("--source", default="", help="fetch, fanout: the price source")
    parser.add_argument("--markets", default="[]", help="fetch, fanout: the source's market keys as JSON")
    parser.add_argument("--trace-memory", action="store_true")
    parser.add_argument("--wait-go", action="store_true")
    parser.add_argument("--profile", default="", help="write the job's cProfile statistics to this file")
    args = parser.parse_args()

    job = JOBS[args.mode](args)
    rss_before = current_rss_kb()
    if args.wait_go:
        print("ready", flush=True)
        sys.stdin.readline()
    if args.trace_memory:
        tracemalloc.start()
    backend_before = [backend.seconds() for backend in BACKENDS]
    cpu_before = time.process_time()
    started = time.monotonic()
    if args.profile:
        import cProfile

        with cProfile.Profile() as profile:
            events = job()
        profile.dump_stats(args.profile)
    else:
        events = job()
    finished = time.monotonic()
    cpu = time.process_time() - cpu_before
    backend_cpu = [
        None if before is None or after is None else after - before
        for before, after in zip(backend_before, (backend.seconds() for backend in BACKENDS), strict=True)
    ]
    result: dict[str, Any] = {
        "mode": args.mode,
        "events": events,
        "seconds": finished - started,
        "cpu_seconds": cpu,
        "backend_cpu_seconds": backend_cpu[0] if backend_cpu else None,
        "started": started,
        "finished": finished,
        "rss_before_kb": rss_before,
        "rss_peak_kb": peak_rss_kb(),
    }
    if args.trace_memory:
        result["tracemalloc_peak_kb"] = tracemalloc.get_traced_memory()[1] // 1024
        tracemalloc.stop()
    for cleanup in CLEANUPS:
        cleanup()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
