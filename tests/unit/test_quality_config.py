"""The quality checks' settings: defaults, overrides per market, pair and source, clear errors."""

from __future__ import annotations

import re

import pytest

from franz_ivan.events import Market
from franz_ivan.quality.config import QualityConfig, QualityConfigError, Thresholds, parse_config

KRAKEN_BTC = Market("kraken", "kraken", "btcusd")


def test_no_variable_gives_the_documented_defaults() -> None:
    config = parse_config(None)
    assert config == QualityConfig()
    assert config.for_market(KRAKEN_BTC) == Thresholds(
        stale_after_minutes=10, spike_percent=10, divergence_percent=2, allowance_min_fraction=0.1
    )
    assert (config.dead_letters_max, config.consumer_lag_max_events) == (0, 1000)
    assert (config.spike_window_minutes, config.recent_minutes) == (60, 10)


def test_the_most_specific_override_wins() -> None:
    config = parse_config(
        """{"stale_after_minutes": 15, "spike_percent": 20,
            "overrides": {"kraken": {"stale_after_minutes": 20, "spike_percent": 30},
                          "btcusd": {"stale_after_minutes": 25},
                          "kraken:btcusd": {"stale_after_minutes": 40}}}"""
    )
    assert config.for_market(KRAKEN_BTC).stale_after_minutes == 40
    assert config.for_market(KRAKEN_BTC).spike_percent == 30
    assert config.for_market(Market("coinbase", "coinbase", "btcusd")).stale_after_minutes == 25
    assert config.for_market(Market("kraken", "kraken", "ethusd")).stale_after_minutes == 20
    assert config.for_market(Market("bitstamp", "bitstamp", "ethusd")).stale_after_minutes == 15
    assert config.for_pair("btcusd").stale_after_minutes == 25
    assert config.for_source("kraken").spike_percent == 30


def test_market_entries_are_read_as_the_markets_variable_reads_them() -> None:
    config = parse_config('{"overrides": {"coinbase-pro:BTC/USD": {"spike_percent": 5}}}')
    assert set(config.overrides) == {"cryptowatch:coinbase-pro:btcusd"}
    assert config.for_market(Market("cryptowatch", "coinbase-pro", "btcusd")).spike_percent == 5


def test_settings_survive_the_trip_between_tasks() -> None:
    config = parse_config(
        '{"recent_minutes": 5, "dead_letters_max": 3, "overrides": {"btcusd": {"divergence_percent": 1}}}'
    )
    assert parse_config(config.as_json()) == config


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("[1]", "must be a JSON object"),
        ("{", "is not JSON"),
        ('{"stale_after": 5}', "unknown keys ['stale_after']"),
        ('{"spike_percent": "10"}', "crypto_prices_quality.spike_percent must be a number >= 0, not '10'"),
        ('{"spike_percent": -1}', "must be a number >= 0, not -1"),
        ('{"recent_minutes": 2.5}', "recent_minutes must be a whole number, not 2.5"),
        ('{"recent_minutes": 0}', "recent_minutes must be at least 1"),
        ('{"overrides": {"btcusd": {"spike": 5}}}', "overrides['btcusd']: unknown keys ['spike']"),
        ('{"overrides": {"nosuch:x:btcusd": {}}}', "market entry 'nosuch:x:btcusd'"),
        ('{"overrides": {"BTC USD!": {}}}', "is not a source, a pair or a market entry"),
        ('{"overrides": []}', "overrides must be an object"),
    ],
)
def test_bad_settings_name_the_key_and_the_problem(raw: str, error: str) -> None:
    with pytest.raises(QualityConfigError, match=re.escape(error)):
        parse_config(raw)
