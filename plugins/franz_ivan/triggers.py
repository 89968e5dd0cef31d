"""The trigger behind :class:`franz_ivan.sensors.PendingEventsSensor`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async


class PendingEventsTrigger(BaseTrigger):
    """Fire when the topic holds events that PostgreSQL has not stored yet.

    Compares the broker's end offsets with the positions stored by the drain every
    ``poll_interval`` seconds. Consumes and commits nothing. Always ends: with
    ``{"status": "pending", "pending": {partition: count}}``, with ``{"status": "idle"}`` once
    ``deadline`` (a Unix time) has passed, or with ``{"status": "error", "message": ...}``.

    :param topic: the Kafka topic.
    :param consumer_group: whose stored positions count as consumed.
    :param kafka_conn_id: Airflow connection holding the librdkafka configuration.
    :param postgres_conn_id: Airflow connection of the ``crypto_prices`` database.
    :param deadline: Unix time after which the trigger reports ``idle``.
    :param poll_interval: seconds between checks.
    """

    def __init__(
        self,
        *,
        topic: str,
        consumer_group: str,
        kafka_conn_id: str,
        postgres_conn_id: str,
        deadline: float,
        poll_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.topic = topic
        self.consumer_group = consumer_group
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.deadline = deadline
        self.poll_interval = poll_interval
        self._watcher: PendingWatcher | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "topic": self.topic,
                "consumer_group": self.consumer_group,
                "kafka_conn_id": self.kafka_conn_id,
                "postgres_conn_id": self.postgres_conn_id,
                "deadline": self.deadline,
                "poll_interval": self.poll_interval,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            self._watcher = await sync_to_async(PendingWatcher)(
                self.topic, self.consumer_group, self.kafka_conn_id, self.postgres_conn_id
            )
            while True:
                pending = await sync_to_async(self._watcher.pending)()
                if pending:
                    self.log.info("Pending events per partition: %s", pending)
                    yield TriggerEvent(
                        {"status": "pending", "pending": {str(p): n for p, n in pending.items()}}
                    )
                    return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    yield TriggerEvent({"status": "idle"})
                    return
                await asyncio.sleep(min(self.poll_interval, remaining))
        except Exception as error:  # the event carries the failure to the sensor, which raises it
            yield TriggerEvent({"status": "error", "message": f"{type(error).__name__}: {error}"})

    async def cleanup(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await sync_to_async(watcher.close)()


class PendingWatcher:
    """The blocking clients the trigger polls from a worker thread.

    Only reads: watermarks, the topic's id, and the positions table (``SELECT`` is the only grant
    it needs; a missing table means nothing is stored yet). It creates and writes nothing.
    """

    def __init__(self, topic: str, consumer_group: str, kafka_conn_id: str, postgres_conn_id: str) -> None:
        from franz_ivan.hooks.kafka import PricesConsumerHook, PricesKafkaHook
        from franz_ivan.hooks.postgres import PricesPostgresHook
        from franz_ivan.store import PriceStore
        from franz_ivan.topic_lifecycle import TopicIdentity

        self.postgres = PricesPostgresHook(postgres_conn_id).get_conn()
        self.store = PriceStore(self.postgres, topic, consumer_group)
        consumer_hook = PricesConsumerHook(kafka_conn_id, consumer_group=consumer_group)
        self.consumer_group = consumer_group
        self.consumer_config = consumer_hook.config()
        self.consumer = consumer_hook.get_conn
        self.identity = TopicIdentity(PricesKafkaHook(kafka_conn_id).config())

    def pending(self) -> dict[int, int]:
        from franz_ivan.hooks.kafka import PricesConsumerHook
        from franz_ivan.pending import pending_events

        # The polling consumer is never assigned: where a fetch is needed, a fresh one makes it, as
        # librdkafka crashes a consumer that had fetched from a topic when that topic is re-created.
        return pending_events(
            self.consumer,
            self.store,
            self.identity,
            lambda: (
                PricesConsumerHook(consumer_group=self.consumer_group, config=self.consumer_config).get_conn
            ),
        )

    def close(self) -> None:
        self.consumer.close()
        self.postgres.close()


def pending_now(topic: str, consumer_group: str, kafka_conn_id: str, postgres_conn_id: str) -> dict[int, int]:
    """Pending events per partition, checked once: a :class:`PendingWatcher` opened, asked, closed."""
    watcher = PendingWatcher(topic, consumer_group, kafka_conn_id, postgres_conn_id)
    try:
        return watcher.pending()
    finally:
        watcher.close()
