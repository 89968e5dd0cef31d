"""How many events of the topic are not stored yet: the broker's end offsets minus the stored positions.

Reads only metadata, watermarks and the positions table; consumes and commits nothing, and
creates nothing (a missing positions table means nothing is stored yet). Used by the sensor's
trigger. A partition the drain must re-read from its beginning (topic re-created, log ending
before the stored position, a new partition) or resume past a retention gap counts every event
its log holds from there; the reason is logged (the drain records it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from franz_ivan.drain import TopicMissingError, topic_partitions

if TYPE_CHECKING:
    from confluent_kafka import Consumer

    from franz_ivan.store import PriceStore
    from franz_ivan.topic_lifecycle import Resume, TopicIdentity

log = logging.getLogger(__name__)


def pending_resumes(
    consumer: Consumer,
    store: PriceStore,
    identity: TopicIdentity | None = None,
    new_prober: Callable[[], Consumer] | None = None,
) -> dict[int, Resume]:
    """Per partition, where the drain would resume and why; empty if the topic does not exist.

    ``new_prober`` makes the consumer that fetches where a log's end is in doubt (see
    :func:`franz_ivan.topic_lifecycle.plan_resumes`); ``consumer`` itself is never assigned then.
    """
    from franz_ivan.topic_lifecycle import plan_resumes

    try:
        partitions = topic_partitions(consumer, store.topic)
        topic_id = identity.topic_id(store.topic) if identity is not None else None
    except TopicMissingError:
        return {}
    return plan_resumes(
        consumer, store.topic, partitions, store.stored_positions(), topic_id, new_prober=new_prober
    )


def pending_events(
    consumer: Consumer,
    store: PriceStore,
    identity: TopicIdentity | None = None,
    new_prober: Callable[[], Consumer] | None = None,
) -> dict[int, int]:
    """Per partition, how many events lie between where the drain resumes and the end of the log.

    A partition that was never drained counts from its first retained offset; a topic that does
    not exist yet has nothing pending. Partitions to be re-read or resumed past a gap are logged
    with the reason.
    """
    pending: dict[int, int] = {}
    for partition, resume in pending_resumes(consumer, store, identity, new_prober).items():
        if resume.pending > 0:
            pending[partition] = resume.pending
            if resume.reason is not None:
                log.warning("%s[%d]: %s", store.topic, partition, resume.detail)
    return pending
