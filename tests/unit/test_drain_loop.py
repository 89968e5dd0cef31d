"""The drain loop (:class:`franz_ivan.drain.Drain`) against a fake consumer and a fake store.

The fake consumer serves in-memory logs the way librdkafka does (messages from the assigned
offsets on, then one end-of-partition event per partition); the fake store keeps what the writer
thread commits. The real broker and database: tests/integration/test_drain.py.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

from franz_ivan.drain import Drain, DrainLimits
from franz_ivan.events import AllowanceEvent, Market, PriceEvent, encode
from franz_ivan.kafka_topics import FINAL_MIRROR_TIMEOUT_SECONDS, DrainError
from franz_ivan.store import Batch, BatchCounts
from franz_ivan.topic_lifecycle import Reason, Resume, StoredPosition

TOPIC = "crypto_prices_unit"
MARKET = Market("cryptowatch", "coinbase-pro", "btcusd")
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
UNDECODABLE = b'{"schema_version": 1, "type": "price", "price": '
QUICK = DrainLimits(batch_size=20_000, max_seconds=30.0, stall_seconds=5.0, poll_seconds=0.01)


def price(index: int) -> bytes:
    event = PriceEvent(
        str(uuid.uuid4()), MARKET, START + timedelta(seconds=index), Decimal(f"{100 + index}.5")
    )
    return encode(event)


def allowance(index: int) -> bytes:
    event = AllowanceEvent(str(uuid.uuid4()), MARKET, START + timedelta(seconds=index), Decimal("9.5"))
    return encode(event)


@dataclass
class FakeMessage:
    """What ``Consumer.consume`` returns: an event, or an error such as end-of-partition."""

    at_partition: int
    at_offset: int
    body: bytes | None = None
    failure: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self.failure

    def topic(self) -> str:
        return TOPIC

    def partition(self) -> int:
        return self.at_partition

    def offset(self) -> int:
        return self.at_offset

    def key(self) -> bytes:
        return MARKET.key.encode()

    def value(self) -> bytes | None:
        return self.body


class FakeConsumer:
    """A confluent-kafka consumer over in-memory logs: ``logs[p]`` holds partition p's values from
    offset ``low.get(p, 0)``. A partition in ``silent`` delivers nothing, not even its end; with
    ``endless`` every poll brings new events (a producer faster than the drain)."""

    def __init__(
        self,
        logs: dict[int, list[bytes]],
        *,
        low: dict[int, int] | None = None,
        silent: Iterable[int] = (),
        endless: bool = False,
    ) -> None:
        self.logs = logs
        self.low = low or {}
        self.silent = set(silent)
        self.endless = endless
        self.assigned: dict[int, int] = {}
        """Partition -> offset as the drain assigned it (OFFSET_BEGINNING included)."""
        self.next: dict[int, int] = {}
        self.ended: set[int] = set()
        self.asked: list[int] = []
        """``num_messages`` of each consume."""

    def end(self, partition: int) -> int:
        return self.low.get(partition, 0) + len(self.logs[partition])

    def list_topics(self, topic: str, timeout: float) -> Any:
        partitions = {p: SimpleNamespace(id=p) for p in self.logs} if topic == TOPIC else {}
        return SimpleNamespace(topics={topic: SimpleNamespace(error=None, partitions=partitions)})

    def get_watermark_offsets(self, partition: TopicPartition, **_: Any) -> tuple[int, int]:
        return self.low.get(partition.partition, 0), self.end(partition.partition)

    def assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned[tp.partition] = tp.offset
            self.next[tp.partition] = (
                self.low.get(tp.partition, 0) if tp.offset == OFFSET_BEGINNING else tp.offset
            )

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.asked.append(num_messages)
        if self.endless:
            for partition in self.logs:
                self.logs[partition].append(price(len(self.logs[partition])))
        messages: list[FakeMessage] = []
        for partition in sorted(self.next):
            if partition in self.silent:
                continue
            while len(messages) < num_messages and self.next[partition] < self.end(partition):
                offset = self.next[partition]
                body = self.logs[partition][offset - self.low.get(partition, 0)]
                messages.append(FakeMessage(partition, offset, body))
                self.next[partition] += 1
            if len(messages) < num_messages and partition not in self.ended and not self.endless:
                eof = KafkaError(KafkaError._PARTITION_EOF)
                messages.append(FakeMessage(partition, self.next[partition], failure=eof))
                self.ended.add(partition)
        if not messages:
            time.sleep(timeout)
        return messages

    def close(self) -> None:
        pass


def rows(batch: Batch) -> list[tuple[int, int]]:
    """(partition, offset) of every row in ``batch``, whatever path it took."""
    found = [
        (int(line.split("\t")[-2]), int(line.split("\t")[-1]))
        for lines in batch.price_rows.values()
        for line in lines
    ]
    located = [*batch.prices, *batch.candles, *batch.allowances]
    found += [(item.partition, item.offset) for item in located]
    found += [(letter.partition, letter.offset) for letter in batch.dead_letters]
    return sorted(found)


@dataclass
class FakeStore:
    """Keeps each committed batch and the positions; ``fail_at`` makes that write (1-based) raise."""

    positions: dict[int, StoredPosition] = field(default_factory=dict)
    fail_at: int | None = None
    topic: str = TOPIC
    topic_id: str | None = None
    written: list[Batch] = field(default_factory=list)
    positions_after: list[dict[int, int]] = field(default_factory=list)
    """The stored next offsets after each write."""
    locked: list[int] = field(default_factory=list)
    resumes: list[Resume] = field(default_factory=list)
    writer_threads: set[str] = field(default_factory=set)

    def prepare(self) -> None:
        pass

    def lock_partitions(self, partitions: Iterable[int]) -> None:
        self.locked = list(partitions)

    def stored_positions(self) -> dict[int, StoredPosition]:
        return dict(self.positions)

    def record_resumes(self, resumes: Iterable[Resume]) -> None:
        self.resumes = list(resumes)

    def write(self, batch: Batch) -> BatchCounts:
        self.writer_threads.add(threading.current_thread().name)
        if self.fail_at == len(self.written) + 1:
            raise RuntimeError("the database went away")
        self.written.append(batch)
        for partition, offset in batch.next_offsets.items():
            self.positions[partition] = StoredPosition(offset, self.topic_id)
        self.positions_after.append({p: stored.next_offset for p, stored in self.positions.items()})
        prices = batch.price_count + len(batch.candles)
        return BatchCounts(prices, len(batch.allowances), len(batch.dead_letters), duplicates=0)


def drain(
    consumer: FakeConsumer,
    store: FakeStore,
    limits: DrainLimits = QUICK,
    partitions: Sequence[int] | None = None,
) -> Drain:
    return Drain(consumer, store, limits, partitions)  # type: ignore[arg-type]


def test_every_event_is_written_once_in_batches_of_at_most_the_batch_size() -> None:
    logs = {p: [price(i) for i in range(7)] for p in range(3)}
    consumer, store = FakeConsumer(logs), FakeStore()

    result = drain(consumer, store, DrainLimits(batch_size=5, poll_seconds=0.01)).run()

    written = [row for batch in store.written for row in rows(batch)]
    assert sorted(written) == [(p, o) for p in range(3) for o in range(7)]
    assert all(0 < len(batch) <= 5 for batch in store.written)
    assert len(store.written) == 5
    assert max(consumer.asked) <= 5
    assert (result.events, result.prices, result.batches) == (21, 21, 5)
    assert result.next_offsets == {0: 7, 1: 7, 2: 7}


def test_each_batch_carries_the_positions_of_its_own_rows() -> None:
    logs = {0: [price(i) for i in range(6)], 1: [price(i) for i in range(4)]}
    store = FakeStore()

    drain(FakeConsumer(logs), store, DrainLimits(batch_size=3, poll_seconds=0.01)).run()

    seen: dict[int, int] = {}
    for batch, positions in zip(store.written, store.positions_after, strict=True):
        mine: dict[int, int] = {}
        for partition, offset in rows(batch):
            assert offset == seen.get(partition, 0), "a row skipped or repeated"
            seen[partition] = offset + 1
            mine[partition] = offset + 1
        assert batch.next_offsets == mine
        assert positions == seen
    assert seen == {0: 6, 1: 4}


def test_undecodable_messages_become_dead_letters_with_their_position_and_reason() -> None:
    logs = {0: [price(0), UNDECODABLE, allowance(2), b"", price(4)]}
    store = FakeStore()

    result = drain(FakeConsumer(logs), store).run()

    [batch] = store.written
    assert [(letter.partition, letter.offset, letter.value) for letter in batch.dead_letters] == [
        (0, 1, UNDECODABLE),
        (0, 3, b""),
    ]
    assert all(letter.error for letter in batch.dead_letters)
    assert [item.offset for item in batch.allowances] == [2]
    assert batch.price_count == 2
    assert batch.next_offsets == {0: 5}
    assert (result.events, result.prices, result.allowances, result.dead_letters) == (5, 2, 1, 2)


def test_a_drain_resumes_at_the_stored_positions_and_a_new_partition_at_its_beginning() -> None:
    logs = {p: [price(i) for i in range(6)] for p in range(3)}
    consumer = FakeConsumer(logs, low={1: 1})
    store = FakeStore(positions={0: StoredPosition(4, None), 1: StoredPosition(2, None)})

    result = drain(consumer, store).run()

    assert consumer.assigned == {0: 4, 1: 2, 2: OFFSET_BEGINNING}
    assert [row for batch in store.written for row in rows(batch)] == [
        *[(0, o) for o in (4, 5)],
        *[(1, o) for o in (2, 3, 4, 5, 6)],
        *[(2, o) for o in range(6)],
    ]
    assert {r.partition: (r.offset, r.reason) for r in store.resumes} == {
        0: (4, None),
        1: (2, None),
        2: (0, Reason.NEW_PARTITION),
    }
    assert result.next_offsets == {0: 6, 1: 7, 2: 6}
    assert result.events == 13


def test_retention_past_the_stored_position_resumes_at_the_first_retained_offset() -> None:
    consumer = FakeConsumer({0: [price(i) for i in range(3)]}, low={0: 5})
    store = FakeStore(positions={0: StoredPosition(2, None)})

    result = drain(consumer, store).run()

    [resume] = store.resumes
    assert (resume.offset, resume.reason, resume.gap) == (5, Reason.RETENTION, (2, 4))
    assert [row for batch in store.written for row in rows(batch)] == [(0, 5), (0, 6), (0, 7)]
    assert result.next_offsets == {0: 8}


def test_only_the_given_partitions_are_locked_and_read() -> None:
    logs = {p: [price(i) for i in range(2)] for p in range(3)}
    consumer, store = FakeConsumer(logs), FakeStore()

    result = drain(consumer, store, partitions=[2, 0]).run()

    assert store.locked == [0, 2]
    assert set(consumer.assigned) == {0, 2}
    assert {p for batch in store.written for p, _ in rows(batch)} == {0, 2}
    assert result.next_offsets == {0: 2, 2: 2}


def test_a_partition_the_topic_lacks_is_refused_before_anything_is_read() -> None:
    consumer, store = FakeConsumer({0: [price(0)]}), FakeStore()

    with pytest.raises(DrainError, match=r"has no partitions \[5\]"):
        drain(consumer, store, partitions=[0, 5]).run()

    assert consumer.assigned == {}
    assert store.written == []


def test_a_broker_that_stalls_fails_the_drain_after_storing_what_came() -> None:
    logs = {0: [price(i) for i in range(3)], 1: [price(0)]}
    limits = DrainLimits(stall_seconds=0.3, poll_seconds=0.01)
    store = FakeStore()
    started = time.monotonic()

    with pytest.raises(DrainError) as raised:
        drain(FakeConsumer(logs, silent=[1]), store, limits).run()

    assert 0.3 <= time.monotonic() - started < 5
    message = str(raised.value)
    assert "neither events nor end-of-partition for 0.3 s" in message
    assert "partitions not at end: [1]" in message
    assert "stored up to {0: 3, 1: 0}" in message
    assert store.positions_after[-1] == {0: 3}


def test_max_seconds_ends_the_drain_successfully_with_everything_read_stored() -> None:
    consumer, store = FakeConsumer({0: [], 1: []}, endless=True), FakeStore()
    started = time.monotonic()

    result = drain(
        consumer, store, DrainLimits(batch_size=1_000_000, max_seconds=0.2, poll_seconds=0.01)
    ).run()

    assert 0.2 <= time.monotonic() - started < 5
    [batch] = store.written
    written = rows(batch)
    assert result.events == len(written) > 0
    assert result.next_offsets == {p: max(o for q, o in written if q == p) + 1 for p in (0, 1)}
    assert store.positions_after == [result.next_offsets]


def test_batches_are_written_by_the_writer_thread() -> None:
    store = FakeStore()

    drain(FakeConsumer({0: [price(i) for i in range(4)]}), store, DrainLimits(batch_size=2)).run()

    assert len(store.written) == 2
    assert {name.split("_")[0] for name in store.writer_threads} == {"drain-writer"}


def test_a_failed_write_fails_the_drain_and_nothing_after_it_is_written() -> None:
    logs = {0: [price(i) for i in range(10)]}
    store = FakeStore(fail_at=2)
    running = drain(FakeConsumer(logs), store, DrainLimits(batch_size=2, poll_seconds=0.01))

    with pytest.raises(RuntimeError, match="the database went away"):
        running.run()

    assert [rows(batch) for batch in store.written] == [[(0, 0), (0, 1)]]
    assert store.positions_after == [{0: 2}]
    assert running.writer.thread is None


def test_a_kafka_error_on_a_partition_fails_the_drain_naming_it() -> None:
    class BrokenConsumer(FakeConsumer):
        def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
            return [FakeMessage(0, 0, failure=KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"))]

    with pytest.raises(DrainError, match=rf"reading {TOPIC}\[0\] failed: denied"):
        drain(BrokenConsumer({0: [price(0)]}), FakeStore()).run()


@dataclass
class FakeMirror:
    """Records each copy to the Kafka group with its timeout; the copies numbered in ``fail`` (1-based)
    time out."""

    fail: set[int] = field(default_factory=set)
    copies: list[tuple[dict[int, int], float | None]] = field(default_factory=list)

    def copy(self, next_offsets: dict[int, int], timeout: float | None = None) -> None:
        self.copies.append((dict(next_offsets), timeout))
        if len(self.copies) in self.fail:
            raise TimeoutError("the group did not answer")


def test_a_mirror_that_failed_during_the_drain_is_tried_again_at_its_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logs = {0: [price(i) for i in range(6)], 1: [price(i) for i in range(3)]}
    store, mirror = FakeStore(positions={2: StoredPosition(5, None)}), FakeMirror(fail={1})

    Drain(FakeConsumer(logs), store, DrainLimits(batch_size=2, poll_seconds=0.01), [0, 1], mirror).run()  # type: ignore[arg-type]

    assert len(mirror.copies) == 2, "after the first failure only the last copy is made"
    assert mirror.copies[-1] == ({0: 6, 1: 3}, FINAL_MIRROR_TIMEOUT_SECONDS), "not the stored positions"
    assert "Could not mirror positions to the Kafka group" in caplog.text


def test_a_failing_last_mirror_is_logged_and_the_drain_still_succeeds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mirror = FakeMirror(fail={2})

    result = Drain(FakeConsumer({0: [price(0)]}), FakeStore(), QUICK, None, mirror).run()  # type: ignore[arg-type]

    assert result.next_offsets == {0: 1}
    assert [offsets for offsets, _ in mirror.copies] == [{0: 1}, {0: 1}]
    assert "Could not mirror the stored positions {0: 1} to the Kafka group at the end" in caplog.text
