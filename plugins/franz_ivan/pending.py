"""How many events of the topic are not stored yet: the broker's end offsets minus the stored positions.

Reads only metadata, watermarks and the positions table; consumes and commits nothing, and
creates nothing (a missing positions table means nothing is stored yet). Used by the sensor and
its trigger (through :class:`PendingWatcher`), the quality checks and the UI. A partition the
drain must re-read from its beginning (topic re-created, log ending before the stored position,
a new partition) or resume past a retention gap counts every event its log holds from there;
the reason is logged (the drain records it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from franz_ivan.hooks.kafka import PricesConsumerHook, PricesKafkaHook
from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.kafka_topics import TopicMissingError, partition_ids
from franz_ivan.pending_query import PendingQuery
from franz_ivan.store import PriceStore
from franz_ivan.topic_lifecycle import TopicIdentity, plan_resumes

if TYPE_CHECKING:
    from confluent_kafka import Consumer

    from franz_ivan.store import PriceStore
    from franz_ivan.topic_lifecycle import TopicIdentity

log = logging.getLogger(__name__)


def pending_events(
    consumer: Consumer,
    store: PriceStore,
    identity: TopicIdentity | None = None,
    new_prober: Callable[[], Consumer] | None = None,
) -> dict[int, int]:
    """Per partition, how many events lie between where the drain resumes and the end of the log.

    A partition that was never drained counts from its first retained offset; a topic that does
    not exist yet has nothing pending. Partitions to be re-read or resumed past a gap are logged
    with the reason. ``new_prober`` makes the consumer that fetches where a log's end is in doubt
    (see :func:`franz_ivan.topic_lifecycle.plan_resumes`); ``consumer`` itself is never assigned then.
    """

    try:
        partitions = partition_ids(consumer, store.topic)
        topic_id = identity.topic_id(store.topic) if identity is not None else None
    except TopicMissingError:
        return {}
    resumes = plan_resumes(
        consumer, store.topic, partitions, store.stored_positions(), topic_id, new_prober=new_prober
    )
    pending: dict[int, int] = {}
    for partition, resume in resumes.items():
        if resume.pending > 0:
            pending[partition] = resume.pending
            if resume.reason is not None:
                log.warning("%s[%d]: %s", store.topic, partition, resume.detail)
    return pending


def pending_now(query: PendingQuery) -> dict[int, int]:
    """Pending events per partition for ``query``, checked once by a new :class:`PendingWatcher`."""
    watcher = PendingWatcher(query)
    try:
        return watcher.pending()
    finally:
        watcher.close()


class PendingWatcher:
    """The blocking clients that answer a :class:`PendingQuery`, polled by the trigger from a worker thread.

    Only reads: watermarks, the topic's id, and the positions table (``SELECT`` is the only grant
    it needs; a missing table means nothing is stored yet). It creates and writes nothing.
    """

    def __init__(self, query: PendingQuery) -> None:

        self.postgres = PricesPostgresHook(query.postgres_conn_id).get_conn()
        self.store = PriceStore(self.postgres, query.topic, query.consumer_group)
        consumer_hook = PricesConsumerHook(query.kafka_conn_id, consumer_group=query.consumer_group)
        self.consumer_group = query.consumer_group
        self.consumer_config = consumer_hook.config()
        self.consumer = consumer_hook.get_conn
        self.identity = TopicIdentity(PricesKafkaHook(query.kafka_conn_id).config())

    def pending(self) -> dict[int, int]:

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
