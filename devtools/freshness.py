"""What ``make up --measure-freshness`` measures: the topic's events, the rows stored, their freshness.

Freshness is ``"timestamp"`` (recorded by PostgreSQL) minus ``observed_at``, over the price rows of
the scheduled producer runs, read once every published event is stored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devtools.airflow_api import AirflowApi
from devtools.airflow_services import PRODUCER, Airflow
from devtools.local_stack import Postgres, StackError, wait_until

ACTIVE_STATES = frozenset({"queued", "running"})


def pairs_of(markets: Sequence[str]) -> list[str]:
    """The pairs, and so the price tables, that ``markets`` (entries of the markets Variable) fill."""
    from franz_ivan.markets import parse_market

    return sorted({parse_market(market).pair for market in markets})


@dataclass(frozen=True)
class TopicEvent:
    """One message of the topic, as far as the checks need it."""

    type: str
    pair: str
    event_id: str


def topic_events(bootstrap: str, topic: str, timeout: float = 30.0) -> list[TopicEvent]:
    """Every message of ``topic`` from the beginning to the current end, read without a consumer group."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    from franz_ivan.hooks.kafka import PricesConsumerHook

    consumer = PricesConsumerHook(
        config={"bootstrap.servers": bootstrap}, consumer_group="devtools-inspect"
    ).get_conn
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise StackError(f"cannot read topic {topic!r}: {metadata.error}")
        partitions = sorted(metadata.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        events: list[TopicEvent] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise StackError(f"reading topic {topic!r} took over {timeout:g} s")
            for message in consumer.consume(num_messages=500, timeout=0.5):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition() or 0)
                elif error is not None:
                    raise StackError(f"reading topic {topic!r} failed: {error.str()}")
                else:
                    body = json.loads(message.value() or b"null")
                    events.append(TopicEvent(body["type"], body["pair"], body["event_id"]))
        return events
    finally:
        consumer.close()


def stored_event_ids(postgres: Postgres, pairs: Sequence[str]) -> dict[str, list[str]]:
    """Per table (each pair, and ``cryptowatch_api_allowance``), the event ids stored; empty if absent."""
    from psycopg import sql

    stored: dict[str, list[str]] = {}
    with postgres.connect() as conn:
        for table in [*pairs, "cryptowatch_api_allowance"]:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                stored[table] = []
                continue
            rows = conn.execute(sql.SQL("SELECT event_id::text FROM {}").format(sql.Identifier(table)))
            stored[table] = [row[0] for row in rows]
    return stored


def wait_until_drained(airflow: Airflow, timeout: float) -> list[TopicEvent]:
    """Wait for a quiet moment: no producer run active and every event of the topic stored.

    The producer's run list is read before and after the topic and the tables, so a run that
    published in between is noticed and the check repeated. Returns the topic's events.
    """
    stack = airflow.stack
    pairs = pairs_of(airflow.markets())

    def drained() -> list[TopicEvent] | None:
        airflow.check_alive()
        runs = {run["dag_run_id"]: run["state"] for run in airflow.api.dag_runs(PRODUCER)}
        if ACTIVE_STATES & set(runs.values()):
            return None
        events = topic_events(stack.broker.bootstrap, stack.topic)
        stored = {event_id for ids in stored_event_ids(stack.postgres, pairs).values() for event_id in ids}
        again = {run["dag_run_id"]: run["state"] for run in airflow.api.dag_runs(PRODUCER)}
        complete = {event.event_id for event in events} <= stored
        return events if complete and again == runs else None

    return wait_until(drained, timeout, "the consumer to store every published event", interval=2)


@dataclass(frozen=True)
class Freshness:
    """Seconds from a price's observation to its row being recorded, over ``rows`` rows."""

    rows: int
    p50: float
    p95: float
    worst: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def measure_freshness(postgres: Postgres, pairs: Sequence[str], since: datetime) -> Freshness:
    """Freshness of every price row observed at or after ``since``."""
    from psycopg import sql

    delays: list[float] = []
    with postgres.connect() as conn:
        for pair in pairs:
            query = sql.SQL(
                'SELECT extract(epoch FROM "timestamp" - observed_at) FROM {} WHERE observed_at >= %s'
            )
            delays += [float(row[0]) for row in conn.execute(query.format(sql.Identifier(pair)), (since,))]
    if not delays:
        raise StackError(f"no price rows observed since {since.isoformat()}")
    delays.sort()
    return Freshness(len(delays), percentile(delays, 0.5), percentile(delays, 0.95), delays[-1])


def scheduled_runs_done(api: AirflowApi, since: datetime) -> list[dict[str, Any]]:
    """Successful scheduled producer runs that started at or after ``since``."""
    return [
        run
        for run in api.dag_runs(PRODUCER)
        if run["run_type"] == "scheduled"
        and run["state"] == "success"
        and datetime.fromisoformat(run["start_date"]) >= since
    ]


def run_freshness(airflow: Airflow, runs: int, since: datetime, timeout: float) -> Freshness:
    """Wait for ``runs`` scheduled producer runs after ``since`` and their rows; measure them."""
    wait_until(
        lambda: True if len(scheduled_runs_done(airflow.api, since)) >= runs else None,
        timeout,
        f"{runs} scheduled producer runs",
        interval=5,
    )
    events = wait_until_drained(airflow, timeout=180)
    freshness = measure_freshness(airflow.stack.postgres, pairs_of(airflow.markets()), since)
    print(
        f"Freshness over {len(scheduled_runs_done(airflow.api, since))} scheduled producer runs, "
        f"{len(events)} events in the topic, {freshness.rows} price rows: "
        f"p50 {freshness.p50:.1f} s, p95 {freshness.p95:.1f} s, worst {freshness.worst:.1f} s",
        flush=True,
    )
    return freshness
