"""Plugin loading in an Airflow process: the project's plugins folder against an empty one.

Every Airflow process (task runners included) loads the plugins: the plugins folder is scanned and
the ``airflow.plugins`` entry points are loaded. Each measurement is a fresh Python that imports
Airflow's plugins manager and times ``ensure_plugins_loaded()`` with ``[core] plugins_folder`` set
to the repository's ``plugins/`` or to an empty folder (the baseline, same run, interleaved).
Reported: both times and their per-run ratio, how many franz-ivan modules were imported under a
bare name (a second copy), and whether a client library came with the plugins.

``python -m bench.plugin_load [--runs 7]``
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

from bench.common import Figure, print_figures, ratio_figure
from devtools.local_stack import ROOT

PROBE = """
import json, os, sys, time
from airflow import plugins_manager
started = time.perf_counter()
plugins_manager.ensure_plugins_loaded()
seconds = time.perf_counter() - started
folder = os.path.join(os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"], "")
copies = [n for n, m in list(sys.modules.items())
          if (getattr(m, "__file__", None) or "").startswith(folder) and not n.startswith("franz_ivan")]
print(json.dumps({"seconds": seconds, "copies": sorted(copies),
                  "clients": [m for m in ("confluent_kafka", "psycopg") if m in sys.modules]}))
"""


def load_once(plugins_folder: Path, airflow_home: Path) -> dict[str, Any]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={
            **environment,
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    project: list[dict[str, Any]] = []
    empty: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as scratch:
        empty_folder, home = Path(scratch) / "plugins", Path(scratch) / "airflow"
        empty_folder.mkdir()
        for _ in range(args.runs):
            project.append(load_once(ROOT / "plugins", home))
            empty.append(load_once(empty_folder, home))
    figures = [
        Figure("plugins/ of the project", [run["seconds"] * 1000 for run in project], "ms"),
        Figure("an empty plugins folder", [run["seconds"] * 1000 for run in empty], "ms"),
        ratio_figure("project / empty", [r["seconds"] for r in project], [r["seconds"] for r in empty]),
    ]
    print_figures("Plugin loading (ensure_plugins_loaded)", figures)
    print(f"modules imported from plugins/ (second copies): {project[0]['copies']}")
    print(f"client libraries loaded with the plugins: {project[0]['clients']}")
    return figures


if __name__ == "__main__":
    main()
