"""``make backfill-demo``: an hour of one-minute candles filled offline, then the gap finder's view.

Starts Tansu and the local price API (always local: its candle endpoints speak each source's
history API), uses a fresh ``crypto_prices_backfill_demo`` database, and runs the producer for the
hour that ended two hours ago (``airflow dags test`` of a past date, with the producer on an hourly
schedule so one run covers the hour), then the consumer, then ``python -m franz_ivan.gaps`` over
that hour: what is left missing are the minutes in which the served Coinbase and Cryptowatch
history had no trades.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from devtools.demo import print_rows
from devtools.local_stack import ROOT, VENV_BIN, drop_database, local_postgres, running_stack

DATABASE = "crypto_prices_backfill_demo"
MARKETS = ["kraken:btcusd", "coinbase:btcusd", "binance:btcusdt", "bitstamp:ethusd", "coinbase-pro:btcusd"]


def main() -> None:
    started = time.monotonic()
    home = ROOT / ".airflow-local" / "backfill-demo"
    drop_database(local_postgres(DATABASE), DATABASE)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    hourly = {"CRYPTO_PRICES_PRODUCER_SCHEDULE": "0 * * * *"}
    with running_stack(home, DATABASE, markets=MARKETS) as stack:
        stack.migrate()
        # ``dags test`` at a time covers the schedule period that ended then: the hour before it.
        print(
            f"airflow dags test crypto_prices_producer {hour + timedelta(hours=1):%Y-%m-%dT%H:%M} ...",
            flush=True,
        )
        stack.airflow(
            "dags", "test", "crypto_prices_producer", (hour + timedelta(hours=1)).isoformat(), env=hourly
        )
        print("airflow dags test crypto_prices_consumer ...", flush=True)
        stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", '{"max_wait_seconds": 30}')
        total = print_rows(stack.postgres, ["btcusd", "btcusdt", "ethusd"])
        gaps = subprocess.run(
            [
                str(VENV_BIN / "python"),
                "-m",
                "franz_ivan.gaps",
                "--from",
                hour.isoformat(),
                "--to",
                (hour + timedelta(hours=1)).isoformat(),
                "--topic",
                stack.topic,
            ],
            env=stack.airflow_env(),
            capture_output=True,
            text=True,
            check=True,
        )
        print(gaps.stdout)
    print(f"Backfill demo done in {time.monotonic() - started:.1f} s: {total} rows stored.")


if __name__ == "__main__":
    sys.exit(main())
