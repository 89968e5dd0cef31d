"""Publishing events to Kafka with every delivery confirmed by the broker.

The provider's ``ProduceToTopicOperator`` reports success even when deliveries fail; here a
send counts only when its delivery report arrives without error, and anything else fails the
task with the reason. The producer is idempotent (``enable.idempotence``, ``acks=all``), so
librdkafka's own resends never duplicate a message, and every wait is bounded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException
from confluent_kafka.cimpl import NewTopic

from franz_ivan.events import Event, encode
from franz_ivan.hooks.checks import kafka_trouble
from franz_ivan.hooks.kafka import PricesAdminHook, PricesProducerHook

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The broker did not acknowledge every event."""


def ensure_topic(config: dict[str, Any], topic: str, partitions: int, timeout: float) -> None:
    """Create ``topic`` with ``partitions`` partitions if the cluster does not have it yet."""

    admin = PricesAdminHook(config=config).get_conn
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as error:
        raise PublishError(
            f"Kafka at {config.get('bootstrap.servers')} did not answer within {timeout:g} s: {error}"
            + kafka_trouble(admin)
        ) from None
    if topic in metadata.topics:
        return
    log.info("Creating topic %s with %d partitions", topic, partitions)
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=-1)])[topic]
    try:
        future.result(timeout=timeout)
    except KafkaException as error:
        if error.args[0].code() != error.args[0].TOPIC_ALREADY_EXISTS:
            raise PublishError(f"cannot create topic {topic!r}: {error}") from None


def produce(
    config: dict[str, Any],
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes | None]],
    timeout: float = 60.0,
    *,
    partition_of: Callable[[int], int] | None = None,
) -> list[Message]:
    """Send ``(key, value)`` messages to ``topic`` in order; return them once the broker acknowledged all.

    A full local queue is waited out, not failed. ``partition_of`` maps a message's index to its
    partition (default: by key). Raises :class:`PublishError` saying how many were acknowledged.
    """

    failures: list[str] = []
    acknowledged: list[Message] = []

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(f"{message.key()!r}: {error.str()}")
        else:
            acknowledged.append(message)

    producer = PricesProducerHook(config=config, delivery_timeout=timeout).get_conn
    sent = 0
    for index, (key, value) in enumerate(messages):
        placement = {} if partition_of is None else {"partition": partition_of(index)}
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery, **placement)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        sent += 1
    unreported = producer.flush(timeout + 5)
    if failures or unreported:
        raise PublishError(
            f"the broker at {config.get('bootstrap.servers')} acknowledged {len(acknowledged)} of "
            f"{sent} events to topic {topic!r}"
            + (f"; failed: {'; '.join(failures)}" if failures else "")
            + (f"; {unreported} unreported after {timeout + 5:g} s" if unreported else "")
        )
    return acknowledged


def publish(config: dict[str, Any], topic: str, events: Sequence[tuple[str, Event]], timeout: float) -> None:
    """Send ``(key, event)`` pairs to ``topic``; return only when the broker acknowledged them all."""
    messages = ((key.encode(), encode(event)) for key, event in events)
    for message in produce(config, topic, messages, timeout):
        log.info("Published %s to %s[%d]@%d", message.key(), topic, message.partition(), message.offset())
