"""
### Crypto prices producer

Fetches the current price of every configured market and publishes a **price event** and, where
the source reports one, an **API allowance event** to the Kafka topic `crypto_prices`.

- Markets: Airflow Variable `crypto_prices_markets`, a JSON list such as `["coinbase-pro:btcusd"]`,
  read when the run starts. One mapped task per market, so one failing market fails alone.
- Sources: connection `<source>_api` (host = base URL, password = API key), optional.
- Kafka: connection `crypto_prices_kafka`; a send the broker does not acknowledge fails the task.
- Schedule: every minute, or `CRYPTO_PRICES_PRODUCER_SCHEDULE` (cron).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import dag, get_current_context, task

SCHEDULE = os.environ.get("CRYPTO_PRICES_PRODUCER_SCHEDULE", "* * * * *")


@dag(
    dag_id="crypto_prices_producer",
    schedule=SCHEDULE,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    dagrun_timeout=timedelta(minutes=5),
    doc_md=__doc__,
    tags=["crypto_prices", "kafka", "producer"],
    default_args={
        "owner": "franz-ivan",
        "retries": 2,
        "retry_delay": timedelta(seconds=5),
        "execution_timeout": timedelta(minutes=2),
    },
)
def crypto_prices_producer() -> None:
    @task
    def list_markets() -> list[str]:
        """Read and validate the markets Variable; one entry per market, in canonical form."""
        import json

        from airflow.sdk import Variable

        from franz_ivan.markets import parse_markets
        from franz_ivan.settings import DEFAULT_MARKETS, MARKETS_VARIABLE

        raw = Variable.get(MARKETS_VARIABLE, default=json.dumps(DEFAULT_MARKETS))
        return [market.key for market in parse_markets(raw)]

    @task(map_index_template="{{ task.op_kwargs['market'] }}")
    def publish_price(market: str) -> dict[str, object]:
        """Fetch one market's price and publish its events, every delivery acknowledged."""
        from franz_ivan.producer import publish_market

        context = get_current_context()
        return publish_market(market, run_key=f"{context['dag'].dag_id}/{context['run_id']}")

    publish_price.expand(market=list_markets())


crypto_prices_producer()
