"""
### Crypto prices consumer

Waits (deferred, in the triggerer) until the topic `crypto_prices` holds events that PostgreSQL has
not stored yet, then drains them all into the database `crypto_prices`: one table per pair
(`btcusd`, ...), the allowance table `cryptowatch_api_allowance`, and malformed messages into
`crypto_prices_dead_letter`. Each batch and the partitions' next offsets are committed in one
transaction, so re-runs, crashes and replays never lose or double a row.

Runs continuously (one active run). With nothing pending within `max_wait_seconds` (param,
default 600) the sensor and the drain are skipped and the next run starts listening again.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task

from franz_ivan.sensors import PendingEventsSensor
from franz_ivan.settings import CONSUMER_GROUP, KAFKA_CONN_ID, POSTGRES_CONN_ID, topic


@dag(
    dag_id="crypto_prices_consumer",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["crypto_prices", "kafka", "consumer", "postgres"],
    params={"max_wait_seconds": Param(600, type="number", minimum=0)},
    default_args={
        "owner": "franz-ivan",
        "retries": 2,
        "retry_delay": timedelta(seconds=10),
    },
)
def crypto_prices_consumer() -> None:
    wait_for_events = PendingEventsSensor(
        task_id="wait_for_events",
        topic=topic(),
        consumer_group=CONSUMER_GROUP,
        kafka_conn_id=KAFKA_CONN_ID,
        postgres_conn_id=POSTGRES_CONN_ID,
        max_wait_seconds="{{ params.max_wait_seconds }}",
        poll_interval=2.0,
    )

    @task(execution_timeout=timedelta(minutes=15))
    def drain_events() -> dict[str, object]:
        """Store every pending event; return the counts (events, rows, dead letters, duplicates)."""
        from franz_ivan.drain import drain_limits_from_env, run_drain

        result = run_drain(KAFKA_CONN_ID, POSTGRES_CONN_ID, topic(), CONSUMER_GROUP, drain_limits_from_env())
        return result.as_dict()

    wait_for_events >> drain_events()


crypto_prices_consumer()
