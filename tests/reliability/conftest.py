"""Fixtures of the fault-injection tests: a drain target on the shared broker and a fresh database;
for the tests that freeze or kill a service, a broker or a PostgreSQL cluster of the test alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.faults import KILL_POINTS, DrainTarget, Feed
from devtools.local_stack import Broker, Postgres, start_broker
from devtools.pg_cluster import PostgresCluster, throwaway_postgres
from franz_ivan.publish import ensure_topic
from tests.helpers import GROUP, PARTITIONS, dsn, produce_feed


@pytest.fixture(params=KILL_POINTS)
def kill_at(request: pytest.FixtureRequest) -> str:
    """Each point of a batch's life at which the crash tests kill a drain."""
    return str(request.param)


def new_target(broker: Broker, database: Postgres, topic: str) -> DrainTarget:
    """``broker`` with a new three-partition ``topic``, and the new ``database``."""
    ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, PARTITIONS, timeout=30)
    return DrainTarget(broker.bootstrap, dsn(database), topic, GROUP)


@pytest.fixture
def target(broker: Broker, database: Postgres, topic: str) -> DrainTarget:
    """The shared broker with a new three-partition topic, and a new database."""
    return new_target(broker, database, topic)


def outage_feed(target: DrainTarget) -> Feed:
    """30,000 messages, some sent twice and some malformed: a drain that a service fails takes seconds."""
    return produce_feed(target, 30_000, run=f"outage-{target.topic}", resend_every=50, malformed_every=211)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone, since the test freezes or kills it."""
    running = start_broker(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def own_target(own_broker: Broker, database: Postgres, topic: str) -> DrainTarget:
    """The test's own broker with a new three-partition topic, and a new database."""
    return new_target(own_broker, database, topic)


@pytest.fixture
def loaded_target(own_target: DrainTarget) -> tuple[DrainTarget, Feed]:
    """:func:`own_target` with its topic holding 30,000 messages."""
    return own_target, outage_feed(own_target)


@pytest.fixture
def crashable_target(topic: str) -> Iterator[tuple[PostgresCluster, DrainTarget, Feed]]:
    """A PostgreSQL cluster of the test alone (the test crashes it) and a broker whose new
    three-partition topic holds 30,000 messages."""
    with throwaway_postgres() as cluster:
        broker = start_broker(Path(cluster.data).parent / "logs")
        try:
            ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, PARTITIONS, timeout=30)
            target = DrainTarget(broker.bootstrap, cluster.dsn(), topic, GROUP)
            yield cluster, target, outage_feed(target)
        finally:
            broker.stop()
