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
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from franz_ivan.events import AllowanceEvent, EventError, decode
from franz_ivan.store import Batch, BatchCounts, DeadLetter, Located, PriceStore

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

log = logging.getLogger(__name__)

METADATA_TIMEOUT_SECONDS = 10.0


class DrainError(RuntimeError):
    """The drain could not go on; everything stored before it is consistent."""


@dataclass(frozen=True, slots=True)
class DrainLimits:
    """Bounds on one drain.

    :param batch_size: events per transaction; memory is bounded by this, not by the backlog.
    :param max_seconds: stop (successfully) after this long even if more is pending.
    :param stall_seconds: fail if the broker yields neither data nor end-of-partition this long.
    :param poll_seconds: one poll's wait.
    """

    batch_size: int = 5000
    max_seconds: float = 600.0
    stall_seconds: float = 30.0
    poll_seconds: float = 0.5


@dataclass(slots=True)
class DrainResult:
    events: int = 0
    prices: int = 0
    allowances: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    batches: int = 0
    seconds: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)

    def add(self, counts: BatchCounts) -> None:
        self.prices += counts.prices
        self.allowances += counts.allowances
        self.dead_letters += counts.dead_letters
        self.duplicates += counts.duplicates
        self.batches += 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "next_offsets": {str(p): o for p, o in self.next_offsets.items()}}


def consumer_settings(consumer_group: str) -> dict[str, Any]:
    return {
        "group.id": consumer_group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
    }


def topic_partitions(consumer: Consumer, topic: str) -> list[int]:
    """The partition ids of ``topic``; raises :class:`DrainError` if the broker or topic is missing."""
    from confluent_kafka import KafkaException

    try:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_SECONDS)
    except KafkaException as error:
        raise DrainError(f"Kafka did not answer within {METADATA_TIMEOUT_SECONDS:g} s: {error}") from None
    described = metadata.topics.get(topic)
    if described is None or described.error is not None or not described.partitions:
        problem = described.error if described is not None and described.error else "it does not exist"
        raise DrainError(f"cannot read topic {topic!r}: {problem}")
    return sorted(described.partitions)


def position(message: Message) -> tuple[int, int]:
    """The partition and offset of a consumed message (librdkafka always sets both)."""
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise DrainError(f"message without a position from {message.topic()}: {message.error()}")
    return partition, offset


def to_batch_item(message: Message, batch: Batch) -> None:
    """Add one message to ``batch``: as a price, an allowance, or a dead letter with the reason."""
    partition, offset = position(message)
    try:
        event = decode(message.value())
    except EventError as error:
        batch.dead_letters.append(DeadLetter(partition, offset, message.key(), message.value(), str(error)))
    else:
        if isinstance(event, AllowanceEvent):
            batch.allowances.append(Located(event, partition, offset))
        else:
            batch.prices.append(Located(event, partition, offset))
    batch.next_offsets[partition] = offset + 1


class Drain:
    """One drain of ``store.topic`` (all partitions, or the given ones) from the stored positions to the end.

    :param consumer: a confluent-kafka consumer built with :func:`consumer_settings`; not subscribed.
    :param store: where the events and positions go.
    :param limits: batch size and time bounds.
    :param partitions: drain only these partitions (parallel drains split a topic this way).
    """

    def __init__(
        self,
        consumer: Consumer,
        store: PriceStore,
        limits: DrainLimits | None = None,
        partitions: Sequence[int] | None = None,
    ) -> None:
        self.consumer = consumer
        self.store = store
        self.limits = limits or DrainLimits()
        self.only_partitions = partitions
        self.result = DrainResult()
        self.at_end: set[int] = set()
        self.batch = Batch()

    def run(self) -> DrainResult:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        started = time.monotonic()
        topic = self.store.topic
        self.store.prepare()
        partitions = topic_partitions(self.consumer, topic)
        if self.only_partitions is not None:
            unknown = set(self.only_partitions) - set(partitions)
            if unknown:
                raise DrainError(f"topic {topic!r} has no partitions {sorted(unknown)}")
            partitions = sorted(self.only_partitions)
        self.store.lock_partitions(partitions)
        stored = {p: o for p, o in self.store.stored_offsets().items() if p in partitions}
        self.result.next_offsets = dict(stored)
        self.consumer.assign([TopicPartition(topic, p, stored.get(p, OFFSET_BEGINNING)) for p in partitions])
        log.info("Draining %s from %s", topic, {p: stored.get(p, "beginning") for p in partitions})

        last_progress = time.monotonic()
        while len(self.at_end) < len(partitions) and time.monotonic() - started < self.limits.max_seconds:
            if self.read():
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self.limits.stall_seconds:
                self.flush()
                raise DrainError(
                    f"Kafka gave neither events nor end-of-partition for {self.limits.stall_seconds:g} s "
                    f"(partitions not at end: {sorted(set(partitions) - self.at_end)}); "
                    f"stored up to {self.result.next_offsets}"
                )
            if len(self.batch) >= self.limits.batch_size or len(self.at_end) == len(partitions):
                self.flush()
        self.flush()
        self.result.seconds = round(time.monotonic() - started, 3)
        if len(self.at_end) < len(partitions):
            log.warning(
                "Stopped after %.0f s with events still pending; the next run goes on", self.result.seconds
            )
        return self.result

    def read(self) -> int:
        """One poll: add what arrived to the batch; return how many messages (events or ends) came."""
        from confluent_kafka import KafkaError

        messages = self.consumer.consume(
            num_messages=self.limits.batch_size - len(self.batch), timeout=self.limits.poll_seconds
        )
        for message in messages:
            error = message.error()
            if error is None:
                self.at_end.discard(position(message)[0])
                to_batch_item(message, self.batch)
                self.result.events += 1
            elif error.code() == KafkaError._PARTITION_EOF:
                self.at_end.add(position(message)[0])
            else:
                raise DrainError(f"reading {self.store.topic}[{message.partition()}] failed: {error.str()}")
        return len(messages)

    def flush(self) -> None:
        """Commit the batch and its positions to PostgreSQL, then mirror the positions to Kafka."""
        if not self.batch.next_offsets:
            return
        batch, self.batch = self.batch, Batch()
        counts = self.store.write(batch)
        self.result.add(counts)
        self.result.next_offsets.update(batch.next_offsets)
        log.info(
            "Stored batch %d: %d prices, %d allowances, %d dead letters, %d duplicates skipped",
            self.result.batches,
            counts.prices,
            counts.allowances,
            counts.dead_letters,
            counts.duplicates,
        )
        self.mirror_offsets(batch.next_offsets)

    def mirror_offsets(self, next_offsets: dict[int, int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        topic = self.store.topic
        try:
            self.consumer.commit(
                offsets=[TopicPartition(topic, p, o) for p, o in sorted(next_offsets.items())],
                asynchronous=False,
            )
        except KafkaException as error:
            # The positions are already committed in PostgreSQL, and only those are ever read back.
            log.warning("Could not mirror positions to the Kafka group (lag display only): %s", error)


def drain_limits_from_env() -> DrainLimits:
    """``CRYPTO_PRICES_DRAIN_BATCH_SIZE`` / ``_MAX_SECONDS`` / ``_STALL_SECONDS`` over the defaults."""
    from franz_ivan.settings import env_float

    defaults = DrainLimits()
    return DrainLimits(
        batch_size=int(env_float("CRYPTO_PRICES_DRAIN_BATCH_SIZE", defaults.batch_size)),
        max_seconds=env_float("CRYPTO_PRICES_DRAIN_MAX_SECONDS", defaults.max_seconds),
        stall_seconds=env_float("CRYPTO_PRICES_DRAIN_STALL_SECONDS", defaults.stall_seconds),
    )


def run_drain(
    kafka_conn_id: str, postgres_conn_id: str, topic: str, consumer_group: str, limits: DrainLimits
) -> DrainResult:
    """Open the clients from the Airflow connections, drain, close them."""
    from confluent_kafka import Consumer

    from franz_ivan.clients import connect_postgres, kafka_config

    consumer = Consumer(kafka_config(kafka_conn_id, **consumer_settings(consumer_group)))
    try:
        with connect_postgres(postgres_conn_id) as connection:
            return Drain(consumer, PriceStore(connection, topic, consumer_group), limits).run()
    finally:
        consumer.close()
