"""The drain's writer thread: batches committed one at a time and in order, and a failed write
stops the drain with its own error, the batches before it kept and nothing after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import pytest

from devtools.faults import Feed, make_feed, stored_state
from devtools.local_stack import Broker
from franz_ivan.drain import Drain, DrainLimits
from franz_ivan.drain_runner import open_drain
from franz_ivan.publish import ensure_topic, produce
from franz_ivan.store import Batch, BatchCounts, PriceStore

pytestmark = pytest.mark.integration

GROUP = "crypto_prices_consumer"
LIMITS = DrainLimits(batch_size=100, stall_seconds=20, max_seconds=60)


class WriteFailed(RuntimeError):
    pass


class RecordingStore(PriceStore):
    """Records each write's positions and the thread that made it; fails write ``fail_on`` if given."""

    def __init__(self, *args: Any, fail_on: int | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fail_on = fail_on
        self.writes: list[dict[int, int]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    def write(self, batch: Batch) -> BatchCounts:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if len(self.writes) + 1 == self.fail_on:
                raise WriteFailed(f"write {self.fail_on} failed")
            counts = super().write(batch)
            self.writes.append(dict(batch.next_offsets))
            return counts
        finally:
            self.in_flight -= 1


@contextmanager
def loaded_drain(
    broker: Broker, database: Any, topic: str, run: str, fail_on: int | None = None
) -> Iterator[tuple[Drain, RecordingStore, Feed]]:
    """A drain of ``topic`` (three partitions, 1,000 messages of ``run``) into a :class:`RecordingStore`
    that fails write ``fail_on``."""
    config = {"bootstrap.servers": broker.bootstrap}
    ensure_topic(config, topic, 3, timeout=30)
    feed = make_feed(1000, run=run, resend_every=40, malformed_every=97)
    produce(config, topic, feed.messages)
    with open_drain(
        config,
        database.connect,
        topic,
        GROUP,
        limits=LIMITS,
        store=partial(RecordingStore, fail_on=fail_on),
        mirror=None,
    ) as running:
        assert isinstance(running.store, RecordingStore)
        yield running, running.store, feed


def test_batches_are_committed_one_at_a_time_in_order(
    broker: Broker, database: Any, topic: str, pg: Any
) -> None:
    with loaded_drain(broker, database, topic, "writer-order") as (running, store, feed):
        result = running.run()

    assert store.most_in_flight == 1
    assert len(store.writes) == result.batches >= 10
    for partition in range(3):
        positions = [written[partition] for written in store.writes if partition in written]
        assert positions == sorted(positions), f"partition {partition} went backwards: {positions}"
    assert result.next_offsets == stored_state(pg, topic, GROUP).next_offsets
    assert sum(result.next_offsets.values()) == len(feed.messages)


def test_a_failed_write_stops_the_drain_with_its_error_and_keeps_the_batches_before(
    broker: Broker, database: Any, topic: str, pg: Any
) -> None:
    with (
        loaded_drain(broker, database, topic, "writer-fails", fail_on=3) as (running, store, _),
        pytest.raises(WriteFailed, match="write 3 failed"),
    ):
        running.run()

    assert len(store.writes) == 2
    stored = stored_state(pg, topic, GROUP)
    assert sum(stored.next_offsets.values()) == 2 * LIMITS.batch_size
    assert len(stored.event_ids) + len(stored.dead_letters) <= 2 * LIMITS.batch_size
