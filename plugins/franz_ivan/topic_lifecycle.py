"""Which log the stored positions belong to, and where each partition's drain resumes.

A stored position is an offset in one particular log. When the topic is deleted and created again
(a broker that lost its log, a restored or migrated service, an operator's mistake) the offsets
start over, and a position from the old log would skip the new log's first events once it grows
past it. So each position is stored with the topic's id (KIP-516, from ``describe_topics``), and
before a partition is read the position is checked against the log:

- the topic id differs from the stored one: the topic was re-created; re-read from the beginning;
- the log ends before the stored position: the log was lost or replaced (the only sign where the
  broker gives no topic id); re-read from the beginning;
- the first retained offset is past the stored position: retention deleted events before they
  were drained; that range is recorded as a gap, and the drain goes on from the first retained one;
- no position is stored for a partition of a topic that has positions elsewhere: a new partition;
  read from its beginning.

Event ids keep a re-read from doubling rows. The sensor (:mod:`franz_ivan.pending`) and the drain
(:mod:`franz_ivan.drain`) decide with the same :func:`plan_resumes`; only the drain writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, TopicCollection, TopicPartition

from franz_ivan.hooks.kafka import PricesAdminHook
from franz_ivan.kafka_topics import DrainError, TopicMissingError

if TYPE_CHECKING:
    from confluent_kafka import Consumer

log = logging.getLogger(__name__)

WATERMARK_TIMEOUT_SECONDS = 10.0
FETCH_END_TIMEOUT_SECONDS = 10.0
FETCH_SETTLE_SECONDS = 1.0
"""How long a fetch beyond the end is given to answer before its watermark is trusted (librdkafka
fetches every 0.5 s at most by default)."""
DESCRIBE_TIMEOUT_SECONDS = 10.0


class Reason(StrEnum):
    """Why a partition is not resumed at its stored position (the ``reason`` column)."""

    TOPIC_RECREATED = "topic_recreated"
    LOG_ENDS_BEFORE_POSITION = "log_ends_before_position"
    RETENTION = "retention"
    NEW_PARTITION = "new_partition"


@dataclass(frozen=True, slots=True)
class StoredPosition:
    """A partition's stored next offset and the id of the log it was read from (None: unknown)."""

    next_offset: int
    topic_id: str | None


@dataclass(frozen=True, slots=True)
class LogBounds:
    """A partition's first retained offset and its end (the offset the next event will get)."""

    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Resume:
    """Where one partition is read from next, and why if that is not its stored position.

    :param partition: the partition.
    :param offset: the next offset to read (the log start for a re-read).
    :param reason: None when the stored position (or, never drained, the beginning) is simply used.
    :param detail: the reason in words, with the numbers, for the log and the table.
    :param stored: the stored position, if any.
    :param bounds: the log's bounds as observed.
    :param topic_id: the topic's current id, None if the broker gives none.
    """

    partition: int
    offset: int
    reason: Reason | None
    detail: str
    stored: StoredPosition | None
    bounds: LogBounds
    topic_id: str | None

    @property
    def pending(self) -> int:
        """Events between where reading resumes and the end of the log."""
        return max(self.bounds.high - self.offset, 0)

    @property
    def gap(self) -> tuple[int, int] | None:
        """The offsets (both included) that retention deleted before they were drained."""
        if self.reason is not Reason.RETENTION or self.stored is None:
            return None
        return self.stored.next_offset, self.bounds.low - 1

    @property
    def rewrites_position(self) -> bool:
        """Whether the drain stores this position before reading: a reset, a partition without a
        stored position yet (so that one added later is told apart), or an id to adopt."""
        if self.stored is None or self.reason is not None:
            return True
        return self.topic_id is not None and self.stored.topic_id != self.topic_id


def decide(
    partition: int,
    stored: StoredPosition | None,
    topic_id: str | None,
    bounds: LogBounds,
    topic_has_positions: bool,
) -> Resume:
    """Where to resume ``partition``, given its stored position and its log as the broker reports it.

    :param partition: the partition.
    :param stored: its stored position, None if it was never drained.
    :param topic_id: the topic's current id, None if the broker gives none.
    :param bounds: the first retained offset and the true end of the partition's log.
    :param topic_has_positions: whether other partitions of the topic have stored positions (then
        one without is new, which is worth a record).
    """

    def resume(offset: int, reason: Reason | None, detail: str) -> Resume:
        return Resume(partition, offset, reason, detail, stored, bounds, topic_id)

    if stored is None:
        if topic_has_positions:
            return resume(bounds.low, Reason.NEW_PARTITION, "a new partition; read from its beginning")
        return resume(bounds.low, None, "")
    position = stored.next_offset
    if stored.topic_id is not None and topic_id is not None and stored.topic_id != topic_id:
        return resume(
            bounds.low,
            Reason.TOPIC_RECREATED,
            f"the topic was re-created: the stored position {position} belongs to the log with id "
            f"{stored.topic_id}, the topic's id is now {topic_id}; re-read from the beginning",
        )
    if bounds.high < position:
        return resume(
            bounds.low,
            Reason.LOG_ENDS_BEFORE_POSITION,
            f"the log ends at offset {bounds.high}, before the stored position {position} (topic "
            "re-created or broker log lost); re-read from the beginning",
        )
    if bounds.low > position:
        return resume(
            bounds.low,
            Reason.RETENTION,
            f"events {position} to {bounds.low - 1} were deleted (retention) before they were drained; "
            f"going on from offset {bounds.low}",
        )
    return resume(position, None, "")


class TopicIdentity:
    """Reads a topic's id (KIP-516) through an admin client.

    :param config: librdkafka configuration of the cluster (the Kafka connection's extra).
    :param timeout: seconds one lookup may wait.
    """

    def __init__(self, config: dict[str, Any], timeout: float = DESCRIBE_TIMEOUT_SECONDS) -> None:

        self.admin = PricesAdminHook(config=config).get_conn
        self.timeout = timeout

    def topic_id(self, topic: str) -> str | None:
        """The topic's id; None if the broker gives none. Raises :class:`TopicMissingError`."""

        futures = self.admin.describe_topics(TopicCollection([topic]), request_timeout=self.timeout)
        try:
            description = futures[topic].result(timeout=self.timeout + 1)
        except KafkaException as error:
            code = error.args[0].code()
            if code == KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise TopicMissingError(
                    f"topic {topic!r} does not exist (yet: the producer creates it)"
                ) from None
            if code in (KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION):
                return None
            raise DrainError(f"cannot describe topic {topic!r}: {error}") from None
        except TimeoutError:
            raise DrainError(f"Kafka did not describe topic {topic!r} within {self.timeout:g} s") from None
        uuid = description.topic_id
        if uuid is None or (uuid.get_most_significant_bits() == 0 and uuid.get_least_significant_bits() == 0):
            return None  # a broker without topic ids answers with the zero id
        return str(uuid)


def fetched_ends(
    consumer: Consumer, topic: str, offsets: Mapping[int, int], timeout: float = FETCH_END_TIMEOUT_SECONDS
) -> dict[int, int]:
    """Each partition's end as a fetch from ``offsets`` reports it (the fetch high watermark).

    ListOffsets is not enough to tell a log that ends before a stored position: Tansu answers it
    with the base offset of the last record batch + 1, below the true end. A fetch's high watermark
    is the true end on every broker. A partition's end is taken at its end-of-partition event, or
    from the watermark the fetch left once a message arrived or (Tansu, asked beyond the end: it
    answers with no data and no error) after :data:`FETCH_SETTLE_SECONDS`, since librdkafka keeps a
    watermark from an earlier fetch until a new one answers. The consumer is assigned for the
    fetch and unassigned after; what it reads is dropped, nothing is stored or committed.
    """

    consumer.assign([TopicPartition(topic, p, o) for p, o in sorted(offsets.items())])
    ends: dict[int, int] = {}
    answered: set[int] = set()
    started = time.monotonic()
    try:
        while True:
            for message in consumer.consume(num_messages=500, timeout=0.2):
                partition, error = message.partition(), message.error()
                if partition is None or partition not in offsets or partition in ends:
                    continue
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    ends[partition] = message.offset() or 0
                elif error is None:
                    answered.add(partition)
            settled = time.monotonic() - started > FETCH_SETTLE_SECONDS
            for partition in set(offsets) - set(ends):
                if partition in answered or settled:
                    _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
                    if high >= 0:
                        ends[partition] = high
            if len(ends) == len(offsets):
                return ends
            if time.monotonic() - started > timeout:
                missing = sorted(set(offsets) - set(ends))
                raise DrainError(f"Kafka reported no end for {topic}{missing} within {timeout:g} s")
    finally:
        consumer.unassign()


def plan_resumes(
    consumer: Consumer,
    topic: str,
    partitions: Iterable[int],
    positions: Mapping[int, StoredPosition],
    topic_id: str | None,
    *,
    topic_has_positions: bool | None = None,
    new_prober: Callable[[], Consumer] | None = None,
) -> dict[int, Resume]:
    """Decide where each of ``partitions`` resumes, reading the broker's watermarks (nothing is written).

    :param consumer: a consumer of the cluster, not subscribed; assigned only to probe ends.
    :param topic: the topic.
    :param partitions: the partitions to decide for.
    :param positions: the stored positions (of these partitions at least).
    :param topic_id: the topic's current id, None if the broker gives none.
    :param topic_has_positions: whether the topic has stored positions at all (by default: whether
        ``positions`` holds any).
    :param new_prober: makes a consumer for the fetch that finds a log's true end, closed after it;
        by default ``consumer`` fetches. A long-lived consumer must not: librdkafka 2.16 crashes the
        process (SIGSEGV) when a topic a consumer has fetched from is deleted and created again.
    """

    if topic_has_positions is None:
        topic_has_positions = bool(positions)
    bounds: dict[int, LogBounds] = {}
    for partition in partitions:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(topic, partition), timeout=WATERMARK_TIMEOUT_SECONDS
            )
        except KafkaException as error:
            raise DrainError(f"cannot read the end offsets of {topic}[{partition}]: {error}") from None
        bounds[partition] = LogBounds(low, high)
    # Where ListOffsets puts the end before a position from the same log, ask a fetch for the true end.
    doubtful = {
        partition: stored.next_offset
        for partition, stored in positions.items()
        if partition in bounds
        and bounds[partition].high < stored.next_offset
        and (stored.topic_id is None or topic_id is None or stored.topic_id == topic_id)
    }
    if doubtful:
        prober = new_prober() if new_prober is not None else consumer
        try:
            for partition, high in fetched_ends(prober, topic, doubtful).items():
                bounds[partition] = LogBounds(bounds[partition].low, max(high, bounds[partition].high))
        finally:
            if prober is not consumer:
                prober.close()
    return {
        partition: decide(
            partition, positions.get(partition), topic_id, bounds[partition], topic_has_positions
        )
        for partition in bounds
    }
