"""Coinbase Exchange's public REST API: ``GET {base}/products/BTC-USD/ticker``.

The ticker has ``price`` (a string) and ``time`` (ISO 8601, the last trade's time). Errors are
``{"message": "NotFound"}`` (404) and ``{"message": "Public rate limit exceeded"}`` (429).
Coinbase reports no allowance.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from franz_ivan.pairs import split_pair
from franz_ivan.sources.base import (
    Endpoint,
    Quote,
    SourceError,
    check_status,
    get,
    json_body,
    price_from,
    source_time,
    value_at,
)

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market


def coinbase_product(market: Market) -> str:
    """Coinbase's product id, ``BTC-USD`` for ``btcusd``."""
    split = split_pair(market.pair)
    if split is None:
        raise SourceError(market, f"cannot tell base from quote asset in {market.pair!r} for a product id")
    return f"{split[0]}-{split[1]}".upper()


class CoinbaseSource:
    """Coinbase Exchange (formerly Coinbase Pro): public ticker, no key needed."""

    name: ClassVar[str] = "coinbase"
    exchange: ClassVar[str | None] = "coinbase"
    default_base_url: ClassVar[str] = "https://api.exchange.coinbase.com"
    reports_allowance: ClassVar[bool] = False

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        product = coinbase_product(market)
        response = get(session, endpoint, f"/products/{product}/ticker")
        check_status(market, response)
        body = json_body(market, response)
        price = price_from(market, value_at(market, body, "price"))
        raw_time = value_at(market, body, "time")
        try:
            moment = datetime.fromisoformat(raw_time)
        except (TypeError, ValueError):
            raise SourceError(market, f"time {raw_time!r:.40} is not an ISO 8601 time") from None
        return Quote(market, price, source_time(market, moment, raw_time))
