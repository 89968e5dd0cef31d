"""One bad ``CRYPTO_PRICES_*`` value fails what reads that setting, with its name, and nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from franz_ivan.drain import DrainLimits
from franz_ivan.settings import read_sql, settings

ENVIRONMENT = {
    "CRYPTO_PRICES_FETCH_BUDGET": "45s",
    "CRYPTO_PRICES_KRAKEN_ALLOWANCE_FLOOR": "-1",
    "CRYPTO_PRICES_TOPIC": "prices_eu",
}
"""Two bad values, for the producer's fetch and one source's floor, and a good one."""


def test_a_bad_value_is_raised_where_its_setting_is_read_and_nowhere_else(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    config = settings()

    assert config.topic == "prices_eu"
    assert config.drain_limits() == DrainLimits()
    assert config.allowance_floor("binance") == Decimal("600")
    assert read_sql("select_offsets")
    with pytest.raises(ValueError, match=r"CRYPTO_PRICES_FETCH_BUDGET='45s' is not a number"):
        config.pacing()
    with pytest.raises(ValueError, match=r"CRYPTO_PRICES_FETCH_BUDGET='45s' is not a number"):
        _ = config.fetch_budget_seconds
    with pytest.raises(ValueError, match=r"CRYPTO_PRICES_KRAKEN_ALLOWANCE_FLOOR='-1' must be zero or more"):
        config.allowance_floor("kraken")


def test_settings_are_parsed_once_per_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_BATCH_SIZE", "500")
    first = settings()
    assert first is settings()
    assert first.drain_batch_size == 500
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_BATCH_SIZE", "700")
    assert settings().drain_batch_size == 700
