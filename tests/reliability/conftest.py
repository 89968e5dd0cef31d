"""Fixtures of the fault-injection tests: a drain target on the shared broker and a fresh database,
and a broker of the test alone with a large feed on it, for the tests that freeze or kill it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.faults import DrainTarget, Feed, create_topic
from devtools.local_stack import Broker, Postgres, start_broker
from tests.helpers import GROUP, PARTITIONS, dsn, produce_feed


@pytest.fixture
def target(broker: Broker, database: Postgres, topic: str) -> DrainTarget:
    """The shared broker with a new three-partition topic, and a new database."""
    create_topic(broker.bootstrap, topic, PARTITIONS)
    return DrainTarget(broker.bootstrap, dsn(database), topic, GROUP)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker of this test alone, since the test freezes or kills it."""
    running = start_broker(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def loaded_target(own_broker: Broker, database: Postgres, topic: str) -> tuple[DrainTarget, Feed]:
    """The test's own broker with a new three-partition topic holding 30,000 messages, and a new database."""
    create_topic(own_broker.bootstrap, topic, PARTITIONS)
    target = DrainTarget(own_broker.bootstrap, dsn(database), topic, GROUP)
    return target, produce_feed(target, 30_000, run=f"outage-{topic}", resend_every=50, malformed_every=211)
