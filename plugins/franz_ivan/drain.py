"""Drain every pending event of the topic into PostgreSQL, exactly once in effect.

The positions live in PostgreSQL (:mod:`franz_ivan.store`): the drain assigns each partition at
its stored next offset (no group join, no rebalance), reads until every partition reports its
end, and writes each batch together with the new positions in one transaction. Only after that
commit are the positions mirrored to the Kafka consumer group, so that Kafka tools show the lag;
that mirror is informational and never read back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from confluent_kafka import OFFSET_BEGINNING, KafkaError, KafkaException, TopicPartition

from franz_ivan.drain_writer import BatchWriter, DrainResult
from franz_ivan.encoded_price import encoded_price_row
from franz_ivan.event_fields import EventError
from franz_ivan.events import AllowanceEvent, Located, decode
from franz_ivan.kafka_topics import FINAL_MIRROR_TIMEOUT_SECONDS, DrainError, partition_ids, position
from franz_ivan.limits import DrainLimits
from franz_ivan.store import Batch, DeadLetter
from franz_ivan.topic_lifecycle import plan_resumes

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

    from franz_ivan.kafka_topics import GroupMirror
    from franz_ivan.store import PriceStore
    from franz_ivan.topic_lifecycle import Resume, TopicIdentity

log = logging.getLogger(__name__)

CONSUME_MESSAGES = 5_000
"""At most this many messages per ``consume()``: it returns as soon as that many are there, well
under the read-ahead's bound, and their objects are freed a few times per batch."""


def add_to_batch(message: Message, batch: Batch) -> None:
    """Add one message to ``batch``: as a price, an allowance, or a dead letter with the reason."""
    partition, offset = position(message)
    try:
        event = decode(message.value())
    except EventError as error:
        batch.dead_letters.append(DeadLetter(partition, offset, message.key(), message.value(), str(error)))
    else:
        if isinstance(event, AllowanceEvent):
            batch.allowances.append(Located(event, partition, offset))
        elif event.candle is None:
            batch.prices.append(Located(event, partition, offset))
        else:
            batch.candles.append(Located(event, partition, offset))
    batch.next_offsets[partition] = offset + 1


class Drain:
    """One drain of ``store.topic`` (all partitions, or the given ones) from the stored positions to the end.

    :param consumer: a confluent-kafka consumer built with
        :func:`franz_ivan.hooks.kafka.consumer_settings`; not subscribed.
    :param store: where the events and positions go.
    :param limits: batch size and time bounds.
    :param partitions: drain only these partitions (parallel drains split a topic this way).
    :param mirror: copies each committed position to the Kafka group (lag display); none by default.
    :param identity: reads the topic's id, stored with the positions so that a re-created topic is
        re-read from its beginning; without it (or from a broker that gives none) a replaced log is
        told only by ending before a stored position.
    """

    def __init__(
        self,
        consumer: Consumer,
        store: PriceStore,
        limits: DrainLimits | None = None,
        partitions: Sequence[int] | None = None,
        mirror: GroupMirror | None = None,
        *,
        identity: TopicIdentity | None = None,
    ) -> None:
        self.consumer = consumer
        self.identity = identity
        self.store = store
        self.limits = limits or DrainLimits()
        self.only_partitions = partitions
        self.result = DrainResult()
        self.at_end: set[int] = set()
        self.batch = Batch()
        self.resume_at: dict[int, int] = {}
        """Stored positions, confirmed against the log, of the partitions that have not delivered
        anything yet in this drain (a safety net for a log replaced while the drain starts)."""
        self.mirror = mirror
        self.writer = BatchWriter(store, self.result, mirror)

    def run(self) -> DrainResult:
        """Drain, each batch committed by a writer thread while the next one is read."""
        self.writer.start()
        try:
            return self.drain()
        finally:
            self.writer.stop()

    def drain(self) -> DrainResult:

        started = time.monotonic()
        topic = self.store.topic
        self.store.prepare()
        partitions = partition_ids(self.consumer, topic)
        if self.only_partitions is not None:
            unknown = set(self.only_partitions) - set(partitions)
            if unknown:
                raise DrainError(f"topic {topic!r} has no partitions {sorted(unknown)}")
            partitions = sorted(self.only_partitions)
        self.store.lock_partitions(partitions)
        resumes = self.resume_positions(partitions)
        self.result.next_offsets = {p: resume.offset for p, resume in resumes.items()}
        self.resume_at = {
            p: r.offset for p, r in resumes.items() if r.reason is None and r.stored is not None
        }
        self.consumer.assign(
            [TopicPartition(topic, p, self.resume_at.get(p, OFFSET_BEGINNING)) for p in partitions]
        )
        log.info("Draining %s from %s", topic, {p: self.resume_at.get(p, "beginning") for p in partitions})

        last_progress = time.monotonic()
        while len(self.at_end) < len(partitions) and time.monotonic() - started < self.limits.max_seconds:
            if self.read():
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.limits.stall_seconds:
                self.flush(wait=True)
                raise DrainError(
                    f"Kafka gave neither events nor end-of-partition for {self.limits.stall_seconds:g} s "
                    f"(partitions not at end: {sorted(set(partitions) - self.at_end)}); "
                    f"stored up to {self.result.next_offsets}"
                )
            if len(self.batch) >= self.limits.batch_size or len(self.at_end) == len(partitions):
                self.flush()
        self.flush(wait=True)
        self.mirror_stored_positions(partitions)
        self.result.seconds = round(time.monotonic() - started, 3)
        log.info(
            "Drained %d events in %.1f s: %d prices, %d allowances, %d dead letters, %d duplicates skipped",
            self.result.events,
            self.result.seconds,
            self.result.prices,
            self.result.allowances,
            self.result.dead_letters,
            self.result.duplicates,
        )
        if len(self.at_end) < len(partitions):
            log.warning(
                "Stopped after %.0f s with events still pending; the next run goes on", self.result.seconds
            )
        return self.result

    def read(self) -> int:
        """One poll: add what arrived to the batch; return how many messages (events or ends) came."""

        messages = self.consumer.consume(
            num_messages=min(self.limits.batch_size - len(self.batch), CONSUME_MESSAGES),
            timeout=self.limits.poll_seconds,
        )
        progress = events = 0
        batch, resume_at, at_end = self.batch, self.resume_at, self.at_end
        price_rows, next_offsets = batch.price_rows, batch.next_offsets
        try:
            for message in messages:
                error = message.error()
                if error is None:
                    # The hot path (~1 µs an event): a price event exactly as encoded becomes its
                    # COPY line; anything else is decoded and validated in full by add_to_batch.
                    partition, offset = position(message)
                    if resume_at:
                        self.note_first_offset(partition, offset)
                    if partition in at_end:
                        at_end.discard(partition)
                    row = encoded_price_row(message.value(), partition, offset)
                    if row is None:
                        add_to_batch(message, batch)
                    else:
                        price_rows[row[0]].append(row[1])
                        next_offsets[partition] = offset + 1
                    events += 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    partition = position(message)[0]
                    resume_at.pop(partition, None)
                    at_end.add(partition)
                elif message.topic() is None and not error.fatal():
                    # The client reconnects by itself (broker restarting, connection reset); a
                    # broker that stays away is caught by stall_seconds: no progress.
                    log.warning("Kafka client: %s; retrying", error.str())
                    continue
                else:
                    raise DrainError(
                        f"reading {self.store.topic}[{message.partition()}] failed: {error.str()}"
                    )
                progress += 1
        finally:
            self.result.events += events
        return progress

    def note_first_offset(self, partition: int, offset: int) -> None:
        """Warn if a partition's first event is not where its stored position said it would be."""
        expected = self.resume_at.pop(partition, None)
        if expected is not None and offset < expected:
            # librdkafka's auto.offset.reset found the stored position out of range and went back.
            log.warning(
                "%s[%d]: the stored position %d is beyond the end of the log (topic recreated or broker "
                "log lost); re-reading from offset %d, event ids keep stored rows from doubling",
                self.store.topic, partition, expected, offset,
            )  # fmt: skip
        elif expected is not None and offset > expected:
            log.warning(
                "%s[%d]: events %d to %d were deleted (retention) before they were drained",
                self.store.topic, partition, expected, offset - 1,
            )  # fmt: skip

    def resume_positions(self, partitions: list[int]) -> dict[int, Resume]:
        """Check the stored positions against the log, store the resets, and say where each partition resumes.

        A re-created topic, a log that ends before its stored position, or a new partition is
        read from its beginning; offsets deleted by retention are recorded as a gap. Each reset is
        logged and stored with its reason before anything is read (see :mod:`franz_ivan.topic_lifecycle`).
        """

        topic = self.store.topic
        topic_id = self.identity.topic_id(topic) if self.identity is not None else None
        if self.identity is not None and topic_id is None:
            log.warning(
                "The broker gives no id for topic %s: a re-created topic is noticed only while its log "
                "ends before the stored positions",
                topic,
            )
        positions = self.store.stored_positions()
        mine = {p: position for p, position in positions.items() if p in partitions}
        resumes = plan_resumes(
            self.consumer, topic, partitions, mine, topic_id, topic_has_positions=bool(positions)
        )
        for resume in resumes.values():
            if resume.reason is not None:
                log.warning("%s[%d]: %s", topic, resume.partition, resume.detail)
        self.store.record_resumes(resumes.values())
        self.store.topic_id = topic_id
        return resumes

    def mirror_stored_positions(self, partitions: list[int]) -> None:
        """Copy the stored positions of ``partitions`` to the Kafka group once more, at the end.

        The copies after each batch stop at their first failure (a copy that timed out under load,
        say), which would leave the group behind the stored positions for good. This last copy, whatever
        those did, makes the group equal the stored positions after every drain that ends normally.
        It waits at most :data:`franz_ivan.kafka_topics.FINAL_MIRROR_TIMEOUT_SECONDS`; a failure is
        logged, not raised, since everything is stored already.
        """
        if self.mirror is None:
            return
        stored = self.store.stored_positions()
        offsets = {p: stored[p].next_offset for p in partitions if p in stored}
        if not offsets:
            return
        try:
            self.mirror.copy(offsets, timeout=FINAL_MIRROR_TIMEOUT_SECONDS)
        except (KafkaException, TimeoutError) as error:
            log.warning(
                "Could not mirror the stored positions %s to the Kafka group at the end of the drain "
                "(lag display only; the next drain tries again): %s",
                offsets,
                error,
            )

    def flush(self, *, wait: bool = False) -> None:
        """Hand the batch to the writer, which commits it with its positions while the next batch is read.

        Batches are committed one at a time and in order: this first waits for the previous one
        (raising its error, if it failed). With ``wait``, it also waits for this one.
        """
        self.writer.wait()
        if self.batch.next_offsets:
            batch, self.batch = self.batch, Batch()
            self.writer.submit(batch)
        if wait:
            self.writer.wait()
