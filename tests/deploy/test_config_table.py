"""The README's configuration table names every ``CRYPTO_PRICES_*`` setting, with its default.

The settings are the fields of :class:`franz_ivan.settings.Settings`, each naming its variable
(the per-source floors are the ``<SOURCE>`` row). So a new setting, a renamed one or a changed
default fails here until the README says the same.
"""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from decimal import Decimal
from pathlib import Path

import pytest

from franz_ivan.settings import Settings

pytestmark = pytest.mark.deploy

ROOT = Path(__file__).resolve().parents[2]
ROW_SETTING = re.compile(r"`(CRYPTO_PRICES_[A-Z0-9_<>]+)`")


def shown(value: object) -> str:
    """A default as the table writes it: ``30.0`` is ``30``, the SQL folder is relative to the checkout,
    no limit (``None``, the raw retention's default) is ``forever``."""
    if value is None:
        return "forever"
    if isinstance(value, Path):
        return str(value.relative_to(ROOT))
    if isinstance(value, int | float):
        return f"{Decimal(str(value)).normalize():f}"
    return str(value)


def code_settings() -> dict[str, list[str]]:
    """Each setting's variable, with its default(s) as the table shows them."""
    found: dict[str, list[str]] = {}
    for item in fields(Settings):
        if "env" not in item.metadata:
            continue
        default = item.default_factory() if item.default is MISSING else item.default  # type: ignore[misc]
        values = default.values() if isinstance(default, dict) else [default]
        found[item.metadata["env"]] = [shown(value) for value in values]
    return found


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
    assert code_settings()["CRYPTO_PRICES_FETCH_CONCURRENCY"] == ["20"]
    assert "CRYPTO_PRICES_<SOURCE>_ALLOWANCE_FLOOR" in code_settings()
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
        name: (defaults, table[name])
        for name, defaults in code_settings().items()
        if name in table and any(f"`{default}`" not in table[name] for default in defaults)
    }
    assert not wrong, f"defaults differ (code, README): {wrong}"


def test_the_limits_default_to_the_settings_defaults() -> None:
    from franz_ivan.drain import DrainLimits
    from franz_ivan.groups import GroupLimits

    assert Settings().drain_limits() == DrainLimits()
    assert Settings().group_limits() == GroupLimits()
