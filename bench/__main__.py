"""Run every benchmark (``make bench``): ``python -m bench [--runs 5] [--only NAME ...]``.

Prints the machine description and each benchmark's figures, and writes them all as JSON to
``bench/results/<UTC time>.json``. ``--quick`` shrinks every load to a smoke test (one run, tiny
N): its figures are not benchmark results.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import dag_parse, drain_throughput, plugin_load, producer_fanout, scale_out
from bench.common import Figure, print_machine

RESULTS = Path(__file__).resolve().parent / "results"

Runner = Callable[[list[str]], Any]
BENCHMARKS: dict[str, tuple[Runner, list[str], list[str]]] = {
    # name: (main, arguments of a full run, arguments of a quick smoke run)
    "drain_throughput": (
        drain_throughput.main,
        [],
        ["--events", "3000", "--memory-events", "1000,3000", "--batch-size", "500"],
    ),
    "scale_out": (scale_out.main, [], ["--events", "3000", "--batch-size", "500"]),
    "dag_parse": (dag_parse.main, [], []),
    "plugin_load": (plugin_load.main, [], []),
    "producer_fanout": (producer_fanout.main, [], ["--latency", "0.05"]),
}


def as_json(found: Any) -> Any:
    """Figures (alone, in lists or in dicts by title) as plain JSON values."""
    if isinstance(found, Figure):
        return found.as_dict()
    if isinstance(found, dict):
        return {title: as_json(value) for title, value in found.items()}
    if isinstance(found, list):
        return [as_json(value) for value in found]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (medians of these)")
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--quick", action="store_true", help="smoke test: one run, tiny loads")
    args = parser.parse_args()
    started = time.monotonic()
    results: dict[str, Any] = {"machine": print_machine(), "quick": args.quick}
    for name in args.only or BENCHMARKS:
        run, full, quick = BENCHMARKS[name]
        print(f"\n#### {name}", flush=True)
        arguments = [*quick, "--runs", "1"] if args.quick else [*full, "--runs", str(args.runs)]
        results[name] = as_json(run(arguments))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nAll done in {time.monotonic() - started:.0f} s; figures in {path}", flush=True)


if __name__ == "__main__":
    main()
