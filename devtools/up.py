"""``make up``: the pipeline running by itself, with the real Airflow services, until Ctrl-C.

Starts Tansu, uses the local PostgreSQL database ``crypto_prices``, starts the local price API as a
process (unless ``--api-url`` names a real one), then the four Airflow 3 components — scheduler
(LocalExecutor), triggerer, dag-processor and api-server — on a project-local ``AIRFLOW_HOME``
(``.airflow-local/up``) with its metadata in the local PostgreSQL
(:func:`devtools.airflow_services.metadata_database`). ``--executor celery`` runs the CeleryExecutor
instead, with the machine's Redis as broker, the metadata database as result backend, and
``--workers`` ``airflow celery worker`` processes (``--concurrency`` slots each).
Both DAGs are unpaused, so the producer runs every minute and the sensor-triggered consumer stores
what it publishes, with nobody touching anything. ``--markets`` seeds the Variable
``crypto_prices_markets`` in the metadata database on the first start only; from then on the
Variable is the one place for the markets, edited in the UI or with ``airflow variables set``.

Every process is a :class:`devtools.processes.Service`: its whole process group is stopped on exit,
Ctrl-C and errors included, and if this process is killed outright its services' guards stop them.

``--measure-freshness N`` runs the same stack for ``N`` scheduled producer runs, then prints the
p50/p95 of freshness — ``"timestamp"`` (recorded by PostgreSQL) minus ``observed_at`` — and stops.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from devtools.airflow_services import (
    ADMIN,
    CONSUMER,
    PRODUCER,
    Airflow,
    CeleryWorkers,
    airflow_services,
    check_redis,
    clean_metadata,
    passwords_file,
)
from devtools.freshness import pairs_of, run_freshness, stored_event_ids
from devtools.local_stack import ROOT, StackError, free_port, running_stack, wait_for_port
from devtools.processes import running_service

DEFAULT_HOME = ROOT / ".airflow-local" / "up"
DEFAULT_MARKETS = ("coinbase-pro:btcusd", "coinbase-pro:ethusd")


@contextmanager
def price_api_process(log_dir: Path) -> Iterator[str]:
    """Run :mod:`devtools.price_api` as a process on a free port; yield its URL."""
    port = free_port()
    command = [sys.executable, "-m", "devtools.price_api", "--port", str(port)]
    with running_service("price-api", command, log_dir / "price-api.log"):
        wait_for_port("127.0.0.1", port, 15, "the price API")
        yield f"http://127.0.0.1:{port}"


def announce(airflow: Airflow, celery: CeleryWorkers | None) -> None:
    from franz_ivan.settings import MARKETS_VARIABLE

    stack = airflow.stack
    executor = (
        f"CeleryExecutor, broker {celery.broker_url}; workers "
        + ", ".join(celery.names())
        + f" ({celery.concurrency} slots each, queue {','.join(celery.queues)})"
        if celery
        else "LocalExecutor"
    )
    print(
        f"""
Airflow is up, and both DAGs are unpaused: {PRODUCER} runs every minute, {CONSUMER} listens.

  markets       {", ".join(airflow.markets())}
                (the Variable {MARKETS_VARIABLE}: edit it under Admin > Variables or with
                 airflow variables set; the next producer run reads it)

  UI            {airflow.url}   (log in as {ADMIN} / {airflow.password})
  password file {passwords_file(stack.airflow_home)}
  REST API      {airflow.url}/api/v2   (POST {airflow.url}/auth/token for a token)
  Kafka (Tansu) {stack.broker.bootstrap}, topic {stack.topic}
  PostgreSQL    {stack.postgres.host}:{stack.postgres.port}/{stack.postgres.database} as {stack.postgres.user}
  executor      {executor}
  price API     {stack.api_url}
  logs          {stack.airflow_home / "logs"}

Ctrl-C stops everything this started.
""",
        flush=True,
    )


def follow(airflow: Airflow, interval: float = 30.0) -> None:
    """Print the row counts of the markets' tables every ``interval`` seconds until interrupted or a
    component dies; the markets are read each time, so an edit of the Variable shows."""
    from franz_ivan.markets import MarketsError

    while True:
        time.sleep(interval)
        airflow.check_alive()
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        try:
            pairs = pairs_of(airflow.markets())
        except MarketsError as error:
            # The producer's runs fail on it too; say why here and keep the stack up for the fix.
            print(f"{stamp} {error}", flush=True)
            continue
        counts = {table: len(ids) for table, ids in stored_event_ids(airflow.stack.postgres, pairs).items()}
        print(
            f"{stamp} rows: " + ", ".join(f"{table}={count}" for table, count in counts.items()), flush=True
        )


def interrupt_once() -> None:
    """Ctrl-C and SIGTERM interrupt once; later ones are ignored, so that the clean-up can finish."""

    def interrupt(signum: int, frame: object) -> None:
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8080, help="the UI and REST API port (default 8080)")
    parser.add_argument("--api-url", help="a market-data API to use instead of starting the local one")
    parser.add_argument(
        "--markets",
        default=",".join(DEFAULT_MARKETS),
        help="comma-separated markets stored in the Variable crypto_prices_markets on the first start "
        "(default %(default)s); later starts keep the Variable as it was edited",
    )
    parser.add_argument(
        "--database", default="crypto_prices", help="PostgreSQL database (default %(default)s)"
    )
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default %(default)s)")
    parser.add_argument(
        "--executor",
        choices=("local", "celery"),
        default="local",
        help="local: the LocalExecutor (default); celery: the CeleryExecutor on the local Redis",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="Celery workers, each a node of its own (default %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="task slots per Celery worker (default %(default)s)"
    )
    parser.add_argument(
        "--queues",
        default="default",
        help="comma-separated Celery queues every worker serves (default %(default)s, Airflow's)",
    )
    parser.add_argument(
        "--measure-freshness",
        type=int,
        metavar="N",
        help="run N scheduled producer runs, print p50/p95, stop",
    )
    args = parser.parse_args(argv)
    interrupt_once()
    markets = [market.strip() for market in args.markets.split(",") if market.strip()]
    celery = (
        CeleryWorkers(args.workers, args.concurrency, tuple(q for q in args.queues.split(",") if q))
        if args.executor == "celery"
        else None
    )
    try:
        if celery is not None:
            check_redis(celery.broker_url)  # before anything starts: say what is missing at once
        with ExitStack() as stack:
            api_url = args.api_url or stack.enter_context(price_api_process(args.home / "logs"))
            services = stack.enter_context(
                running_stack(args.home, args.database, api_url, markets, pin_markets=False)
            )
            services.create_topic()
            print(f"Starting Airflow in {args.home} (logs in {args.home / 'logs'}) ...", flush=True)
            started = datetime.now(UTC)
            airflow = stack.enter_context(airflow_services(services, args.port, celery=celery))
            clean_metadata(airflow)  # as compose's airflow-cleanup and the Helm CronJob do daily
            announce(airflow, celery)
            if args.measure_freshness:
                run_freshness(
                    airflow, args.measure_freshness, started, timeout=90 * args.measure_freshness + 120
                )
            else:
                follow(airflow)
    except KeyboardInterrupt:
        print("\nStopped; everything it started is stopped too.", flush=True)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
