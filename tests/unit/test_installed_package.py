"""franz-ivan as Airflow sees it once installed: one copy of each module, from any folder, and the
plugins folder adds nothing of its own (its ``.airflowignore`` keeps the package source out of the
plugin scan). Each probe runs in a new Python without PYTHONPATH, as an Airflow process starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from devtools.processes import ROOT

PLUGIN_SCAN_PROBE = """
import json, os, sys
from airflow import plugins_manager
plugins_manager.ensure_plugins_loaded()
source = os.path.join(os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"], "")
copies = sorted(
    name for name, module in list(sys.modules.items())
    if (getattr(module, "__file__", None) or "").startswith(source) and not name.startswith("franz_ivan")
)
plugins = [(p.name, type(p).__module__) for p in plugins_manager._get_plugins()[0]]
print(json.dumps({"copies": copies, "plugins": plugins, "errors": plugins_manager._get_plugins()[1],
                  "clients": [m for m in ("confluent_kafka", "psycopg") if m in sys.modules]}))
"""


def probe(code: str, tmp_path: Path, **env: str) -> dict[str, object]:
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**environment, "AIRFLOW_HOME": str(tmp_path / "airflow"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def test_the_plugin_scan_imports_nothing_twice_and_the_ui_plugin_comes_once(tmp_path: Path) -> None:
    loaded = probe(PLUGIN_SCAN_PROBE, tmp_path, AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"))
    assert loaded["copies"] == [], "a franz_ivan module was imported under a bare name"
    assert loaded["errors"] == {}
    assert loaded["plugins"].count(["crypto_prices_ui", "franz_ivan.ui.plugin"]) == 1  # type: ignore[attr-defined]
    assert loaded["clients"] == [], "loading the plugins imports no client library"


def test_without_its_airflowignore_the_scan_would_import_bare_copies(tmp_path: Path) -> None:
    """The check above can fail: the same scan of a copy of plugins/ lacking the ignore file."""
    folder = tmp_path / "plugins"
    subprocess.run(["cp", "-r", str(ROOT / "plugins"), str(folder)], check=True)
    (folder / ".airflowignore").unlink()
    loaded = probe(PLUGIN_SCAN_PROBE, tmp_path, AIRFLOW__CORE__PLUGINS_FOLDER=str(folder))
    assert {"settings", "kafka", "drain"} <= set(loaded["copies"])  # type: ignore[arg-type]


def test_the_package_and_its_sql_import_from_any_folder(tmp_path: Path) -> None:
    found = probe(
        "import json, franz_ivan, franz_ivan.settings as s\n"
        "print(json.dumps({'file': franz_ivan.__file__, 'sql': s.read_sql('create_schema').strip()[:12]}))",
        tmp_path,
    )
    assert Path(str(found["file"])).is_relative_to(ROOT / "plugins" / "franz_ivan")
    assert found["sql"]
