"""The consumer DAG maps its drain over partition groups: ``airflow dags test`` against real services."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from devtools.faults import DrainTarget, make_feed
from devtools.local_stack import Stack
from franz_ivan.publish import ensure_topic, produce
from tests.helpers import PARTITIONS, assert_exactly_once

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def drain_instances(stack: Stack) -> list[tuple[int, str]]:
    """(map_index, state) of the last consumer run's drain_events task instances."""
    with sqlite3.connect(stack.airflow_home / "airflow.db") as db:
        return db.execute(
            "SELECT map_index, state FROM task_instance WHERE dag_id = 'crypto_prices_consumer' "
            "AND task_id = 'drain_events' AND run_id = (SELECT run_id FROM dag_run "
            "WHERE dag_id = 'crypto_prices_consumer' ORDER BY id DESC LIMIT 1) ORDER BY map_index"
        ).fetchall()


@pytest.mark.parametrize(("min_group_events", "drains"), [("1", 3), ("1000000", 1)])
def test_the_consumer_maps_one_drain_per_partition_group_and_stores_every_event_once(
    airflow_stack: Stack, pg: Any, min_group_events: str, drains: int
) -> None:
    ensure_topic(
        {"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, PARTITIONS, timeout=30
    )
    feed = make_feed(900, run=f"mapped-dag-{drains}", resend_every=40, malformed_every=97)
    produce({"bootstrap.servers": airflow_stack.broker.bootstrap}, airflow_stack.topic, feed.messages)

    airflow_stack.airflow(
        "dags", "test", "crypto_prices_consumer", "--conf", json.dumps({"max_wait_seconds": 20}),
        env={"CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS": min_group_events, "CRYPTO_PRICES_DRAIN_MAX_GROUPS": "4"},
    )  # fmt: skip

    assert drain_instances(airflow_stack) == [(index, "success") for index in range(drains)]
    target = DrainTarget(airflow_stack.broker.bootstrap, "", airflow_stack.topic, "crypto_prices_consumer")
    assert_exactly_once(pg, target, feed)
