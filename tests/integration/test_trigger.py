"""The sensor's trigger against a real broker and database, run the way the triggerer runs it."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from devtools.local_stack import Broker, Postgres
from franz_ivan import kafka_topics
from franz_ivan.publish import ensure_topic, publish
from franz_ivan.triggers import PendingEventsTrigger
from tests.helpers import price_events, use_connection, use_test_connections

pytestmark = pytest.mark.integration


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch, broker: Broker, database: Postgres) -> dict[str, Any]:
    kafka = {"bootstrap.servers": broker.bootstrap}
    use_test_connections(monkeypatch, kafka, database)
    return kafka


async def next_event(trigger: PendingEventsTrigger) -> dict[str, Any]:
    """Run the trigger as the triggerer does until its first event; its clients cleaned up after."""
    try:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("the trigger ended without an event")
    finally:
        await trigger.cleanup()


def first_event(trigger: PendingEventsTrigger) -> dict[str, Any]:
    """The trigger's first event, run after a serialize round trip as the triggerer runs it."""
    classpath, kwargs = trigger.serialize()
    assert classpath == "franz_ivan.triggers.PendingEventsTrigger"
    return asyncio.run(asyncio.wait_for(next_event(PendingEventsTrigger(**kwargs)), timeout=60))


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


@contextmanager
def silent_broker() -> Iterator[tuple[str, list[socket.socket]]]:
    """A TCP listener that accepts connections and never answers: a broker hung mid-request.
    Yields its ``host:port`` and the connections it holds."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with suppress(OSError):  # the listener closed
            while True:
                held.append(listener.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"127.0.0.1:{listener.getsockname()[1]}", held
    finally:
        listener.close()
        for connection in held:
            connection.close()


def test_a_hung_broker_stalls_only_its_own_trigger(
    monkeypatch: pytest.MonkeyPatch, connections: dict[str, Any], database: Postgres, topic: str
) -> None:
    """Two triggers in one event loop, as in the triggerer: one waits on a broker that never answers
    (for the whole metadata timeout, 15 s here), the other must still fire within a few seconds."""
    hang = 15.0
    monkeypatch.setattr(kafka_topics, "METADATA_TIMEOUT_SECONDS", hang)
    ensure_topic(connections, topic, partitions=3, timeout=10)
    publish(connections, topic, price_events(0), timeout=10)

    async def both(held: list[socket.socket]) -> tuple[float, dict[str, Any], dict[str, Any]]:
        hung = PendingEventsTrigger(
            **{**trigger_for(topic, 60).serialize()[1], "kafka_conn_id": "silent_kafka"}
        )
        hung_event = asyncio.ensure_future(next_event(hung))
        # The hung trigger is inside its blocking call (its client has connected and is waiting for
        # the metadata) before the healthy one starts.
        while not held:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        started = time.monotonic()
        fired = await asyncio.wait_for(next_event(trigger_for(topic, 60)), timeout=2 * hang)
        waited = time.monotonic() - started
        return waited, fired, await asyncio.wait_for(hung_event, timeout=2 * hang)

    with silent_broker() as (silent, held):
        use_connection(
            monkeypatch,
            "silent_kafka",
            "kafka",
            extra={"bootstrap.servers": silent, "socket.timeout.ms": 60000},
        )
        waited, fired, hung_event = asyncio.run(both(held))

    assert fired["status"] == "pending", fired
    assert sum(fired["pending"].values()) >= 1
    assert waited < hang / 3, f"the healthy trigger fired after {waited:.1f} s, held up by the hung broker"
    # And the hung one still ends, at the metadata timeout, saying so.
    assert hung_event["status"] == "error", hung_event
    assert f"Kafka did not answer within {hang:g} s" in hung_event["message"]
    print(f"healthy trigger fired after {waited:.2f} s beside a broker hung for {hang:g} s")
