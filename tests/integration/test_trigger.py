"""The sensor's trigger against a real broker and database, run the way the triggerer runs it."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from devtools.local_stack import Broker, Postgres
from franz_ivan.publish import ensure_topic, publish
from franz_ivan.triggers import PendingEventsTrigger
from tests.helpers import price_events, use_test_connections

pytestmark = pytest.mark.integration


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch, broker: Broker, database: Postgres) -> dict[str, Any]:
    kafka = {"bootstrap.servers": broker.bootstrap}
    use_test_connections(monkeypatch, kafka, database)
    return kafka


def first_event(trigger: PendingEventsTrigger) -> dict[str, Any]:
    """Run the trigger as the triggerer does (after a serialize round trip) until its first event."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "franz_ivan.triggers.PendingEventsTrigger"
    revived = PendingEventsTrigger(**kwargs)

    async def run() -> dict[str, Any]:
        try:
            async for event in revived.run():
                return dict(event.payload)
            raise AssertionError("the trigger ended without an event")
        finally:
            await revived.cleanup()

    return asyncio.run(asyncio.wait_for(run(), timeout=60))


def trigger_for(topic: str, seconds: float) -> PendingEventsTrigger:
    return PendingEventsTrigger(
        topic=topic,
        consumer_group="crypto_prices_consumer",
        kafka_conn_id="test_kafka",
        postgres_conn_id="test_postgres",
        deadline=time.time() + seconds,
        poll_interval=0.2,
    )


def test_reports_idle_at_its_deadline_when_the_topic_does_not_exist_yet(
    connections: dict[str, Any], topic: str
) -> None:
    assert first_event(trigger_for(topic, 1)) == {"status": "idle"}


def test_fires_with_the_pending_counts_once_events_arrive(connections: dict[str, Any], topic: str) -> None:
    ensure_topic(connections, topic, partitions=3, timeout=10)
    assert first_event(trigger_for(topic, 1)) == {"status": "idle"}

    publish(connections, topic, price_events(0), timeout=10)
    event = first_event(trigger_for(topic, 30))
    assert event["status"] == "pending"
    assert sum(event["pending"].values()) >= 1


def test_reports_an_unreachable_broker_as_an_error(
    monkeypatch: pytest.MonkeyPatch, connections: dict[str, Any], topic: str
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEST_KAFKA",
        json.dumps(
            {"conn_type": "kafka", "extra": {"bootstrap.servers": "127.0.0.1:9", "socket.timeout.ms": 2000}}
        ),
    )
    event = first_event(trigger_for(topic, 30))
    assert event["status"] == "error"
    assert "Kafka did not answer" in event["message"]
