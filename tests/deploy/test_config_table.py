"""The README's configuration table names every ``CRYPTO_PRICES_*`` setting the code reads, with its default.

Grep-based on purpose: a setting is whatever string literal ``"CRYPTO_PRICES_..."`` the DAGs and
the plugin package contain (an f-string ``f"CRYPTO_PRICES_{source}_..."`` is the ``<SOURCE>`` row),
and a default is the literal next to it (``env_float("CRYPTO_PRICES_X", 20)``). So a new setting,
a renamed one or a changed default fails here until the README says the same.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted([*(ROOT / "plugins" / "franz_ivan").rglob("*.py"), *(ROOT / "dags").glob("*.py")])
SETTING = re.compile(r'"(CRYPTO_PRICES_[A-Z0-9_]+)"')
TEMPLATED = re.compile(r'f"CRYPTO_PRICES_\{[^}]+\}(_[A-Z0-9_]+)"')
WITH_DEFAULT = re.compile(r'\(\s*"(CRYPTO_PRICES_[A-Z0-9_]+)",\s*(-?\d+(?:\.\d+)?|"[^"]*")\s*\)')
ROW_SETTING = re.compile(r"`(CRYPTO_PRICES_[A-Z0-9_<>]+)`")


def code_settings() -> dict[str, str | None]:
    """Each setting the code reads, with its literal default where the code gives one."""
    found: dict[str, str | None] = {}
    for path in CODE:
        text = path.read_text()
        for name in SETTING.findall(text):
            found.setdefault(name, None)
        for suffix in TEMPLATED.findall(text):
            found.setdefault(f"CRYPTO_PRICES_<SOURCE>{suffix}", None)
        for name, default in WITH_DEFAULT.findall(text):
            found[name] = (
                default.strip('"') if default.startswith('"') else f"{Decimal(default).normalize():f}"
            )
    return found


def shown(number: Decimal) -> str:
    """A number as the table writes it: ``30.0`` is ``30``."""
    return f"{number.normalize():f}"


def readme_table() -> dict[str, str]:
    """Each ``CRYPTO_PRICES_*`` setting of the README's configuration section, with its default cell."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration at a glance", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 3:
            continue
        for name in ROW_SETTING.findall(cells[1]):
            rows[name] = cells[2]
    return rows


def test_the_code_reads_settings_and_the_table_lists_some() -> None:
    assert "CRYPTO_PRICES_TOPIC" in code_settings()
    assert code_settings()["CRYPTO_PRICES_FETCH_CONCURRENCY"] == "20"
    assert "CRYPTO_PRICES_TOPIC" in readme_table()


def test_every_setting_the_code_reads_is_in_the_table() -> None:
    missing = sorted(set(code_settings()) - set(readme_table()))
    assert not missing, f"README.md, Configuration at a glance, lacks {missing}"


def test_every_setting_in_the_table_is_read_by_the_code() -> None:
    stale = sorted(set(readme_table()) - set(code_settings()))
    assert not stale, f"README.md, Configuration at a glance, lists {stale}, which no code reads"


def test_the_table_gives_the_code_s_defaults() -> None:
    table = readme_table()
    wrong = {
        name: (default, table[name])
        for name, default in code_settings().items()
        if default is not None and name in table and f"`{default}`" not in table[name]
    }
    assert not wrong, f"defaults differ (code, README): {wrong}"


def test_defaults_the_code_takes_from_constants() -> None:
    from franz_ivan.drain import DrainLimits
    from franz_ivan.lineage import DEFAULT_KAFKA_CLUSTER, DEFAULT_POSTGRES_SERVER
    from franz_ivan.sources.base import READ_TIMEOUT_SECONDS

    table = readme_table()
    limits = DrainLimits()
    expected = {
        "CRYPTO_PRICES_DRAIN_BATCH_SIZE": limits.batch_size,
        "CRYPTO_PRICES_DRAIN_MAX_SECONDS": limits.max_seconds,
        "CRYPTO_PRICES_DRAIN_STALL_SECONDS": limits.stall_seconds,
        "CRYPTO_PRICES_SOURCE_TIMEOUT": READ_TIMEOUT_SECONDS,
        "CRYPTO_PRICES_KAFKA_CLUSTER": DEFAULT_KAFKA_CLUSTER,
        "CRYPTO_PRICES_POSTGRES_SERVER": DEFAULT_POSTGRES_SERVER,
    }
    for name, value in expected.items():
        default = shown(Decimal(str(value))) if isinstance(value, int | float) else str(value)
        assert f"`{default}`" in table[name], f"{name}: the code says {default}, README {table[name]}"
