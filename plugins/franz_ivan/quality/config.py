"""The quality checks' settings: defaults in code, overrides in the Variable ``crypto_prices_quality``.

The Variable holds a JSON object. Its top-level keys replace defaults for every market; the key
``overrides`` maps a source (``binance``), a pair (``btcusd``) or a market entry (``kraken:btcusd``,
as in ``crypto_prices_markets``) to keys that apply to it alone. For one market the most specific
wins: market over pair over source over the top level::

    {"stale_after_minutes": 15,
     "overrides": {"kraken:ethusd": {"stale_after_minutes": 30},
                   "btcusdt": {"divergence_percent": 3},
                   "cryptowatch": {"allowance_min_fraction": 0.2}}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final

from franz_ivan.event_fields import EventError, validate_pair
from franz_ivan.events import Market
from franz_ivan.markets import MarketsError, parse_market
from franz_ivan.sources import SOURCES

QUALITY_VARIABLE: Final = "crypto_prices_quality"


class QualityConfigError(ValueError):
    """The quality settings are not usable; the message names the key and the problem."""


@dataclass(frozen=True)
class Thresholds:
    """What each check allows; every field may be overridden per market, pair or source.

    :param stale_after_minutes: staleness fails when a market showed no new price this long.
    :param spike_percent: spike fails when a recent price is this far from its market's median.
    :param divergence_percent: divergence fails when a pair's markets are this far apart
        (highest over lowest in the same minute, the median over the recent minutes).
    :param allowance_min_fraction: allowance fails when what remains is below this fraction of the
        highest figure the source reported in the look-back.
    """

    stale_after_minutes: float = 10.0
    spike_percent: float = 10.0
    divergence_percent: float = 2.0
    allowance_min_fraction: float = 0.1


@dataclass(frozen=True)
class QualityConfig:
    """All settings of the quality checks.

    :param defaults: thresholds for every market without an override.
    :param overrides: per source, pair or market key (``source:exchange:pair``): the keys it sets.
    :param staleness_lookback_minutes: how far back staleness looks for a market's prices.
    :param spike_window_minutes: the rolling window whose median a price is compared with.
    :param recent_minutes: the prices judged by spike and divergence: those of the last minutes.
    :param allowance_lookback_minutes: how far back allowance looks for its highest figure.
    :param dead_letters_max: dead letters allowed to appear between two checks.
    :param consumer_lag_max_events: events not stored yet that lag may reach while growing.
    """

    defaults: Thresholds = field(default_factory=Thresholds)
    overrides: dict[str, dict[str, float]] = field(default_factory=dict)
    staleness_lookback_minutes: int = 360
    spike_window_minutes: int = 60
    recent_minutes: int = 10
    allowance_lookback_minutes: int = 1440
    dead_letters_max: int = 0
    consumer_lag_max_events: int = 1000

    def for_market(self, market: Market) -> Thresholds:
        """The thresholds of ``market``: the top level, then its source, pair and market overrides."""
        return self._apply(market.source, market.pair, market.key)

    def for_pair(self, pair: str) -> Thresholds:
        return self._apply(pair)

    def for_source(self, source: str) -> Thresholds:
        return self._apply(source)

    def _apply(self, *keys: str) -> Thresholds:
        thresholds = self.defaults
        for key in keys:
            if key in self.overrides:
                thresholds = replace(thresholds, **self.overrides[key])
        return thresholds

    def as_json(self) -> str:
        """The settings as the Variable would hold them (also what the DAG passes between tasks)."""
        body: dict[str, Any] = {item.name: getattr(self.defaults, item.name) for item in fields(Thresholds)}
        body.update({item.name: getattr(self, item.name) for item in fields(self) if item.name != "defaults"})
        return json.dumps(body, sort_keys=True)


THRESHOLD_KEYS: Final = frozenset(item.name for item in fields(Thresholds))
GLOBAL_KEYS: Final = frozenset(item.name for item in fields(QualityConfig)) - {"defaults"}


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise QualityConfigError(f"{where} must be a number >= 0, not {value!r:.80}")
    return float(value)


def _override_key(key: str) -> str:
    """The canonical name of an override: a source, a pair, or a market's ``source:exchange:pair``."""

    if key in SOURCES:
        return key
    if ":" in key:
        try:
            return parse_market(key).key
        except MarketsError as error:
            raise QualityConfigError(f"{QUALITY_VARIABLE} overrides: {error}") from None
    try:
        return validate_pair(key)
    except EventError as error:
        raise QualityConfigError(
            f"{QUALITY_VARIABLE} overrides: {key!r:.80} is not a source, a pair or a market entry ({error})"
        ) from None


def _thresholds(body: dict[str, Any], where: str) -> dict[str, float]:
    unknown = sorted(set(body) - THRESHOLD_KEYS)
    if unknown:
        raise QualityConfigError(f"{where}: unknown keys {unknown}; known: {sorted(THRESHOLD_KEYS)}")
    return {key: _number(value, f"{where}.{key}") for key, value in body.items()}


def parse_config(raw: str | None) -> QualityConfig:
    """The settings from the Variable's JSON text; ``None`` (no Variable) gives the defaults.

    :param raw: the text of the Variable ``crypto_prices_quality``, or ``None``.
    """
    if raw is None:
        return QualityConfig()
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise QualityConfigError(f"Variable {QUALITY_VARIABLE!r} is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise QualityConfigError(f"Variable {QUALITY_VARIABLE!r} must be a JSON object")
    overrides_raw = body.pop("overrides", {})
    if not isinstance(overrides_raw, dict):
        raise QualityConfigError(f"{QUALITY_VARIABLE}.overrides must be an object keyed by market")
    unknown = sorted(set(body) - THRESHOLD_KEYS - GLOBAL_KEYS)
    if unknown:
        raise QualityConfigError(
            f"Variable {QUALITY_VARIABLE!r}: unknown keys {unknown}; "
            f"known: {sorted(THRESHOLD_KEYS | GLOBAL_KEYS | {'overrides'})}"
        )
    defaults = Thresholds(
        **_thresholds({k: v for k, v in body.items() if k in THRESHOLD_KEYS}, QUALITY_VARIABLE)
    )
    overrides: dict[str, dict[str, float]] = {}
    for key, value in overrides_raw.items():
        where = f"{QUALITY_VARIABLE}.overrides[{key!r:.80}]"
        if not isinstance(value, dict):
            raise QualityConfigError(f"{where} must be an object of thresholds")
        overrides.setdefault(_override_key(str(key)), {}).update(_thresholds(value, where))
    globals_: dict[str, int] = {}
    for key in GLOBAL_KEYS - {"overrides"}:
        if key in body:
            number = _number(body[key], f"{QUALITY_VARIABLE}.{key}")
            if number != int(number):
                raise QualityConfigError(f"{QUALITY_VARIABLE}.{key} must be a whole number, not {number:g}")
            globals_[key] = int(number)
    for key in ("spike_window_minutes", "recent_minutes", "staleness_lookback_minutes"):
        if globals_.get(key) == 0:
            raise QualityConfigError(f"{QUALITY_VARIABLE}.{key} must be at least 1")
    return QualityConfig(defaults=defaults, overrides=overrides, **globals_)
