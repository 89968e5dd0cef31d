"""DAG parse cost: each DAG file against an empty DAG file that imports only ``airflow.sdk``.

Each measurement is a fresh Python process that imports ``airflow.sdk`` and then executes one
DAG file, timing both steps; the runs of the files are interleaved. Reported per file: the time
to a parsed DAG (``airflow.sdk`` import plus the file) and its per-run ratio to the empty DAG
file (the target: at most 1.2, nothing heavy at top level), the file's own time on top of
``airflow.sdk`` beside that of a one-task DAG file (what ``@task`` alone costs), and any heavy
client library the file pulled in. Then ``airflow dags report``
(Airflow's own DagBag parse timings) for the project's dags folder.

``python -m bench.dag_parse [--runs 7]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.common import SUBPROCESS_ENV, Figure, print_figures, ratio_figure
from devtools.local_stack import ROOT, VENV_BIN

EMPTY_DAG = '''"""An empty DAG: the floor every DAG file pays."""

from airflow.sdk import dag


@dag(schedule=None)
def empty() -> None:
    """Nothing to do."""


empty()
'''

ONE_TASK_DAG = '''"""A DAG with one TaskFlow task: what ``@task`` itself costs to import."""

from airflow.sdk import dag, task


@dag(schedule=None)
def one_task() -> None:
    @task
    def nothing() -> None:
        """Nothing to do."""

    nothing()


one_task()
'''

HEAVY_MODULES = (
    "confluent_kafka",
    "psycopg",
    "requests",
    "airflow.providers.apache.kafka",
    "airflow.providers.postgres",
    "franz_ivan.drain",
    "franz_ivan.store",
    "franz_ivan.producer",
    "franz_ivan.sources",
)
"""Clients and pipeline modules that belong inside tasks, never at parse time."""

PARSE_ONE = """
import importlib.util, json, sys, time
started = time.perf_counter()
import airflow.sdk
sdk_done = time.perf_counter()
before = set(sys.modules)
spec = importlib.util.spec_from_file_location("dag_under_test", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
done = time.perf_counter()
heavy = sorted(m for m in set(sys.modules) - before
               if any(m == h or m.startswith(h + ".") for h in sys.argv[2].split(",")))
print(json.dumps({"total": done - started, "file": done - sdk_done, "heavy": heavy}))
"""


def airflow_env(home: Path) -> dict[str, str]:
    """A throwaway ``AIRFLOW_HOME`` that points at the project's dags and plugins folders."""
    return {
        **SUBPROCESS_ENV,
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


def airflow(env: dict[str, str], *args: str) -> str:
    """Run ``airflow *args``; its standard output, or an error with what it printed."""
    completed = subprocess.run(
        [str(VENV_BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed:\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
        )
    return completed.stdout.strip()


def parse_once(path: Path, env: dict[str, str]) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-c", PARSE_ONE, str(path), ",".join(HEAVY_MODULES)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"parsing {path} failed:\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    dag_files = sorted((ROOT / "dags").glob("*.py"))
    with tempfile.TemporaryDirectory(prefix="franz-bench-airflow-") as home:
        env = airflow_env(Path(home))
        empty = Path(home) / "empty_dag.py"
        empty.write_text(EMPTY_DAG)
        one_task = Path(home) / "one_task_dag.py"
        one_task.write_text(ONE_TASK_DAG)
        files = [empty, one_task, *dag_files]
        results: dict[Path, list[dict[str, Any]]] = {path: [] for path in files}
        for _ in range(args.runs):
            for path in files:
                results[path].append(parse_once(path, env))
        figures = [
            Figure("empty DAG file: airflow.sdk + file", [r["total"] * 1000 for r in results[empty]], "ms")
        ]
        for path in dag_files:
            found = results[path]
            figures += [
                Figure(f"{path.name}: airflow.sdk + file", [r["total"] * 1000 for r in found], "ms"),
                ratio_figure(
                    f"{path.name} / empty DAG file",
                    [r["total"] for r in found],
                    [r["total"] for r in results[empty]],
                ),
                Figure(
                    f"{path.name}: the file alone, after airflow.sdk", [r["file"] * 1000 for r in found], "ms"
                ),
            ]
        figures += [
            Figure(
                f"{name} DAG file: the file alone, after airflow.sdk", [r["file"] * 1000 for r in found], "ms"
            )
            for name, found in (("empty", results[empty]), ("one-task", results[one_task]))
        ]
        print_figures(f"DAG parse cost, fresh process per measurement, {args.runs} runs", figures)
        for path in dag_files:
            heavy = sorted({module for r in results[path] for module in r["heavy"]})
            print(f"  {path.name}: heavy modules imported at parse time: {', '.join(heavy) or 'none'}")
        airflow(env, "db", "migrate")
        report = airflow(env, "dags", "report").splitlines()
        table = next((i for i, line in enumerate(report) if line.startswith("file")), 0)
        print("\n== airflow dags report\n" + "\n".join(report[table:]), flush=True)
    return figures


if __name__ == "__main__":
    main()
