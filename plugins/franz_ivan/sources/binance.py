"""Binance's public REST API: ``GET {base}/api/v3/ticker/price?symbol=BTCUSDT``.

The body is ``{"symbol": "BTCUSDT", "price": "..."}``; errors are ``{"code": -1121, "msg": ...}``.
Every response carries the request weight used this minute by our IP in the header
``X-MBX-USED-WEIGHT-1M``; the limit is 6000 per minute, so the allowance recorded is what is
left of it. Over the limit Binance answers 429 with ``Retry-After``, and 418 (an IP ban) to
clients that keep going.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Final

from franz_ivan.sources.base import (
    Allowance,
    Endpoint,
    Quote,
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

USED_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"
WEIGHT_LIMIT_PER_MINUTE: Final = 6000


def used_weight_allowance(market: Market, response: requests.Response) -> Allowance | None:
    """What is left of the minute's request weight, from the used-weight header; None without one."""
    raw = response.headers.get(USED_WEIGHT_HEADER)
    if raw is None:
        return None
    if not raw.strip().isdigit():
        raise SourceError(market, f"header {USED_WEIGHT_HEADER} {raw!r:.40} is not a whole number")
    return Allowance(remaining=Decimal(max(WEIGHT_LIMIT_PER_MINUTE - int(raw), 0)))


class BinanceSource:
    """Binance spot market data: public ticker, no key needed; quota reported in a header."""

    name: ClassVar[str] = "binance"
    exchange: ClassVar[str | None] = "binance"
    default_base_url: ClassVar[str] = "https://api.binance.com"
    reports_allowance: ClassVar[bool] = True

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        symbol = market.pair.upper()
        response = get(session, endpoint, "/api/v3/ticker/price", params={"symbol": symbol})
        observed_at = datetime.now(UTC)
        allowance = used_weight_allowance(market, response)
        check_status(market, response, allowance)
        try:
            body = json_body(market, response)
            answered = value_at(market, body, "symbol")
            if answered != symbol:
                raise SourceError(market, f"asked for symbol {symbol}, answered for {answered!r:.40}")
            price = price_from(market, value_at(market, body, "price"))
        except SourceError as error:
            raise SourceError(market, error.problem, allowance=allowance) from None
        return Quote(market, price, observed_at, allowance)
