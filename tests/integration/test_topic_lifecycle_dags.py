"""The topic-lifecycle cases through the DAGs: `airflow dags test crypto_prices_consumer`, local broker.

Each case publishes events (every one acknowledged), changes the topic under the stored positions
the way an operator or a broker would, runs the consumer DAG (sensor, then drain) and checks that
the tables hold every distinct event published exactly once, and that the task log says why.

Tansu cannot add partitions to a topic (CreatePartitions is not supported: librdkafka reports
``_UNSUPPORTED_FEATURE``), so new partitions come here from re-creating the topic with more of them.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from devtools.faults import Feed, make_feed, recreate_topic, stored_state
from devtools.local_stack import Stack
from franz_ivan.publish import ensure_topic, produce
from franz_ivan.settings import CONSUMER_GROUP

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})


def consume(stack: Stack) -> str:
    """Run the consumer DAG once; return its output (the task logs included)."""
    started = time.monotonic()
    completed = stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)
    print(f"consumer DAG run: {time.monotonic() - started:.1f} s")
    return completed.stdout + completed.stderr


def publish(stack: Stack, feed: Feed) -> None:
    produce({"bootstrap.servers": stack.broker.bootstrap}, stack.topic, feed.messages)


def assert_stored_exactly(pg: Any, stack: Stack, *feeds: Feed) -> None:
    """The tables hold each distinct event of ``feeds`` once: none lost, none doubled, none foreign."""
    state = stored_state(pg, stack.topic, CONSUMER_GROUP)
    published = set().union(*(feed.event_ids for feed in feeds))
    lost = published - set(state.event_ids)
    foreign = set(state.event_ids) - published
    print(
        f"published {sum(len(feed.messages) for feed in feeds)} events ({len(published)} distinct), "
        f"stored {len(state.event_ids)} rows, {len(lost)} lost, {state.duplicates} doubled"
    )
    assert (len(lost), state.duplicates, len(foreign)) == (0, 0, 0)


def resets(pg: Any) -> list[tuple[int, str, int | None, int]]:
    rows = pg.execute(
        "SELECT kafka_partition, reason, stored_offset, resumed_at FROM crypto_prices_position_resets "
        "ORDER BY kafka_partition, detected_at"
    ).fetchall()
    pg.rollback()
    return [tuple(row) for row in rows]


def test_re_created_then_fewer_events_than_stored_then_more(airflow_stack: Stack, pg: Any) -> None:
    ensure_topic({"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, 3, timeout=30)
    before = make_feed(60, run="before")
    publish(airflow_stack, before)
    consume(airflow_stack)
    assert_stored_exactly(pg, airflow_stack, before)
    stored = stored_state(pg, airflow_stack.topic, CONSUMER_GROUP).next_offsets

    recreate_topic(airflow_stack.broker.bootstrap, airflow_stack.topic, 3)
    fewer = make_feed(9, run="fewer")
    publish(airflow_stack, fewer)
    output = consume(airflow_stack)
    assert "the topic was re-created" in output
    assert "Events pending on" in output
    assert_stored_exactly(pg, airflow_stack, before, fewer)
    assert {(p, reason, offset) for p, reason, offset, _ in resets(pg)} == {
        (p, "topic_recreated", offset) for p, offset in stored.items()
    }

    more = make_feed(120, run="more")
    publish(airflow_stack, more)
    recorded = resets(pg)
    output = consume(airflow_stack)
    assert "re-created" not in output  # the positions belong to the new log now
    assert resets(pg) == recorded
    assert_stored_exactly(pg, airflow_stack, before, fewer, more)
    assert sum(stored_state(pg, airflow_stack.topic, CONSUMER_GROUP).next_offsets.values()) == 129


def test_re_created_and_grown_past_the_stored_position_before_any_drain(
    airflow_stack: Stack, pg: Any
) -> None:
    """The case the end offsets alone cannot see: only the topic id tells the logs apart."""
    ensure_topic({"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, 3, timeout=30)
    before = make_feed(30, run="before")
    publish(airflow_stack, before)
    consume(airflow_stack)
    stored = stored_state(pg, airflow_stack.topic, CONSUMER_GROUP).next_offsets

    recreate_topic(airflow_stack.broker.bootstrap, airflow_stack.topic, 3)
    after = make_feed(150, run="after")
    publish(airflow_stack, after)
    grown = stored_state(pg, airflow_stack.topic, CONSUMER_GROUP).next_offsets
    assert grown == stored
    output = consume(airflow_stack)
    assert "the topic was re-created" in output
    assert_stored_exactly(pg, airflow_stack, before, after)
    assert {reason for _, reason, _, _ in resets(pg)} == {"topic_recreated"}


def test_a_stored_position_past_the_end_of_the_same_log(airflow_stack: Stack, pg: Any) -> None:
    ensure_topic({"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, 3, timeout=30)
    before = make_feed(40, run="before")
    publish(airflow_stack, before)
    consume(airflow_stack)
    # A database restored next to another cluster, or a hand-edited position: same topic id.
    pg.execute("UPDATE crypto_prices_consumer_offsets SET next_offset = next_offset + 1000")
    pg.commit()

    after = make_feed(20, run="after")
    publish(airflow_stack, after)
    output = consume(airflow_stack)
    assert "before the stored position" in output
    assert_stored_exactly(pg, airflow_stack, before, after)
    assert {reason for _, reason, _, _ in resets(pg)} == {"log_ends_before_position"}
    assert {resumed for _, _, _, resumed in resets(pg)} == {0}


def test_new_partitions_are_drained_from_their_beginning(airflow_stack: Stack, pg: Any) -> None:
    ensure_topic({"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, 2, timeout=30)
    before = make_feed(40, run="before")
    publish(airflow_stack, before)
    consume(airflow_stack)

    recreate_topic(airflow_stack.broker.bootstrap, airflow_stack.topic, 5)
    after = make_feed(100, run="after")
    publish(airflow_stack, after)
    output = consume(airflow_stack)
    assert "a new partition; read from its beginning" in output
    assert_stored_exactly(pg, airflow_stack, before, after)
    # The mapped drains take the partitions the sensor found pending: those the new events went to.
    # A re-created partition that got nothing keeps its old position until events arrive; then its
    # changed topic id sends it back to the beginning (the re-creation cases above).
    reasons = {p: reason for p, reason, _, _ in resets(pg)}
    expected = {0: "topic_recreated", 1: "topic_recreated"} | dict.fromkeys((2, 3, 4), "new_partition")
    assert reasons, "no partition was reset"
    assert {p: expected[p] for p in reasons} == reasons
    assert "new_partition" in reasons.values()
    offsets = stored_state(pg, airflow_stack.topic, CONSUMER_GROUP).next_offsets
    assert sum(offsets[p] for p in reasons) == 100, "every event after re-creation is in a drained partition"
