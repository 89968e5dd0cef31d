"""Kraken's public REST API: ``GET {base}/0/public/Ticker?pair=XBTUSD``.

The result is keyed by Kraken's canonical pair name (``XXBTZUSD`` for ``XBTUSD``); the last
trade price is ``c[0]``, a string. Errors, throttling included, come as strings in the body's
``error`` list with HTTP 200::

    {"error": ["EQuery:Unknown asset pair"]}
    {"error": ["EAPI:Rate limit exceeded"]}
    {"error": ["EService: Throttled: 1700000000"]}

The ticker has no timestamp, and Kraken reports no allowance.
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from franz_ivan.pairs import kraken_asset, split_pair
from franz_ivan.sources.base import Endpoint, RateLimitedError, Request, SourceError, price_from, value_at
from franz_ivan.sources.candles import MINUTE, CandleHistory, candle_from, epoch, row_fields, rows_of
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    from franz_ivan.events import Market
    from franz_ivan.sources.candles import MinuteCandle

THROTTLE_ERRORS: Final = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests", "EService:Throttled")
THROTTLED_UNTIL: Final = re.compile(r"EService:Throttled:(\d+)")


def kraken_pair(pair: str) -> str:
    """The name Kraken is asked for: ``XBTUSD`` for ``btcusd``."""
    split = split_pair(pair)
    return pair.upper() if split is None else kraken_asset(split[0]) + kraken_asset(split[1])


def is_throttle(error: str) -> bool:
    """Whether a Kraken error string says to slow down (spacing after colons varies)."""
    compact = error.replace(" ", "")
    return any(compact.startswith(known.replace(" ", "")) for known in THROTTLE_ERRORS)


def throttle_wait(errors: list[str]) -> float | None:
    """Seconds until the time in ``EService: Throttled: <unix time>``, when that lies ahead."""
    for error in errors:
        match = THROTTLED_UNTIL.match(error.replace(" ", ""))
        if match and int(match.group(1)) > time.time():
            return int(match.group(1)) - time.time()
    return None


def kraken_result(market: Market, body: Any, asked: str, request_name: str = "") -> object:
    """The ``result`` of a Kraken answer's body, after its ``error`` list.

    Kraken reports failures, throttling included, in ``error`` (often with HTTP 200): a throttle
    raises :class:`RateLimitedError` with Kraken's wait, any other error a :class:`SourceError`
    naming ``request_name`` (e.g. ``"OHLC"``) and the pair asked.
    """
    errors = value_at(market, body, "error")
    if not isinstance(errors, list):
        raise SourceError(market, f"error {errors!r:.80} is not a list")
    if errors:
        text = "; ".join(map(str, errors))
        if any(is_throttle(str(error)) for error in errors):
            raise RateLimitedError(market, f"throttled: {text}", retry_after=throttle_wait(errors))
        raise SourceError(
            market, f"Kraken answered {request_name + ' ' if request_name else ''}for pair {asked}: {text}"
        )
    return value_at(market, body, "result")


class KrakenSource(PriceSource):
    """Kraken, Cryptowatch's successor: public ticker, no key needed."""

    name = "kraken"
    exchange = "kraken"
    default_base_url = "https://api.kraken.com"

    def request(self, endpoint: Endpoint, market: Market) -> Request:
        return Request("/0/public/Ticker", {"pair": kraken_pair(market.pair)})

    def read(self, market: Market, body: Any) -> tuple[Decimal, None]:
        asked = kraken_pair(market.pair)
        result = kraken_result(market, body, asked)
        if not isinstance(result, dict) or not result:
            raise SourceError(market, f"response has no ticker in result for pair {asked}")
        if asked in result:
            name = asked
        elif len(result) == 1:
            [name] = result
        else:
            raise SourceError(market, f"result names pairs {sorted(result)[:5]}, none of them {asked}")
        return price_from(market, value_at(market, result, name, "c", 0)), None


class KrakenHistory(CandleHistory):
    """Kraken ``OHLC``: rows after ``since``, at most the 720 most recent, oldest first, strings."""

    name = "kraken"
    per_request = 720
    reach_minutes = 720

    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        # Kraken answers the rows *after* the minute holding ``since``.
        params = {"pair": kraken_pair(market.pair), "interval": "1", "since": str(epoch(start - MINUTE))}
        return Request("/0/public/OHLC", params)

    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        asked = kraken_pair(market.pair)
        result = kraken_result(market, body, asked, "OHLC")
        if not isinstance(result, dict):
            raise SourceError(market, f"result {result!r:.80} is not an object")
        names = [name for name in result if name != "last"]
        if len(names) != 1:
            raise SourceError(
                market, f"OHLC result names pairs {sorted(names)[:5]}, expected one for {asked}"
            )
        candles = []
        for row in rows_of(market, result[names[0]], "OHLC result"):
            fields = row_fields(market, row, 7, "OHLC")
            values = dict(zip(("open", "high", "low", "close", "vwap", "volume"), fields[1:7], strict=True))
            candles.append(candle_from(market, fields[0], values))
        return candles
