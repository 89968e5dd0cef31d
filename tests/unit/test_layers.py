"""The import contracts of ``make lint`` (import-linter, [tool.importlinter] in pyproject.toml) hold,
and they do catch a layer violation and a cycle: checked on a copy of the package given one bad import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.processes import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with the project's contracts, on the package found in ``package_parent``."""
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=package_parent,
        env={**environment, "PYTHONPATH": str(package_parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_package_keeps_its_contracts() -> None:
    completed = lint_imports(ROOT / "plugins")
    assert completed.returncode == 0, completed.stdout[-3000:]
    assert "2 kept, 0 broken" in completed.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "broken"),
    [
        # the domain must not reach up to a hook, even from inside a function (no cycle: hooks
        # import nothing of the domain)
        ("event_fields.py", "def _up() -> None:\n    from franz_ivan.hooks import kafka\n", "Layers"),
        # two services importing each other
        ("kafka_topics.py", "from franz_ivan import topic_lifecycle\n", "No import cycle"),
    ],
)
def test_a_violation_breaks_the_lint(tmp_path: Path, module: str, bad_import: str, broken: str) -> None:
    copy = tmp_path / "franz_ivan"
    shutil.copytree(ROOT / "plugins" / "franz_ivan", copy, ignore=shutil.ignore_patterns("__pycache__"))
    with (copy / module).open("a") as file:
        file.write("\n\n" + bad_import)
    completed = lint_imports(tmp_path)
    assert completed.returncode != 0
    broken_lines = [line for line in completed.stdout.splitlines() if line.endswith("BROKEN")]
    assert len(broken_lines) == 1, completed.stdout[-3000:]
    assert broken_lines[0].startswith(broken)
