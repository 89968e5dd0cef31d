"""The Kafka side shared by the drain and the sensor: the consumer's settings, a topic's partitions,
a message's position, and the copy of the stored positions to the consumer group.

Reads metadata and messages and sets group offsets; stores nothing. The errors are the drain's
(:class:`DrainError`): the sensor's trigger and the UI report them as they are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition

from franz_ivan.hooks.checks import kafka_trouble
from franz_ivan.hooks.kafka import PricesAdminHook

if TYPE_CHECKING:
    from confluent_kafka import Consumer, Message

METADATA_TIMEOUT_SECONDS = 10.0
MIRROR_TIMEOUT_SECONDS = 5.0
FINAL_MIRROR_TIMEOUT_SECONDS = 15.0
"""The last copy of a drain's positions to the group waits longer: it is the one that must arrive."""


class DrainError(RuntimeError):
    """The drain could not go on; everything stored before it is consistent."""


class TopicMissingError(DrainError):
    """The topic does not exist: nothing was ever published to it."""


def partition_ids(consumer: Consumer, topic: str) -> list[int]:
    """The partition ids of ``topic``; raises :class:`DrainError` if the broker or topic is missing."""

    try:
        metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_SECONDS)
    except KafkaException as error:
        raise DrainError(
            f"Kafka did not answer within {METADATA_TIMEOUT_SECONDS:g} s: {error}{kafka_trouble(consumer)}"
        ) from None
    described = metadata.topics.get(topic)
    if described is None or (
        described.error is not None and described.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    ):
        raise TopicMissingError(f"topic {topic!r} does not exist (yet: the producer creates it)")
    if described.error is not None or not described.partitions:
        raise DrainError(f"cannot read topic {topic!r}: {described.error or 'it has no partitions'}")
    return sorted(described.partitions)


def position(message: Message) -> tuple[int, int]:
    """The partition and offset of a consumed message (librdkafka always sets both)."""
    partition, offset = message.partition(), message.offset()
    if partition is None or offset is None:
        raise DrainError(f"message without a position from {message.topic()}: {message.error()}")
    return partition, offset


class GroupMirror:
    """Copies the drain's stored positions to the Kafka consumer group, so that Kafka tools show the lag.

    Informational only: nothing reads them back. It goes through an admin client because a
    consumer's commit cannot be bounded: with the broker unreachable, a synchronous commit waits a
    minute or more, and an asynchronous one left pending holds ``Consumer.close()`` until the broker
    returns. Here every copy waits at most ``timeout`` seconds and leaves nothing pending.

    :param config: librdkafka configuration of the cluster (the Kafka connection's extra).
    :param consumer_group: the group whose committed offsets are set.
    :param topic: the drained topic.
    :param timeout: seconds one copy may wait for the broker.
    """

    def __init__(
        self, config: dict[str, Any], consumer_group: str, topic: str, timeout: float = MIRROR_TIMEOUT_SECONDS
    ) -> None:

        self.admin = PricesAdminHook(config=config).get_conn
        self.consumer_group = consumer_group
        self.topic = topic
        self.timeout = timeout

    def copy(self, next_offsets: dict[int, int], timeout: float | None = None) -> None:
        """Set the group's offsets to ``next_offsets``, waiting at most ``timeout`` seconds (by default
        the mirror's); raise ``KafkaException`` or ``TimeoutError``."""

        wait = self.timeout if timeout is None else timeout
        positions = [TopicPartition(self.topic, p, o) for p, o in sorted(next_offsets.items())]
        futures = self.admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(self.consumer_group, positions)], request_timeout=wait
        )
        futures[self.consumer_group].result(timeout=wait + 1)
