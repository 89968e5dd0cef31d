"""Soak: events over ten pairs published while the drain is SIGKILLed at random moments, then counted.

    python -m devtools.soak --events 100000 --kills 20

Starts its own Tansu broker and a fresh PostgreSQL database (dropped afterwards). A producer
thread publishes the events (with re-sent and malformed ones mixed in) in chunks while drain
processes are started and killed at random moments; a last drain runs to the end. The report
says what was produced and what the tables hold: rows must equal the distinct events, with
zero duplicates, zero lost, and one dead letter per malformed message.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from devtools.faults import (
    DrainTarget,
    drain_command,
    make_feed,
    process_env,
    run_drain_process,
    stored_state,
)
from devtools.local_stack import ROOT, drop_database, local_postgres, start_broker
from franz_ivan.drain import DrainLimits
from franz_ivan.publish import ensure_topic, produce

GROUP = "crypto_prices_consumer"


@dataclass(frozen=True)
class SoakReport:
    messages: int
    distinct_events: int
    resent: int
    malformed: int
    kills: int
    rows: int
    duplicates: int
    lost: int
    dead_letters: int
    seconds: float

    @property
    def exact(self) -> bool:
        """Every event stored once and every malformed message dead-lettered once."""
        return (self.rows, self.duplicates, self.lost, self.dead_letters) == (
            self.distinct_events,
            0,
            0,
            self.malformed,
        )


def kill_drains_at_random(
    target: DrainTarget, limits: DrainLimits, kills: int, chooser: random.Random
) -> int:
    """Start drains and SIGKILL each after a random 0.3 to 2.5 s; return how many were killed."""
    killed = 0
    for _ in range(kills):
        process = subprocess.Popen(
            drain_command(target, limits),
            env=process_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        try:
            process.wait(timeout=chooser.uniform(0.3, 2.5))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
            killed += 1
    return killed


def soak(
    events: int, kills: int, *, partitions: int = 6, batch_size: int = 1000, seed: int = 7
) -> SoakReport:
    """Run the soak (see the module docstring) and return its figures."""
    started = time.monotonic()
    chooser = random.Random(seed)
    database = f"franz_soak_{uuid.uuid4().hex[:8]}"
    postgres = local_postgres(database)
    broker = start_broker(Path(tempfile.mkdtemp(prefix="franz-ivan-soak-")))
    try:
        topic = "crypto_prices_soak"
        ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, partitions, timeout=30)
        feed = make_feed(events, run=f"soak-{seed}", seed=seed, resend_every=97, malformed_every=1009)
        chunk = max(1, len(feed.messages) // max(kills, 1))
        chunks = [feed.messages[i : i + chunk] for i in range(0, len(feed.messages), chunk)]
        producer = threading.Thread(
            target=lambda: [produce({"bootstrap.servers": broker.bootstrap}, topic, part) for part in chunks],
            daemon=True,
        )
        producer.start()
        dsn = f"host={postgres.host} port={postgres.port} user={postgres.user} dbname={database}"
        target = DrainTarget(broker.bootstrap, dsn, topic, GROUP)
        limits = DrainLimits(batch_size=batch_size, stall_seconds=30, max_seconds=900)
        killed = kill_drains_at_random(target, limits, kills, chooser)
        producer.join(timeout=600)
        if producer.is_alive():
            raise RuntimeError("the producer did not finish within 600 s")
        last = run_drain_process(target, limits, timeout=900)
        if last.returncode != 0:
            raise RuntimeError(f"the last drain failed:\n{last.output[-3000:]}")
        with postgres.connect() as conn:
            state = stored_state(conn, topic, GROUP)
        return SoakReport(
            messages=len(feed.messages),
            distinct_events=len(feed.event_ids),
            resent=feed.resent,
            malformed=feed.malformed,
            kills=killed,
            rows=len(state.event_ids),
            duplicates=state.duplicates,
            lost=len(feed.event_ids - set(state.event_ids)),
            dead_letters=len(state.dead_letters),
            seconds=round(time.monotonic() - started, 1),
        )
    finally:
        broker.stop()
        drop_database(postgres, database)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m devtools.soak", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000, help="messages to produce (default 100000)")
    parser.add_argument("--kills", type=int, default=20, help="drains to SIGKILL at random (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report = soak(args.events, args.kills, seed=args.seed)
    print(json.dumps({**asdict(report), "exact": report.exact}, indent=2))
    if not report.exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
