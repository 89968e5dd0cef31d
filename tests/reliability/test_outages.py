"""PostgreSQL restarted and the broker unreachable in the middle of a drain or a publish."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.faults import (
    DrainTarget,
    drain_command,
    make_feed,
    outcome,
    process_env,
    run_drain_process,
    stored_state,
)
from devtools.local_stack import ROOT, Broker, start_broker
from devtools.pg_cluster import throwaway_postgres
from devtools.processes import frozen
from franz_ivan.drain import DrainLimits
from franz_ivan.events import Event, decode
from franz_ivan.publish import PublishError, ensure_topic, produce, publish
from tests.reliability.conftest import GROUP, PARTITIONS, assert_exactly_once, state_of

pytestmark = pytest.mark.integration

LIMITS = DrainLimits(batch_size=200, stall_seconds=8, max_seconds=300)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone, since the test freezes or kills it."""
    running = start_broker(tmp_path)
    yield running
    running.stop()


def start_drain(target: DrainTarget, limits: DrainLimits = LIMITS) -> subprocess.Popen[str]:
    return subprocess.Popen(
        drain_command(target, limits),
        env=process_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )


def wait_for_stored_positions(dsn: str, at_least: int = 1, timeout: float = 60) -> int:
    """Wait until the drain has committed ``at_least`` positions; return how many it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            exists = conn.execute("SELECT to_regclass('crypto_prices_consumer_offsets')").fetchone()
            if exists and exists[0]:
                row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM crypto_prices_consumer_offsets")
                stored = int(row.fetchone()[0])
                if stored >= at_least:
                    return stored
        time.sleep(0.05)
    raise AssertionError(f"the drain stored fewer than {at_least} positions within {timeout:g} s")


def test_postgres_restart_mid_drain_fails_the_drain_and_the_next_one_completes() -> None:
    broker = None
    with throwaway_postgres() as cluster:
        try:
            broker = start_broker(Path(cluster.data).parent / "logs")
            topic = "crypto_prices_pg_restart"
            ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, PARTITIONS, timeout=30)
            target = DrainTarget(broker.bootstrap, cluster.dsn(), topic, GROUP)
            feed = make_feed(30_000, run="pg-restart", resend_every=50, malformed_every=211)
            produce({"bootstrap.servers": broker.bootstrap}, topic, feed.messages)

            drain = start_drain(target)
            before = wait_for_stored_positions(cluster.dsn())
            cluster.crash()
            cluster.start()
            output, _ = drain.communicate(timeout=120)
            interrupted = outcome(drain.returncode, output)
            assert interrupted.returncode == 1, output[-3000:]
            assert "OperationalError" in output or "terminating connection" in output

            with psycopg.connect(cluster.dsn()) as conn:
                kept = stored_state(conn, topic, GROUP)
            assert sum(kept.next_offsets.values()) >= before
            assert sum(kept.next_offsets.values()) < len(feed.messages)

            again = run_drain_process(target, LIMITS)
            assert again.returncode == 0, again.output[-3000:]
            with psycopg.connect(cluster.dsn()) as conn:
                assert_exactly_once(stored_state(conn, topic, GROUP), feed)
        finally:
            if broker is not None:
                broker.stop()


@pytest.fixture
def loaded_target(own_broker: Broker, database: Any, topic: str) -> tuple[DrainTarget, Any]:
    ensure_topic({"bootstrap.servers": own_broker.bootstrap}, topic, PARTITIONS, timeout=30)
    feed = make_feed(30_000, run=f"outage-{topic}", resend_every=50, malformed_every=211)
    produce({"bootstrap.servers": own_broker.bootstrap}, topic, feed.messages)
    dsn = f"host={database.host} port={database.port} user={database.user} dbname={database.database}"
    return DrainTarget(own_broker.bootstrap, dsn, topic, GROUP), feed


def test_broker_unreachable_briefly_the_drain_waits_and_completes(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    drain = start_drain(target, DrainLimits(batch_size=200, stall_seconds=30, max_seconds=300))
    wait_for_stored_positions(target.dsn)
    with frozen(own_broker):
        time.sleep(4)
    output, _ = drain.communicate(timeout=120)
    assert drain.returncode == 0, output[-3000:]
    assert_exactly_once(state_of(pg, target), feed)


def test_broker_unreachable_too_long_the_drain_fails_within_its_bound(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    drain = start_drain(target)
    wait_for_stored_positions(target.dsn)
    with frozen(own_broker):
        # stall_seconds (8) plus one mirror timeout (5) and the last batch: well inside 90 s.
        output, _ = drain.communicate(timeout=90)
        kept = state_of(pg, target)
    assert drain.returncode == 1, output[-3000:]
    assert "Kafka gave neither events nor end-of-partition" in output
    assert 0 < sum(kept.next_offsets.values()) <= len(feed.messages)

    again = run_drain_process(target, LIMITS)
    assert again.returncode == 0, again.output[-3000:]
    assert_exactly_once(state_of(pg, target), feed)


def test_broker_restart_loses_its_log_stored_rows_stay_and_new_events_are_found(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any, tmp_path: Path
) -> None:
    target, first = loaded_target
    drain = start_drain(target)
    wait_for_stored_positions(target.dsn)
    own_broker.kill()
    output, _ = drain.communicate(timeout=90)
    assert drain.returncode == 1, output[-3000:]
    kept = state_of(pg, target)
    assert len(kept.event_ids) > 0
    assert set(kept.event_ids) <= first.event_ids

    # Same address, memory storage: the topic and its log are gone. Recreate, publish fewer events
    # than the stored positions: the drain notices the shorter log and reads it from the start.
    restarted = start_broker(tmp_path / "again", port=own_broker.port)
    try:
        ensure_topic({"bootstrap.servers": restarted.bootstrap}, target.topic, PARTITIONS, timeout=30)
        second = make_feed(300, run="after-restart")
        produce({"bootstrap.servers": restarted.bootstrap}, target.topic, second.messages)
        again = run_drain_process(target, LIMITS)
        assert again.returncode == 0, again.output[-3000:]
        assert "before the stored position" in again.output
        state = state_of(pg, target)
        assert state.duplicates == 0
        assert set(state.event_ids) == set(kept.event_ids) | second.event_ids
    finally:
        restarted.stop()


def test_publish_with_the_broker_unreachable_fails_after_its_bound_and_reports_nothing_sent(
    own_broker: Broker, topic: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = {"bootstrap.servers": own_broker.bootstrap}
    ensure_topic(config, topic, PARTITIONS, timeout=10)
    events = events_of(make_feed(20, run="unreachable"))
    with frozen(own_broker), caplog.at_level(logging.INFO, logger="franz_ivan"):
        with pytest.raises(PublishError, match=r"acknowledged 0 of 20 events"):
            publish(config, topic, events, timeout=2)
        with pytest.raises(PublishError, match="did not answer within 2 s"):
            ensure_topic(config, topic, PARTITIONS, timeout=2)
    assert not [r for r in caplog.records if r.getMessage().startswith("Published")]


def events_of(feed: Any) -> list[tuple[str, Event]]:
    return [(key.decode(), decode(value)) for key, value in feed.messages]


def test_publish_interrupted_by_an_outage_then_retried_stores_every_event_once(
    own_broker: Broker, database: Any, topic: str, pg: Any
) -> None:
    config = {"bootstrap.servers": own_broker.bootstrap}
    ensure_topic(config, topic, PARTITIONS, timeout=10)
    feed = make_feed(20_000, run="interrupted-publish")
    events = events_of(feed)
    outage = threading.Timer(0.05, own_broker.signal, args=(19,))  # SIGSTOP
    outage.start()
    try:
        with pytest.raises(PublishError, match=r"acknowledged \d+ of 20000 events"):
            publish(config, topic, events, timeout=3)
    finally:
        outage.join()
        own_broker.signal(18)  # SIGCONT
    publish(config, topic, events, timeout=30)  # the task's retry: same events, same ids

    dsn = f"host={database.host} port={database.port} user={database.user} dbname={database.database}"
    target = DrainTarget(own_broker.bootstrap, dsn, topic, GROUP)
    done = run_drain_process(target, LIMITS)
    assert done.returncode == 0, done.output[-3000:]
    assert done.result is not None
    state = state_of(pg, target)
    assert state.duplicates == 0
    assert set(state.event_ids) == feed.event_ids
    assert done.result["events"] >= len(feed.messages)
