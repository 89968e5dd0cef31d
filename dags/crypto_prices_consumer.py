"""
### Crypto prices consumer

Waits (deferred, in the triggerer) until the topic `crypto_prices` holds events that PostgreSQL has
not stored yet, then drains them all into the database `crypto_prices`: one table per pair
(`btcusd`, ...), the allowance table `cryptowatch_api_allowance`, and malformed messages into
`crypto_prices_dead_letter`. Each batch and the partitions' next offsets are committed in one
transaction, so re-runs, crashes and replays never lose or double a row.

Runs continuously (one active run). With nothing pending within `max_wait_seconds` the sensor
and the drain are skipped and the next run starts listening again. Left empty (the default), that
wait is 600 s for the continuous (scheduled) runs and 10 s for any other run: `airflow dags test`
drains what is pending, or with nothing pending ends within about 10 s of starting to listen, saying so.

**Triggering it by hand** (Trigger button): one run at a time keeps the drains in order, so the
manual run is queued until the current continuous run ends (up to its 600 s wait, less as soon as
an event arrives); then it drains what is pending and ends, and the continuous runs resume. The
continuous run already drains an event within seconds of its arrival, so a manual run is rarely
needed: it is the way to run the consumer while the DAG is paused.

Lineage: the drains read the topic's Asset (alias `crypto_prices_topic`); once they are done,
`record_tables` updates one Asset per table they stored rows in
(`postgres://<host>:<port>/<database>/public/<pair>`, through the alias `crypto_prices_tables`,
named at run time from the PostgreSQL connection), each event carrying the table's rows and the
drains' counts for the run; the data-quality checks read those tables every 5 minutes. With the
OpenLineage provider and a transport, each drain also reports the topic as input and each table
with its row count as output. A failed task posts to the `crypto_prices_alerts` webhook, if
that connection exists.

A large backlog is drained by several mapped `drain_events` tasks, each over its own group of
partitions (`plan_drains` splits the sensor's pending map); a small one stays one task. The cap
is `CRYPTO_PRICES_DRAIN_MAX_GROUPS` (default 4), the smallest backlog worth a drain of its own
`CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS` (default 100,000): docs/scaling.md. Every task runs in the
pool `crypto_prices_drains`, whose slots leave the producer's peak free (docs/operations.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, task

from franz_ivan.dag_defaults import CONSUMER_PRIORITY, DRAINS_POOL, alert_on_dag_failure, task_defaults
from franz_ivan.lineage import tables_alias, topic_alias
from franz_ivan.operators import DrainEventsOperator, RecordTablesOperator
from franz_ivan.sensors import PendingEventsSensor
from franz_ivan.settings import CONSUMER_GROUP, KAFKA_CONN_ID, POSTGRES_CONN_ID, settings


@dag(
    dag_id="crypto_prices_consumer",
    schedule="@continuous",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    on_failure_callback=alert_on_dag_failure,
    doc_md=__doc__,
    tags=["crypto_prices", "kafka", "consumer", "postgres"],
    params={
        "max_wait_seconds": Param(
            None,
            type=["null", "number"],
            minimum=0,
            title="Wait for events (seconds)",
            description=(
                "How long the run listens for events before ending with nothing to drain. "
                "Empty: 600 s for the continuous runs, 10 s for a manual run or airflow dags test. "
                "A manual run waits in the queue until the running continuous run ends (one run at a "
                "time keeps the drains in order), then drains what is pending and ends."
            ),
        ),
    },
    # The pool's slots are the worker slots minus the producer's peak: drains never starve it.
    default_args=task_defaults(
        retry_delay=timedelta(seconds=10), priority_weight=CONSUMER_PRIORITY, pool=DRAINS_POOL
    ),
)
def crypto_prices_consumer() -> None:
    wait_for_events = PendingEventsSensor(
        task_id="wait_for_events",
        topic=settings().topic,
        consumer_group=CONSUMER_GROUP,
        kafka_conn_id=KAFKA_CONN_ID,
        postgres_conn_id=POSTGRES_CONN_ID,
        max_wait_param="max_wait_seconds",  # read from the run's params; empty: by the run's type
        poll_interval=2.0,
        deferrable=True,  # a 600 s wait must not hold a worker slot, whatever default_deferrable says
    )

    @task
    def plan_drains(pending: dict[str, int]) -> list[list[int]]:
        """Split the pending partitions into groups, one mapped drain each (see docs/scaling.md)."""
        from franz_ivan.groups import partition_groups

        return partition_groups(pending, settings().group_limits())

    drains = DrainEventsOperator.partial(
        task_id="drain_events",
        topic=settings().topic,
        consumer_group=CONSUMER_GROUP,
        kafka_conn_id=KAFKA_CONN_ID,
        postgres_conn_id=POSTGRES_CONN_ID,
        inlets=[topic_alias()],
        execution_timeout=timedelta(minutes=15),
        map_index_template="partitions {{ task.partitions | join(',') }}",
    ).expand(partitions=plan_drains(wait_for_events.output))

    # The run's Asset events, from one task: mapped drains that each named a new table at the same
    # moment would race in Airflow's API server (franz_ivan.operators explains).
    RecordTablesOperator(
        task_id="record_tables",
        results=drains.output,
        postgres_conn_id=POSTGRES_CONN_ID,
        outlets=[tables_alias()],
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,
    )


crypto_prices_consumer()
