"""Fixtures of the fault-injection tests: a drain target on the shared broker and a fresh database."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.faults import DrainTarget, Feed, StoredState, stored_state
from devtools.local_stack import Broker, Postgres
from franz_ivan.publish import ensure_topic

GROUP = "crypto_prices_consumer"
PARTITIONS = 3


def dsn(postgres: Postgres) -> str:
    return f"host={postgres.host} port={postgres.port} user={postgres.user} dbname={postgres.database}"


@pytest.fixture
def target(broker: Broker, database: Postgres, topic: str) -> DrainTarget:
    """The shared broker with a new three-partition topic, and a new database."""
    ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, PARTITIONS, timeout=30)
    return DrainTarget(broker.bootstrap, dsn(database), topic, GROUP)


def state_of(pg: Any, target: DrainTarget) -> StoredState:
    return stored_state(pg, target.topic, target.group)


def assert_exactly_once(state: StoredState, feed: Feed) -> None:
    """Every good event stored once, every bad message dead-lettered once, every position passed."""
    assert state.duplicates == 0
    missing = feed.event_ids - set(state.event_ids)
    unexpected = set(state.event_ids) - feed.event_ids
    assert not missing, f"{len(missing)} events lost"
    assert not unexpected, f"{len(unexpected)} rows that were never produced"
    assert len(state.dead_letters) == feed.malformed
    assert sum(state.next_offsets.values()) == len(feed.messages)
