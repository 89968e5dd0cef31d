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
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar, Final

from franz_ivan.pairs import kraken_asset, split_pair
from franz_ivan.sources.base import (
    Endpoint,
    Quote,
    RateLimitedError,
    SourceError,
    check_status,
    get,
    json_body,
    price_from,
    value_at,
)

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market

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


class KrakenSource:
    """Kraken, Cryptowatch's successor: public ticker, no key needed."""

    name: ClassVar[str] = "kraken"
    exchange: ClassVar[str | None] = "kraken"
    default_base_url: ClassVar[str] = "https://api.kraken.com"
    reports_allowance: ClassVar[bool] = False

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        asked = kraken_pair(market.pair)
        response = get(session, endpoint, "/0/public/Ticker", params={"pair": asked})
        observed_at = datetime.now(UTC)
        result = kraken_result(market, response, asked)
        if not isinstance(result, dict) or not result:
            raise SourceError(market, f"response has no ticker in result for pair {asked}")
        if asked in result:
            name = asked
        elif len(result) == 1:
            [name] = result
        else:
            raise SourceError(market, f"result names pairs {sorted(result)[:5]}, none of them {asked}")
        return Quote(market, price_from(market, value_at(market, result, name, "c", 0)), observed_at)


def kraken_result(market: Market, response: requests.Response, asked: str, call: str = "") -> object:
    """The ``result`` of a Kraken answer, after its status and its ``error`` list.

    Kraken reports failures, throttling included, in ``error`` (often with HTTP 200): a throttle
    raises :class:`RateLimitedError` with Kraken's wait, any other error a :class:`SourceError`
    naming ``call`` (e.g. ``"OHLC"``) and the pair asked.
    """
    check_status(market, response)
    body = json_body(market, response)
    errors = value_at(market, body, "error")
    if not isinstance(errors, list):
        raise SourceError(market, f"error {errors!r:.80} is not a list")
    if errors:
        text = "; ".join(map(str, errors))
        if any(is_throttle(str(error)) for error in errors):
            raise RateLimitedError(market, f"throttled: {text}", retry_after=throttle_wait(errors))
        raise SourceError(market, f"Kraken answered {call + ' ' if call else ''}for pair {asked}: {text}")
    return value_at(market, body, "result")
