"""Coinbase Exchange's public REST API: ``GET {base}/products/BTC-USD/ticker``.

The ticker has ``price`` (a string) and ``time`` (ISO 8601, the last trade's time). Errors are
``{"message": "NotFound"}`` (404) and ``{"message": "Public rate limit exceeded"}`` (429).
Coinbase reports no allowance.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from franz_ivan.pairs import split_pair
from franz_ivan.sources.base import Endpoint, Request, SourceError, price_from, source_time, value_at
from franz_ivan.sources.candles import MINUTE, CandleHistory, candle_from, row_fields, rows_of
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    from franz_ivan.events import Market
    from franz_ivan.sources.candles import MinuteCandle


def coinbase_product(market: Market) -> str:
    """Coinbase's product id, ``BTC-USD`` for ``btcusd``."""
    split = split_pair(market.pair)
    if split is None:
        raise SourceError(market, f"cannot tell base from quote asset in {market.pair!r} for a product id")
    return f"{split[0]}-{split[1]}".upper()


class CoinbaseSource(PriceSource):
    """Coinbase Exchange (formerly Coinbase Pro): public ticker, no key needed."""

    name = "coinbase"
    exchange = "coinbase"
    default_base_url = "https://api.exchange.coinbase.com"

    def request(self, endpoint: Endpoint, market: Market) -> Request:
        return Request(f"/products/{coinbase_product(market)}/ticker")

    def read(self, market: Market, body: Any) -> tuple[Decimal, datetime]:
        price = price_from(market, value_at(market, body, "price"))
        raw_time = value_at(market, body, "time")
        try:
            moment = datetime.fromisoformat(raw_time)
        except (TypeError, ValueError):
            raise SourceError(market, f"time {raw_time!r:.40} is not an ISO 8601 time") from None
        return price, source_time(market, moment, raw_time)


class CoinbaseHistory(CandleHistory):
    """Coinbase Exchange ``candles``: ``[time, low, high, open, close, volume]`` numbers, newest first."""

    name = "coinbase"
    per_request = 300

    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        # ``end`` names the last bucket's start (inclusive): 300 buckets are start .. start + 299 min.
        params = {
            "granularity": "60",
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (end - MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return Request(f"/products/{coinbase_product(market)}/candles", params)

    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        candles = []
        for row in rows_of(market, body, "candles answer"):
            time, low, high, open_, close, volume = row_fields(market, row, 6, "candles")[:6]
            values = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
            candles.append(candle_from(market, time, values))
        return candles
