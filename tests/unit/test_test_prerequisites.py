"""``make test`` checks the machine first and names what is missing with the command that installs it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "devtools" / "test_prerequisites.sh"


def run(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT)],
        env={**os.environ, "FRANZ_IVAN_NO_INSTALL": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_browser_is_named_with_its_install_command(tmp_path: Path) -> None:
    checked = run(CHROMIUM=str(tmp_path / "no-chromium"))
    assert checked.returncode == 1
    assert "needs the Debian packages: chromium" in checked.stderr
    assert "apt-get install -y chromium" in checked.stderr


def test_a_missing_postgres_is_named_with_how_to_start_it() -> None:
    # Port 1 never has PostgreSQL; FRANZ_IVAN_NO_INSTALL keeps the script from starting a cluster.
    checked = run(CRYPTO_PRICES_PG_PORT="1")
    if checked.returncode == 1 and "Debian packages" in checked.stderr:
        raise AssertionError(f"this machine lacks a package the suite needs: {checked.stderr}")
    assert checked.returncode == 1
    assert "needs PostgreSQL on 127.0.0.1:1" in checked.stderr


def test_a_missing_redis_is_named_with_how_to_start_it() -> None:
    # Port 1 never has Redis; FRANZ_IVAN_NO_INSTALL keeps the script from starting one.
    checked = run(CRYPTO_PRICES_REDIS_URL="redis://127.0.0.1:1/0")
    if checked.returncode == 1 and "Debian packages" in checked.stderr:
        raise AssertionError(f"this machine lacks a package the suite needs: {checked.stderr}")
    assert checked.returncode == 1
    assert "needs Redis at redis://127.0.0.1:1/0" in checked.stderr
    assert "redis-server --daemonize yes" in checked.stderr


def test_make_test_and_ci_run_the_check_and_ci_runs_make_test() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: prerequisites\b", makefile, re.MULTILINE)
    assert re.search(r"^prerequisites:\n\tdevtools/test_prerequisites.sh$", makefile, re.MULTILINE)
    ci = (ROOT / ".ci" / "run").read_text()
    assert [line for line in ci.splitlines() if line and not line.startswith(("#", "set ", "cd "))] == [
        "make test"
    ]
