"""Latency of the "Crypto prices" page's API over a week of 20 markets: ``python -m bench.ui_latency``.

Seeds a fresh database with one price per minute for 7 days (``--days``) for 20 markets (10 pairs on 2
exchanges: 201,600 price rows, as many allowance rows, a few dead letters), starts Airflow's
api-server with the plugin (SQLite metadata, simple auth manager) and a Tansu broker for the lag,
logs in, and times sequential ``GET`` requests through HTTP keep-alive, as the page makes them.
Prints p50 and p95 per endpoint and for a whole page load (overview, then every pair's chart).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import EXCHANGES, PAIRS, Figure, bench_broker, fresh_database, print_figures
from devtools.local_stack import Stack
from devtools.ui_seed import PriceRow, create_tables, insert_prices
from devtools.ui_server import PAGE_PREFIX, ui_api_server

BENCH_PAIRS = PAIRS[:10]
BENCH_EXCHANGES = EXCHANGES[:2]


def percentile(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def seed(conn: Any, now: datetime, days: int = 7) -> int:
    """A price per minute per market for ``days``, an allowance per price, 30 dead letters; rows stored."""
    minutes = days * 24 * 60
    create_tables(conn, BENCH_PAIRS)
    start = now.replace(second=0, microsecond=0) - timedelta(minutes=minutes)
    stored = 0
    for n, pair in enumerate(BENCH_PAIRS):
        rows = (
            PriceRow(start + timedelta(minutes=m, seconds=e * 7), Decimal(1000 * (n + 1) + m % 97), x, x)
            for m in range(minutes)
            for e, x in enumerate(BENCH_EXCHANGES)
        )
        stored += insert_prices(conn, pair, rows)
    with (
        conn.cursor() as cursor,
        cursor.copy(
            "COPY cryptowatch_api_allowance (allowance, cost, source, exchange, pair, observed_at, event_id, "
            "kafka_partition, kafka_offset) FROM STDIN"
        ) as out,
    ):
        for m in range(minutes):
            for pair in BENCH_PAIRS:
                for exchange in BENCH_EXCHANGES:
                    at = start + timedelta(minutes=m)
                    out.write_row((Decimal(10) - Decimal(m % 60) / 10, "0.005", exchange, exchange, pair, at,
                                   uuid.uuid4(), 0, m))  # fmt: skip
    for offset in range(30):
        conn.execute(
            'INSERT INTO crypto_prices_dead_letter ("timestamp", topic, kafka_partition, kafka_offset, '
            "message_value, error) VALUES (%s, 'crypto_prices', 0, %s, 'x', 'price is not a number')",
            (now - timedelta(hours=offset), offset),
        )
    conn.execute("ANALYZE")
    conn.commit()
    return stored


def timed(get: Callable[[str], Any], paths: Sequence[str]) -> float:
    """Milliseconds to fetch ``paths`` one after the other; each must answer 200."""
    began = time.perf_counter()
    for path in paths:
        response = get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path}: HTTP {response.status_code} {response.text[:300]}")
    return (time.perf_counter() - began) * 1000


def chart(range_name: str, request: int) -> list[str]:
    """One pair's chart, the pairs taken in turn."""
    return [f"/api/prices?pair={BENCH_PAIRS[request % len(BENCH_PAIRS)]}&range={range_name}"]


def fixed(paths: list[str], request: int) -> list[str]:
    return paths


def measure(get: Callable[[str], Any], requests: int) -> list[Figure]:
    page_load = ["/api/overview", *(f"/api/prices?pair={pair}&range=7d" for pair in BENCH_PAIRS)]
    cases: dict[str, Callable[[int], list[str]]] = {
        "overview": partial(fixed, ["/api/overview"]),
        **{f"prices {name}": partial(chart, name) for name in ("1h", "24h", "7d")},
        "lag": partial(fixed, ["/api/lag"]),
        "page load 7d (overview + 10 charts)": partial(fixed, page_load),
    }
    for case in cases.values():  # warm up: the first answers pay for imports and plans
        timed(get, case(0))
    figures = []
    for title, case in cases.items():
        samples = [timed(get, case(i)) for i in range(requests)]
        figures.append(Figure(f"{title} latency", samples, "ms"))
        print(
            f"  {title}: p50 {percentile(samples, 0.5):.1f} ms, p95 {percentile(samples, 0.95):.1f} ms "
            f"(n={len(samples)})",
            flush=True,
        )
    return figures


def main(argv: Sequence[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per endpoint")
    parser.add_argument("--days", type=int, default=7, help="days of prices to seed (7: the issue's load)")
    parser.add_argument("--runs", type=int, default=1, help="accepted for `python -m bench`; unused")
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="ui_latency_") as home,
        bench_broker() as broker,
        fresh_database("franz_bench_ui") as postgres,
    ):
        began = time.perf_counter()
        with postgres.connect() as conn:
            rows = seed(conn, datetime.now(UTC), args.days)
        markets = len(BENCH_PAIRS) * len(BENCH_EXCHANGES)
        seconds = time.perf_counter() - began
        print(
            f"Seeded {rows:,} price rows ({args.days} d) for {markets} markets in {seconds:.0f} s", flush=True
        )
        stack = Stack(broker, postgres, "http://unused", Path(home), topic=f"ui_bench_{uuid.uuid4().hex[:8]}")
        stack.migrate()
        with ui_api_server(stack) as server:
            import requests

            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {server.token()}"

            def get(path: str) -> Any:
                return session.get(f"{server.url}{PAGE_PREFIX}{path}", timeout=60)

            print(f"\nLatency of the page's API, {args.requests} sequential requests each:", flush=True)
            figures = measure(get, args.requests)
    print_figures("Crypto prices page API (ms per request)", figures)
    return figures


if __name__ == "__main__":
    main()
