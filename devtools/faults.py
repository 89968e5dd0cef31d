"""Faults injected from outside the production code, for ``tests/reliability`` and ``devtools/soak.py``.

- ``python -m devtools.faults drain ...`` runs the real :class:`franz_ivan.drain.Drain` in a process of
  its own, its store or consumer wrapped so that the process SIGKILLs itself at a chosen point
  (:data:`KILL_POINTS`). :func:`run_drain_process` starts it and parses what it printed;
  :func:`planned_groups` and :func:`run_mapped_drains` run one per partition group at once, as
  the consumer DAG's mapped drains do.
- :func:`make_feed` builds a stream of events (good ones, re-sent ones with the same id, malformed
  ones from :data:`MALFORMED`) for :func:`franz_ivan.publish.produce`; :func:`recreate_topic`
  gives a topic a new id.
- :func:`stored_state` reads back what the tables hold, to count rows, duplicates and dead letters.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from devtools.local_stack import ROOT
from franz_ivan.drain import DrainLimits
from franz_ivan.drain_runner import open_drain
from franz_ivan.drain_writer import DrainResult
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import MAX_EVENT_BYTES, AllowanceEvent, Event, Market, PriceEvent, encode
from franz_ivan.groups import GroupLimits
from franz_ivan.hooks.kafka import PricesAdminHook, PricesConsumerHook
from franz_ivan.kafka_topics import GroupMirror
from franz_ivan.store import Batch, BatchCounts, PriceStore

KILL_POINTS: Final = ("fetched", "inserted", "committed")
"""Where a drain can die: a batch read but nothing written; rows and positions written but not
committed; PostgreSQL committed but the positions not yet mirrored to the Kafka group."""

PAIRS: Final = (
    "btcusd",
    "btceur",
    "ethusd",
    "etheur",
    "ltcusd",
    "xrpusd",
    "solusd",
    "adausd",
    "dotusd",
    "ethbtc",
)

SAMPLE_BODY: Final[dict[str, Any]] = {
    "schema_version": 1,
    "type": "price",
    "event_id": "0b0e8f0e-3c1a-5d4e-9f6a-1b2c3d4e5f60",
    "source": "cryptowatch",
    "exchange": "coinbase-pro",
    "pair": "btcusd",
    "observed_at": "2026-11-27T18:00:00.123456Z",
    "price": "24063.4",
}


def _body(**changes: Any) -> bytes:
    body = {**SAMPLE_BODY, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not _MISSING}).encode()


_MISSING: Final = object()

MALFORMED: Final[dict[str, bytes | None]] = {
    "not_json": b"\xff\xfe price=24063.4",
    "truncated_json": _body()[:-7],
    "json_array": b'[1, "price", 24063.4]',
    "tombstone": None,
    "unknown_schema_version": _body(schema_version=2),
    "schema_version_missing": _body(schema_version=_MISSING),
    "missing_price": _body(price=_MISSING),
    "missing_event_id": _body(event_id=_MISSING),
    "event_id_not_uuid": _body(event_id="42"),
    "observed_at_without_zone": _body(observed_at="2026-11-27T18:00:00"),
    "price_nan": _body(price="NaN"),
    "price_infinity": _body(price="Infinity"),
    "price_json_nan": _body(price=_MISSING)[:-1] + b', "price": NaN}',
    "price_negative": _body(price="-1.5"),
    "price_zero": _body(price="0"),
    "price_text": _body(price="about 24k"),
    "price_too_large": _body(price="1e13"),
    "price_too_many_places": _body(price="1e-20000"),
    "price_boolean": _body(price=True),
    "unknown_event_type": _body(type="trade"),
    "pair_sql_injection": _body(pair='btcusd"; DROP TABLE btcusd; --'),
    "pair_path": _body(pair="../pg_catalog"),
    "pair_uppercase": _body(pair="BTCUSD"),
    "pair_too_long": _body(pair="b" * 33),
    "pair_unicode": _body(pair="btcusd\u0445"),
    "pair_nul": _body(pair="btc\u0000usd"),
    "pair_not_text": _body(pair=["btcusd"]),
    "source_with_space": _body(source="crypto watch"),
    "oversized": _body(padding="x" * MAX_EVENT_BYTES),
    "deeply_nested": b"[" * (MAX_EVENT_BYTES - 1),
}
"""Every kind of bad message the drain must dead-letter, by name."""


def kill_self() -> None:
    """Die the way a crashed or OOM-killed worker dies: no cleanup, no rollback, no goodbye."""
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class KillingStore(PriceStore):
    """A :class:`PriceStore` that kills its process during its ``on_batch``-th write.

    ``fetched``: before the transaction starts. ``inserted``: after the rows and the positions
    are written, before the commit.
    """

    def __init__(self, *args: Any, kill_at: str, on_batch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at
        self.on_batch = on_batch
        self.writes = 0

    def write(self, batch: Batch) -> BatchCounts:
        self.writes += 1
        if self.kill_at == "fetched" and self.writes == self.on_batch:
            kill_self()
        return super().write(batch)

    def _write_offsets(self, next_offsets: dict[int, int]) -> None:
        super()._write_offsets(next_offsets)
        if self.kill_at == "inserted" and self.writes == self.on_batch:
            kill_self()


class KillingMirror(GroupMirror):
    """A :class:`GroupMirror` that kills its process instead of its ``on_batch``-th copy (``committed``)."""

    def __init__(self, *args: Any, kill_at: str, on_batch: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kill_at = kill_at
        self.on_batch = on_batch
        self.copies = 0

    def copy(self, next_offsets: dict[int, int], timeout: float | None = None) -> None:
        self.copies += 1
        if self.kill_at == "committed" and self.copies == self.on_batch:
            kill_self()
        super().copy(next_offsets, timeout)


@dataclass(frozen=True)
class DrainTarget:
    """What a drain reads and where it writes: broker, database (libpq string), topic, group."""

    bootstrap: str
    dsn: str
    topic: str
    group: str


def drain_once(
    target: DrainTarget,
    limits: DrainLimits,
    *,
    kill_at: str | None = None,
    on_batch: int = 1,
    partitions: Sequence[int] | None = None,
) -> DrainResult:
    """One real drain in this process (positions mirrored to the Kafka group) of all partitions or
    ``partitions`` (a mapped drain's group), dying at ``kill_at`` during batch ``on_batch`` if given."""
    from functools import partial

    import psycopg

    kill = {"kill_at": kill_at or "", "on_batch": on_batch}
    with open_drain(
        {"bootstrap.servers": target.bootstrap},
        partial(psycopg.connect, target.dsn),
        target.topic,
        target.group,
        limits=limits,
        partitions=partitions,
        store=partial(KillingStore, **kill),
        mirror=partial(KillingMirror, **kill),
    ) as drain:
        return drain.run()


@dataclass(frozen=True)
class DrainOutcome:
    """How a drain process ended: its exit code, its result (if it finished) and its output."""

    returncode: int
    result: dict[str, Any] | None
    output: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL


def drain_command(
    target: DrainTarget,
    limits: DrainLimits,
    kill: tuple[str, int] | None = None,
    partitions: Sequence[int] | None = None,
) -> list[str]:
    """The command line of a drain process (``python -m devtools.faults drain ...``) of all
    partitions or ``partitions``; ``kill``: the (kill point, batch) it dies at."""
    command = [
        sys.executable, "-m", "devtools.faults", "drain",
        "--bootstrap", target.bootstrap, "--dsn", target.dsn, "--topic", target.topic,
        "--group", target.group, "--batch-size", str(limits.batch_size),
        "--max-seconds", str(limits.max_seconds), "--stall-seconds", str(limits.stall_seconds),
    ]  # fmt: skip
    if partitions is not None:
        command += ["--partitions", ",".join(map(str, partitions))]
    return command if kill is None else [*command, "--kill-at", kill[0], "--on-batch", str(kill[1])]


def process_env() -> dict[str, str]:
    """The environment a drain process needs to import ``franz_ivan`` and ``devtools``."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def outcome(returncode: int, output: str) -> DrainOutcome:
    """Parse a drain process's output: its last JSON line is the :class:`DrainResult`."""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return DrainOutcome(returncode, json.loads(lines[-1]) if lines else None, output)


def start_drain_process(
    target: DrainTarget,
    limits: DrainLimits,
    kill: tuple[str, int] | None = None,
    partitions: Sequence[int] | None = None,
) -> subprocess.Popen[str]:
    """Start a drain process (:func:`drain_command`'s arguments) without waiting for it; its
    output, stderr included, is read with ``communicate()`` and parsed by :func:`outcome`."""
    return subprocess.Popen(
        drain_command(target, limits, kill, partitions),
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )


def run_drain_process(
    target: DrainTarget,
    limits: DrainLimits,
    *,
    kill_at: str | None = None,
    on_batch: int = 1,
    timeout: float = 180,
) -> DrainOutcome:
    """Run :func:`drain_once` in a child process and wait for it (at most ``timeout`` seconds)."""
    process = start_drain_process(target, limits, (kill_at, on_batch) if kill_at else None)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return outcome(process.returncode, output)


def planned_groups(target: DrainTarget, limits: GroupLimits) -> list[list[int]]:
    """The partition groups the consumer DAG's ``plan_drains`` would map now (sensor's pending map)."""
    import psycopg

    from franz_ivan.groups import partition_groups
    from franz_ivan.pending import pending_events

    consumer = PricesConsumerHook(config={"bootstrap.servers": target.bootstrap}, consumer_group=target.group)
    try:
        with psycopg.connect(target.dsn) as conn:
            store = PriceStore(conn, target.topic, target.group)
            pending = pending_events(consumer.get_conn, store)
    finally:
        consumer.get_conn.close()
    return partition_groups({str(p): n for p, n in pending.items()}, limits)


def run_mapped_drains(
    target: DrainTarget,
    limits: DrainLimits,
    groups: Sequence[Sequence[int]],
    *,
    kill: dict[int, tuple[str, int]] | None = None,
    timeout: float = 180,
) -> list[DrainOutcome]:
    """Run one drain process per group at the same time, as mapped ``drain_events`` tasks run on
    parallel worker slots; ``kill`` maps a group's index to its (kill point, batch). Outcomes in
    group order."""
    kill = kill or {}
    processes = [
        start_drain_process(target, limits, kill.get(index), partitions=group)
        for index, group in enumerate(groups)
    ]
    outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    return [outcome(process.returncode, output) for process, output in zip(processes, outputs, strict=True)]


@dataclass
class Feed:
    """Messages to produce and what the tables must hold once they are drained."""

    messages: list[tuple[bytes | None, bytes | None]] = field(default_factory=list)
    event_ids: set[str] = field(default_factory=set)
    """Distinct good events (prices and allowances): the rows the tables must end up with."""
    resent: int = 0
    malformed: int = 0


def price_event(run: str, number: int, pair: str) -> PriceEvent:
    market = Market("cryptowatch", "coinbase-pro", pair)
    observed_at = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(milliseconds=number)
    price = Decimal(10_000 + number % 5000) + Decimal(number % 97) / 100
    return PriceEvent(event_id_for(run, str(number), "price"), market, observed_at, price)


def allowance_event(run: str, number: int, pair: str) -> AllowanceEvent:
    market = Market("cryptowatch", "coinbase-pro", pair)
    observed_at = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(milliseconds=number)
    remaining = Decimal(10) - Decimal(number % 1000) / 1000
    return AllowanceEvent(event_id_for(run, str(number), "allowance"), market, observed_at, remaining)


def make_feed(
    count: int,
    *,
    run: str,
    pairs: Sequence[str] = PAIRS,
    seed: int = 5,
    allowance_every: int = 5,
    resend_every: int = 0,
    malformed_every: int = 0,
) -> Feed:
    """``count`` messages over ``pairs``: a price per message, an allowance every ``allowance_every``-th,
    a re-send of an earlier event every ``resend_every``-th, a :data:`MALFORMED` one every
    ``malformed_every``-th (0: never)."""
    chooser = random.Random(seed)
    feed = Feed()
    sent: list[tuple[bytes, bytes]] = []
    bad = list(MALFORMED.items())
    for number in range(count):
        if malformed_every and number % malformed_every == malformed_every - 1:
            _, value = bad[feed.malformed % len(bad)]
            feed.messages.append((b"cryptowatch:coinbase-pro:bad", value))
            feed.malformed += 1
            continue
        if resend_every and sent and number % resend_every == resend_every - 1:
            feed.messages.append(chooser.choice(sent))
            feed.resent += 1
            continue
        pair = pairs[number % len(pairs)]
        event: Event = (
            allowance_event(run, number, pair)
            if allowance_every and number % allowance_every == 0
            else price_event(run, number, pair)
        )
        message = (event.market.key.encode(), encode(event))
        feed.messages.append(message)
        sent.append(message)
        feed.event_ids.add(event.event_id)
    return feed


def recreate_topic(bootstrap: str, topic: str, partitions: int, timeout: float = 30) -> None:
    """Delete ``topic`` and create it again, empty, with ``partitions`` partitions (a new topic id)."""
    import time

    from franz_ivan.publish import ensure_topic

    config = {"bootstrap.servers": bootstrap}
    admin = PricesAdminHook(config=config).get_conn
    admin.delete_topics([topic])[topic].result(timeout)
    deadline = time.monotonic() + timeout
    while True:
        while topic in admin.list_topics(timeout=timeout).topics:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {topic!r} still listed {timeout:g} s after its deletion")
            time.sleep(0.2)
        # ensure_topic takes "already exists" for success: a deletion the broker had not finished
        # would leave no new topic, so look for the one asked for before returning.
        ensure_topic(config, topic, partitions, timeout)
        listed = admin.list_topics(topic, timeout=timeout).topics.get(topic)
        if listed is not None and listed.error is None and len(listed.partitions) == partitions:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"topic {topic!r} not re-created with {partitions} partitions in {timeout:g} s"
            )
        time.sleep(0.2)


@dataclass(frozen=True)
class StoredState:
    """What the database holds after draining."""

    event_ids: list[str]
    """Every stored price and allowance row's event id (a duplicate would appear twice)."""
    dead_letters: list[tuple[int, int, str]]
    """(partition, offset, error) of each dead letter."""
    next_offsets: dict[int, int]

    @property
    def duplicates(self) -> int:
        return len(self.event_ids) - len(set(self.event_ids))


def stored_state(conn: Any, topic: str, group: str) -> StoredState:
    """Read back every table with an ``event_id`` column, the dead letters and the positions."""
    from psycopg import sql

    tables = conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND column_name = 'event_id' ORDER BY table_name"
    ).fetchall()
    every_event_id = sql.SQL(" UNION ALL ").join(
        sql.SQL("SELECT event_id::text FROM {}").format(sql.Identifier(table)) for (table,) in tables
    )
    event_ids = [event_id for (event_id,) in conn.execute(every_event_id)] if tables else []
    dead_letters: list[tuple[int, int, str]] = []
    next_offsets: dict[int, int] = {}
    created = conn.execute("SELECT to_regclass('crypto_prices_consumer_offsets')").fetchone()
    if created and created[0]:
        dead_letters = conn.execute(
            "SELECT kafka_partition, kafka_offset, error FROM crypto_prices_dead_letter WHERE topic = %s "
            "ORDER BY kafka_partition, kafka_offset",
            (topic,),
        ).fetchall()
        next_offsets = dict(
            conn.execute(
                "SELECT kafka_partition, next_offset FROM crypto_prices_consumer_offsets "
                "WHERE consumer_group = %s AND topic = %s",
                (group, topic),
            ).fetchall()
        )
    conn.rollback()
    return StoredState(event_ids, [tuple(row) for row in dead_letters], next_offsets)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.faults", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    drain = commands.add_parser("drain", help="run one drain, optionally dying at a kill point")
    drain.add_argument("--bootstrap", required=True)
    drain.add_argument("--dsn", required=True, help="libpq connection string of the database")
    drain.add_argument("--topic", required=True)
    drain.add_argument("--group", required=True)
    drain.add_argument("--batch-size", type=int, default=DrainLimits.batch_size)
    drain.add_argument("--max-seconds", type=float, default=DrainLimits.max_seconds)
    drain.add_argument("--stall-seconds", type=float, default=DrainLimits.stall_seconds)
    drain.add_argument("--kill-at", choices=KILL_POINTS)
    drain.add_argument("--on-batch", type=int, default=1, help="die during this batch (1 = the first)")
    drain.add_argument(
        "--partitions", type=lambda text: [int(p) for p in text.split(",")], help="a mapped drain's group"
    )
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    limits = DrainLimits(
        batch_size=args.batch_size, max_seconds=args.max_seconds, stall_seconds=args.stall_seconds
    )
    target = DrainTarget(args.bootstrap, args.dsn, args.topic, args.group)
    result = drain_once(
        target, limits, kill_at=args.kill_at, on_batch=args.on_batch, partitions=args.partitions
    )
    print(json.dumps(result.as_dict()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
