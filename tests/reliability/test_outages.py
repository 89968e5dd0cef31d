"""PostgreSQL restarted and the broker unreachable in the middle of a drain or a publish."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devtools.faults import DrainTarget, Feed, make_feed, outcome, run_drain_process, start_drain_process
from devtools.local_stack import Broker, start_broker
from devtools.pg_cluster import PostgresCluster
from devtools.processes import frozen
from franz_ivan.drain import DrainLimits
from franz_ivan.events import Event, decode
from franz_ivan.publish import PublishError, ensure_topic, produce, publish
from tests.helpers import PARTITIONS, assert_exactly_once, state_of, wait_for_stored_positions

pytestmark = pytest.mark.integration

LIMITS = DrainLimits(batch_size=200, stall_seconds=8, max_seconds=300)


def test_postgres_restart_mid_drain_fails_the_drain_and_the_next_one_completes(
    crashable_target: tuple[PostgresCluster, DrainTarget, Feed],
) -> None:
    cluster, target, feed = crashable_target
    drain = start_drain_process(target, LIMITS)
    before = wait_for_stored_positions(cluster.dsn())
    cluster.crash()
    cluster.start()
    output, _ = drain.communicate(timeout=120)
    interrupted = outcome(drain.returncode, output)
    assert interrupted.returncode == 1, output[-3000:]
    assert "OperationalError" in output or "terminating connection" in output

    with psycopg.connect(cluster.dsn()) as conn:
        kept = state_of(conn, target)
    assert sum(kept.next_offsets.values()) >= before
    assert sum(kept.next_offsets.values()) < len(feed.messages)

    again = run_drain_process(target, LIMITS)
    assert again.returncode == 0, again.output[-3000:]
    with psycopg.connect(cluster.dsn()) as conn:
        assert_exactly_once(conn, target, feed)


def test_broker_unreachable_briefly_the_drain_waits_and_completes(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    drain = start_drain_process(target, DrainLimits(batch_size=200, stall_seconds=30, max_seconds=300))
    wait_for_stored_positions(target.dsn)
    with frozen(own_broker):
        time.sleep(4)
    output, _ = drain.communicate(timeout=120)
    assert drain.returncode == 0, output[-3000:]
    assert_exactly_once(pg, target, feed)


def test_broker_unreachable_too_long_the_drain_fails_within_its_bound(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    drain = start_drain_process(target, LIMITS)
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
    assert_exactly_once(pg, target, feed)


def test_broker_restart_loses_its_log_stored_rows_stay_and_new_events_are_found(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any, tmp_path: Path
) -> None:
    target, first = loaded_target
    drain = start_drain_process(target, LIMITS)
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
    own_broker: Broker, own_target: DrainTarget, pg: Any
) -> None:
    config = {"bootstrap.servers": own_target.bootstrap}
    feed = make_feed(20_000, run="interrupted-publish")
    events = events_of(feed)
    outage = threading.Timer(0.05, own_broker.signal, args=(19,))  # SIGSTOP
    outage.start()
    try:
        with pytest.raises(PublishError, match=r"acknowledged \d+ of 20000 events"):
            publish(config, own_target.topic, events, timeout=3)
    finally:
        outage.join()
        own_broker.signal(18)  # SIGCONT
    publish(config, own_target.topic, events, timeout=30)  # the task's retry: same events, same ids

    done = run_drain_process(own_target, LIMITS)
    assert done.returncode == 0, done.output[-3000:]
    assert done.result is not None
    state = state_of(pg, own_target)
    assert state.duplicates == 0
    assert set(state.event_ids) == feed.event_ids
    assert done.result["events"] >= len(feed.messages)
