"""How a drain is started: its clients opened from configurations, closed when it ends.

:func:`open_drain` is the one way, used by the consumer DAG (through :func:`run_drain`, from the
Airflow connections), the fault kit, the benchmarks and the tests.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from franz_ivan.drain import Drain
from franz_ivan.hooks.kafka import PricesConsumerHook, PricesKafkaHook
from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.kafka_topics import GroupMirror
from franz_ivan.limits import DrainLimits
from franz_ivan.store import PriceStore
from franz_ivan.topic_lifecycle import TopicIdentity

if TYPE_CHECKING:
    import psycopg

    from franz_ivan.drain_writer import DrainResult

StoreFactory = Callable[["psycopg.Connection[Any]", str, str], PriceStore]
"""Makes the store from (connection, topic, consumer group): :class:`PriceStore` or a subclass."""
MirrorFactory = Callable[[dict[str, Any], str, str], GroupMirror]
"""Makes the mirror from (cluster configuration, consumer group, topic): :class:`GroupMirror` or a
subclass."""


@contextmanager
def open_drain(
    kafka: Mapping[str, Any],
    connect: Callable[[], psycopg.Connection[Any]],
    topic: str,
    consumer_group: str,
    *,
    limits: DrainLimits | None = None,
    partitions: Sequence[int] | None = None,
    store: StoreFactory = PriceStore,
    mirror: MirrorFactory | None = GroupMirror,
    identify_topic: bool = False,
) -> Iterator[Drain]:
    """A :class:`Drain` over its own consumer and database connection, both closed on leaving.

    The one way a drain is started: by the consumer DAG (:func:`run_drain`), the fault kit, the
    benchmarks and the tests; these swap in their own store or mirror (a subclass that dies at a
    chosen point, say) through ``store`` and ``mirror``.

    :param kafka: the cluster's librdkafka configuration (a Kafka connection's extra).
    :param connect: opens the PostgreSQL connection (autocommit off), e.g. ``PricesPostgresHook.get_conn``.
    :param topic: the topic drained.
    :param consumer_group: whose positions are stored (and mirrored to the Kafka group).
    :param limits: batch size and time bounds; the defaults of :class:`DrainLimits` if not given.
    :param partitions: drain only these partitions (a mapped drain's group); all by default.
    :param store: makes the store from (connection, topic, group).
    :param mirror: makes the group mirror from (cluster configuration, group, topic); ``None``: no mirror.
    :param identify_topic: read the topic's id, so that a re-created topic is re-read from its beginning.
    """

    cluster = dict(kafka)
    consumer = PricesConsumerHook(config=cluster, consumer_group=consumer_group).get_conn
    try:
        with connect() as connection:
            yield Drain(
                consumer,
                store(connection, topic, consumer_group),
                limits,
                partitions,
                mirror(cluster, consumer_group, topic) if mirror is not None else None,
                identity=TopicIdentity(cluster) if identify_topic else None,
            )
    finally:
        consumer.close()


def run_drain(
    kafka_conn_id: str,
    postgres_conn_id: str,
    topic: str,
    consumer_group: str,
    limits: DrainLimits,
    *,
    partitions: Sequence[int] | None = None,
) -> DrainResult:
    """The consumer DAG's drain (all partitions or ``partitions``), clients from the Airflow connections."""

    # Airflow's modules, loaded in every task process, are many long-lived objects; the cyclic GC
    # rescans them while decoding allocates (bench: 11.7 instead of 8.1 us/event of drain CPU).
    gc.freeze()

    kafka = PricesKafkaHook(kafka_conn_id).config()
    connect = PricesPostgresHook(postgres_conn_id).get_conn
    with open_drain(
        kafka, connect, topic, consumer_group, limits=limits, partitions=partitions, identify_topic=True
    ) as drain:
        return drain.run()
