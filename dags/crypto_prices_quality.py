"""
### Crypto prices quality

Judges the stored prices and the pipeline around them, records every verdict in the table
`crypto_prices_quality_results` (shown in Grafana and on the UI page), and fails the check's task
when a market fails; the failure posts to the alerts webhook (connection `crypto_prices_alerts`):

- **staleness**: a configured market showed no new price (no row, or the same price) for N minutes;
- **spike**: a recent price is far from the rolling median of its market's prices;
- **divergence**: the markets of one pair disagree beyond Y % in the same minutes;
- **allowance**: a source's API allowance is near exhaustion;
- **dead_letters**: dead letters appeared since the previous check (common-sql threshold check);
- **consumer_lag**: events not stored yet are above a threshold and growing.

Thresholds: defaults in code, overridden per market, pair or source by the Variable
`crypto_prices_quality` (docs/quality.md). Runs every 5 minutes, whatever the drains do (288 runs a
day; after each drain it would be up to 1,440): spike and divergence judge the last 10 minutes and
dead letters count since the previous check, so every minute is judged at least once; a consumer
that stopped is noticed by staleness and lag. With the OpenLineage provider and a transport, each
check reports the tables it read with its verdicts as data-quality assertions.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronTriggerTimetable, dag, task

from franz_ivan.dag_defaults import QUALITY_CADENCE, QUALITY_PRIORITY, alert_on_dag_failure, task_defaults
from franz_ivan.quality.operators import QualityCheckOperator, RecordedThresholdCheckOperator
from franz_ivan.settings import POSTGRES_CONN_ID, settings


@dag(
    dag_id="crypto_prices_quality",
    # A bound on the cadence, not a trigger per drain: the metadata stays small (docs/operations.md).
    schedule=CronTriggerTimetable(QUALITY_CADENCE, timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(minutes=10),
    on_failure_callback=alert_on_dag_failure,
    doc_md=__doc__,
    template_searchpath=[str(settings().sql_dir)],
    tags=["crypto_prices", "quality", "postgres"],
    # Retries are for a database or broker that did not answer; a failed check is not retried.
    # The error names market, figure and threshold; the failure webhook gets that text.
    default_args=task_defaults(
        retry_delay=timedelta(seconds=15),
        execution_timeout=timedelta(minutes=5),
        priority_weight=QUALITY_PRIORITY,
    ),
)
def crypto_prices_quality() -> None:
    @task
    def load_settings() -> dict[str, Any]:
        """Create the results table if missing; read the thresholds and the markets."""
        from franz_ivan.quality.runner import load_settings

        return load_settings()

    settings = load_settings()
    for name in ("staleness", "spike", "divergence", "allowance", "consumer_lag"):
        QualityCheckOperator(task_id=name, check=name, settings=settings)
    dead_letters = RecordedThresholdCheckOperator(
        task_id="dead_letters",
        conn_id=POSTGRES_CONN_ID,
        sql="quality_dead_letters.sql",
        min_threshold=0,
        max_threshold="{{ ti.xcom_pull(task_ids='load_settings')['dead_letters_max'] }}",
        check_name="dead_letters",
        market="{{ ti.xcom_pull(task_ids='load_settings')['topic'] }}",
        description="dead letters appeared since the previous check",
    )
    settings >> dead_letters


crypto_prices_quality()
