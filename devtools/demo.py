"""``make demo``: from nothing, the pipeline once on the local runtime, and the rows it stored.

Each source whose public API answers within a few seconds is used live; the others, and all of
them without internet, are served by the local price API, and the demo says which.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

from devtools.local_stack import ROOT, Postgres, running_stack


def print_rows(postgres: Postgres, tables: list[str]) -> int:
    """Print the newest rows of each table; return how many rows the tables hold in all."""
    from psycopg import sql

    total = 0
    with postgres.connect() as conn:
        for table in tables:
            count = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()
            total += count[0] if count else 0
            rows = conn.execute(
                sql.SQL('SELECT * FROM {} ORDER BY "timestamp" DESC, observed_at DESC LIMIT 5').format(
                    sql.Identifier(table)
                )
            )
            names = [column.name for column in rows.description or []]
            print(f"\n{table}: {count[0] if count else 0} rows (newest 5)")
            for row in rows:
                print("  " + ", ".join(f"{n}={v}" for n, v in zip(names, row, strict=True)))
    return total


DEMO_MARKETS = [
    "kraken:btcusd",
    "coinbase:btcusd",
    "bitstamp:btcusd",
    "binance:btcusdt",
    "cryptowatch:coinbase-pro:btcusd",
]
PROBE_SECONDS = 3.0


def probe_live_sources(markets: list[str], timeout: float = PROBE_SECONDS) -> dict[str, str | None]:
    """Ask each source's public API for its first market's price at once.

    Returns, per source, None when it answered with a price within ``timeout`` seconds, else why not.
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    from franz_ivan.markets import parse_market
    from franz_ivan.producer import new_session
    from franz_ivan.sources import SOURCES, Endpoint, fetch_quote

    firsts: dict[str, Any] = {}
    for entry in markets:
        market = parse_market(entry)
        firsts.setdefault(market.source, market)
    session = new_session(len(firsts))
    # Not a ``with``: leaving it would wait for a probe stuck in DNS, and the point is to move on.
    pool = ThreadPoolExecutor(len(firsts), thread_name_prefix="probe")
    futures = {
        source: pool.submit(fetch_quote, session, Endpoint(SOURCES[source].default_base_url), market)
        for source, market in firsts.items()
    }
    done, _ = wait(futures.values(), timeout=timeout)
    pool.shutdown(wait=False, cancel_futures=True)
    outcome: dict[str, str | None] = {}
    for source, future in futures.items():
        if future not in done:
            outcome[source] = f"no answer within {timeout:g} s"
        else:
            error = future.exception()
            outcome[source] = None if error is None else getattr(error, "problem", str(error))
    return outcome


def demo() -> None:
    """From nothing: start the services, run the producer then the consumer once, print the rows.

    Each source whose public API answers within a few seconds is used live; the others, and all of
    them without internet, are served by the local price API, and the demo says which.
    """
    from franz_ivan.markets import parse_market
    from franz_ivan.sources import SOURCES

    started = time.monotonic()
    home = ROOT / ".airflow-local"
    shutil.rmtree(home, ignore_errors=True)
    print(f"Probing the live price APIs ({PROBE_SECONDS:g} s at most) ...", flush=True)
    probes = probe_live_sources(DEMO_MARKETS)
    with running_stack(home, markets=DEMO_MARKETS) as stack:
        stack.live_sources = tuple(source for source, problem in probes.items() if problem is None)
        for source, problem in probes.items():
            where = SOURCES[source].default_base_url
            if problem is None:
                print(f"  {source:<12} LIVE at {where}")
            else:
                print(f"  {source:<12} FALLING BACK to the local price API at {stack.api_url}")
                print(f"  {'':<12} ({where}: {problem})")
        if not stack.live_sources:
            print(
                "No live source answered (no internet?): every price below comes from the local price "
                "API, which serves recorded payloads with moving prices.",
                flush=True,
            )
        print(
            f"Kafka (Tansu) at {stack.broker.bootstrap}; PostgreSQL at "
            f"{stack.postgres.host}:{stack.postgres.port}/{stack.postgres.database}",
            flush=True,
        )
        stack.migrate()
        # A manual consumer run drains what is pending, or ends after its short manual wait.
        for dag_id in ("crypto_prices_producer", "crypto_prices_consumer"):
            print(f"airflow dags test {dag_id} ...", flush=True)
            stack.airflow("dags", "test", dag_id)
        pairs = sorted({parse_market(market).pair for market in stack.markets})
        total = print_rows(stack.postgres, [*pairs, "cryptowatch_api_allowance"])
    print(f"\nDemo done in {time.monotonic() - started:.1f} s: {total} rows stored.")


if __name__ == "__main__":
    demo()
