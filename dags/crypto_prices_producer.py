"""
### Crypto prices producer

Fetches the current price of every configured market and publishes a **price event** and, where
the source reports one, an **API allowance event** to the Kafka topic `crypto_prices`.

- Markets: Airflow Variable `crypto_prices_markets`, a JSON list such as
  `["kraken:btcusd", "coinbase:btcusd", "binance:btcusdt", "coinbase-pro:btcusd"]` (the last one
  is a Cryptowatch market), read when the run starts; default `["kraken:btcusd"]`. A manual run
  may name other markets in its `markets` param (Trigger form), checked by the same rules.
- One mapped task per **source**: it fetches that source's markets concurrently, honouring the
  source's rate limits and allowance floor, publishes every price it got, and then fails if any
  market failed, naming each one and its problem. Other sources' tasks are not affected.
- Sources: connection `<source>_api` (host = base URL, password = API key), optional.
- Kafka: connection `crypto_prices_kafka`; a send the broker does not acknowledge fails the task.
- Schedule: every minute, or `CRYPTO_PRICES_PRODUCER_SCHEDULE` (cron). A run covers the
  interval from the schedule's previous time to its own (`CronDataIntervalTimetable`): the run
  started at 12:01 has logical date 12:00 and covers the minute 12:00-12:01.
- **Backfill**: a run whose interval ended over 5 minutes ago (`airflow backfill create`, the
  UI's backfill dialog, `airflow dags test crypto_prices_producer <past date>`) publishes the
  interval's one-minute **candles** from each source's history instead of the current prices.
  See `docs/backfill.md`.
- Lineage: once the publish tasks are done, `record_topic` updates the topic's Asset
  (`kafka://<bootstrap host:port>/<topic>`, through the alias `crypto_prices_topic`, named at run
  time from the Kafka connection), its event carrying the counts the run published; with the
  OpenLineage provider and a transport, each publish task also sends START and COMPLETE/FAIL events
  (docs/operations.md).
- Alerts: a failed task posts to the `crypto_prices_alerts` webhook, if set; so do a run still
  unfinished `CRYPTO_PRICES_PRODUCER_DEADLINE` seconds after it was queued (a DeadlineAlert; 180 s
  in the deployments) and a run that fails with no failed task (past its 5-minute `dagrun_timeout`).
- Shared workers: the producer's tasks have the highest priority of the project's tasks, and the
  consumer's pool leaves them their slots (docs/operations.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task

from franz_ivan.dag_defaults import PRODUCER_PRIORITY, alert_on_dag_failure, producer_deadline, task_defaults
from franz_ivan.lineage import topic_alias
from franz_ivan.operators import PublishPricesOperator, RecordTopicOperator
from franz_ivan.settings import settings


@dag(
    dag_id="crypto_prices_producer",
    schedule=CronDataIntervalTimetable(settings().producer_schedule, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    dagrun_timeout=timedelta(minutes=5),
    deadline=producer_deadline(settings().producer_deadline_seconds),
    on_failure_callback=alert_on_dag_failure,
    doc_md=__doc__,
    tags=["crypto_prices", "kafka", "producer"],
    params={
        "markets": Param(
            None,
            type=["null", "array"],
            items={"type": "string"},
            minItems=1,
            title="Markets",
            description=(
                "Markets for this run only, one per line, like kraken:btcusd, coinbase:btcusd, "
                "binance:btcusdt, bitstamp:btcusd or coinbase-pro:btcusd (a Cryptowatch market). "
                "Empty: the markets of the Variable crypto_prices_markets."
            ),
        ),
    },
    default_args=task_defaults(
        retry_delay=timedelta(seconds=5),
        execution_timeout=timedelta(minutes=2),
        priority_weight=PRODUCER_PRIORITY,  # ahead of drains, quality checks and other DAGs' tasks
    ),
)
def crypto_prices_producer() -> None:
    @task
    def list_markets() -> list[dict[str, object]]:
        """The run's ``markets`` param, else the markets Variable, validated; one group of keys per source."""
        import json

        from airflow.sdk import Variable

        from franz_ivan.markets import group_by_source, parse_market_list, parse_markets
        from franz_ivan.settings import DEFAULT_MARKETS, MARKETS_VARIABLE

        chosen = get_current_context()["params"].get("markets")
        if chosen is not None:
            return group_by_source(parse_market_list(chosen, "param 'markets'"))
        raw = Variable.get(MARKETS_VARIABLE, default=json.dumps(DEFAULT_MARKETS))
        return group_by_source(parse_markets(raw))

    published = PublishPricesOperator.partial(
        task_id="publish_prices",
        topic=settings().topic,
        map_index_template="{{ task.group['source'] }}",
    ).expand(group=list_markets())

    # The run's Asset event, from one task: publish tasks that each named a new topic at the same
    # moment would race in Airflow's API server (franz_ivan.operators explains).
    RecordTopicOperator(
        task_id="record_topic",
        results=published.output,
        topic=settings().topic,
        outlets=[topic_alias()],
        trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS,
    )


crypto_prices_producer()
