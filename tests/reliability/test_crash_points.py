"""SIGKILL the drain at each point of a batch's life, run it again: every event stored exactly once."""

from __future__ import annotations

from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from devtools.faults import DrainTarget, run_drain_process
from franz_ivan.drain import DrainLimits
from tests.helpers import PARTITIONS, assert_exactly_once, batches_committed, produce_feed, state_of

pytestmark = pytest.mark.integration

LIMITS = DrainLimits(batch_size=150, stall_seconds=20, max_seconds=120)


def kafka_group_offsets(target: DrainTarget) -> dict[int, int]:
    """What the Kafka consumer group holds (the mirror), partition by partition."""
    consumer = Consumer({"bootstrap.servers": target.bootstrap, "group.id": target.group})
    try:
        wanted = [TopicPartition(target.topic, p) for p in range(PARTITIONS)]
        return {tp.partition: tp.offset for tp in consumer.committed(wanted, timeout=10)}
    finally:
        consumer.close()


@pytest.mark.parametrize("on_batch", [1, 4])
def test_killed_drain_resumes_without_loss_or_duplicates(
    target: DrainTarget, pg: Any, kill_at: str, on_batch: int
) -> None:
    feed = produce_feed(target, 1200, run=f"crash-{kill_at}-{on_batch}", resend_every=40, malformed_every=97)

    killed = run_drain_process(target, LIMITS, kill_at=kill_at, on_batch=on_batch)
    assert killed.killed, killed.output[-3000:]
    after_kill = state_of(pg, target)
    committed_batches = batches_committed(kill_at, on_batch)
    # Only whole batches are stored: the killed transaction left nothing behind.
    stored_rows = len(after_kill.event_ids) + len(after_kill.dead_letters)
    assert sum(after_kill.next_offsets.values()) == committed_batches * LIMITS.batch_size
    assert stored_rows <= sum(after_kill.next_offsets.values())
    if kill_at == "committed":
        # PostgreSQL has the positions the Kafka group never got: they are the ones that count.
        mirrored = kafka_group_offsets(target)
        assert sum(max(o, 0) for o in mirrored.values()) < sum(after_kill.next_offsets.values())

    again = run_drain_process(target, LIMITS)
    assert again.returncode == 0, again.output[-3000:]
    assert again.result is not None
    assert_exactly_once(pg, target, feed)
    assert again.result["events"] == len(feed.messages) - committed_batches * LIMITS.batch_size
    assert kafka_group_offsets(target) == state_of(pg, target).next_offsets
