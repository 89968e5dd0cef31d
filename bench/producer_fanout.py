"""Producer fan-out: 20 markets of one source, fetched concurrently, against one after another.

The local price API answers every request after ``--latency`` seconds (default 0.2). Each run
measures, each in a fresh process (imports and the first connection lookup excluded):

- the fetching half of the producer's per-source task (:func:`franz_ivan.producer.observe_source`
  with the source's pacer) for 20 Cryptowatch markets, three ways:

  - concurrently, as deployed (``CRYPTO_PRICES_FETCH_CONCURRENCY`` default 20). Cryptowatch
    reports an allowance with a floor, so its first market is asked alone and the other 19
    together: about two latencies;
  - concurrently with the allowance floor off: about one latency;
  - one after another (``CRYPTO_PRICES_FETCH_CONCURRENCY=1``): the sequential baseline;

- the whole function the task calls (:func:`franz_ivan.producer.publish_source`: fetch, then
  publish every event with each delivery acknowledged), concurrent and sequential.

Target: the concurrent fetch takes at most 0.2 x 20 x latency. Separately, the fixed overhead: the
wall time of ``airflow dags test crypto_prices_producer`` with the same 20 markets, at that latency
and at none.

``python -m bench.producer_fanout [--runs 5] [--latency 0.2]``
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import Figure, bench_broker, fresh_database, print_figures, ratio_figure, run_worker
from devtools.local_stack import Stack
from devtools.price_api import ApiState, PriceApiServer, serve
from franz_ivan.markets import parse_market

PAIRS = ("btcusd", "btceur", "ethusd", "etheur", "ltcusd", "xrpusd", "solusd", "adausd", "dogeusd", "dotusd")
MARKETS = [f"cryptowatch:{exchange}:{pair}" for exchange in ("coinbase-pro", "kraken") for pair in PAIRS]
"""Twenty Cryptowatch markets, all known to the local price API."""

AS_DEPLOYED = "concurrent (as deployed)"
SEQUENTIAL = "sequential (concurrency 1)"
VARIANTS: dict[str, dict[str, str]] = {
    AS_DEPLOYED: {},
    "concurrent, allowance floor 0": {"CRYPTO_PRICES_CRYPTOWATCH_ALLOWANCE_FLOOR": "0"},
    SEQUENTIAL: {"CRYPTO_PRICES_FETCH_CONCURRENCY": "1"},
}
"""Environment of each way of fetching."""


def worker_seconds(
    mode: str, stack: Stack, api: PriceApiServer, latency: float, env: dict[str, str]
) -> float:
    """Wall time of one ``fetch`` or ``fanout`` job over the 20 markets, in a fresh process."""
    api.state = ApiState(latency=latency)
    keys = [parse_market(entry).key for entry in MARKETS]
    result = run_worker(
        mode, "--source", "cryptowatch", "--markets", json.dumps(keys), env={**stack.airflow_env(), **env}
    )
    if result["events"] != len(MARKETS):
        raise RuntimeError(f"{mode} got {result['events']} prices of {len(MARKETS)}")
    return float(result["seconds"])


def dags_test_seconds(stack: Stack, api: PriceApiServer, latency: float) -> float:
    api.state = ApiState(latency=latency)
    started = time.monotonic()
    stack.airflow("dags", "test", "crypto_prices_producer")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.2, help="seconds the API waits before answering")
    args = parser.parse_args(argv)
    target = 0.2 * len(MARKETS) * args.latency
    fetch: dict[str, list[float]] = {name: [] for name in VARIANTS}
    publish_source: dict[str, list[float]] = {AS_DEPLOYED: [], SEQUENTIAL: []}
    dags_test: dict[float, list[float]] = {args.latency: [], 0.0: []}
    with (
        bench_broker() as broker,
        fresh_database() as postgres,
        serve() as api,
        tempfile.TemporaryDirectory(prefix="franz-bench-airflow-") as home,
    ):
        topic = f"bench_fanout_{uuid.uuid4().hex[:8]}"
        stack = Stack(broker, postgres, api.url, Path(home), markets=MARKETS, topic=topic)
        for _ in range(args.runs):
            for name, env in VARIANTS.items():
                fetch[name].append(worker_seconds("fetch", stack, api, args.latency, env))
            for name, found in publish_source.items():
                found.append(worker_seconds("fanout", stack, api, args.latency, VARIANTS[name]))
        stack.migrate()
        for _ in range(args.runs):
            for latency, found in dags_test.items():
                found.append(dags_test_seconds(stack, api, latency))
    figures = [Figure(f"fetch 20 markets, {name}", found, "s") for name, found in fetch.items()]
    figures += [
        ratio_figure(f"fetch: {SEQUENTIAL} / {AS_DEPLOYED}", fetch[SEQUENTIAL], fetch[AS_DEPLOYED]),
        ratio_figure(f"fetch: {AS_DEPLOYED} / target {target:g} s", fetch[AS_DEPLOYED], [target] * args.runs),
    ]
    figures += [
        Figure(f"publish_source (fetch + publish), {name}", found, "s")
        for name, found in publish_source.items()
    ]
    figures += [
        Figure(f"airflow dags test crypto_prices_producer, latency {latency:g} s", found, "s")
        for latency, found in dags_test.items()
    ]
    print_figures(f"Producer fan-out, 20 markets, API latency {args.latency:g} s", figures)
    return figures


if __name__ == "__main__":
    main()
