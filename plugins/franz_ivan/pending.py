"""How many events of the topic are not stored yet: the broker's end offsets minus the stored positions.

Reads only metadata and watermarks; consumes and commits nothing. Used by the sensor's trigger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from franz_ivan.drain import DrainError, TopicMissingError, topic_partitions

if TYPE_CHECKING:
    from confluent_kafka import Consumer

    from franz_ivan.store import PriceStore

WATERMARK_TIMEOUT_SECONDS = 10.0


def pending_events(consumer: Consumer, store: PriceStore) -> dict[int, int]:
    """Per partition, how many events lie between the stored position and the end of the log.

    A partition that was never drained counts from its first retained offset; a topic that does
    not exist yet has nothing pending.
    """
    from confluent_kafka import KafkaException, TopicPartition

    try:
        partitions = topic_partitions(consumer, store.topic)
    except TopicMissingError:
        return {}
    stored = store.stored_offsets()
    pending: dict[int, int] = {}
    for partition in partitions:
        try:
            low, high = consumer.get_watermark_offsets(
                TopicPartition(store.topic, partition), timeout=WATERMARK_TIMEOUT_SECONDS
            )
        except KafkaException as error:
            raise DrainError(f"cannot read the end offsets of {store.topic}[{partition}]: {error}") from None
        behind = high - max(stored.get(partition, low), low)
        if behind > 0:
            pending[partition] = behind
    return pending
