"""Binance's public REST API: ``GET {base}/api/v3/ticker/price?symbol=BTCUSDT``.

The body is ``{"symbol": "BTCUSDT", "price": "..."}``; errors are ``{"code": -1121, "msg": ...}``.
Every response carries the request weight used this minute by our IP in the header
``X-MBX-USED-WEIGHT-1M``; the limit is 6000 per minute, so the allowance recorded is what is
left of it. Over the limit Binance answers 429 with ``Retry-After``, and 418 (an IP ban) to
clients that keep going.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from franz_ivan.sources.base import Allowance, Endpoint, Request, SourceError, price_from, value_at
from franz_ivan.sources.candles import MINUTE, CandleHistory, candle_from, epoch, row_fields, rows_of
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market
    from franz_ivan.sources.candles import MinuteCandle

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


class BinanceSource(PriceSource):
    """Binance spot market data: public ticker, no key needed; quota reported in a header."""

    name = "binance"
    exchange = "binance"
    default_base_url = "https://api.binance.com"
    reports_allowance = True
    allowance = staticmethod(used_weight_allowance)

    def request(self, endpoint: Endpoint, market: Market) -> Request:
        return Request("/api/v3/ticker/price", {"symbol": market.pair.upper()})

    def read(self, market: Market, body: Any) -> tuple[Decimal, None]:
        symbol, answered = market.pair.upper(), value_at(market, body, "symbol")
        if answered != symbol:
            raise SourceError(market, f"asked for symbol {symbol}, answered for {answered!r:.40}")
        return price_from(market, value_at(market, body, "price")), None


class BinanceHistory(CandleHistory):
    """Binance ``klines``: 12 fields, open time in ms, prices as strings, oldest first; weight 2."""

    name = "binance"
    per_request = 1000
    allowance = staticmethod(used_weight_allowance)

    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        params = {
            "symbol": market.pair.upper(),
            "interval": "1m",
            "startTime": str(epoch(start) * 1000),
            "endTime": str(epoch(end) * 1000 - 1),
            "limit": str(int((end - start) / MINUTE)),
        }
        return Request("/api/v3/klines", params)

    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        candles = []
        for row in rows_of(market, body, "klines answer"):
            fields = row_fields(market, row, 6, "klines")
            open_ms = fields[0]
            if not isinstance(open_ms, int) or isinstance(open_ms, bool) or open_ms % 1000:
                raise SourceError(market, f"kline open time {open_ms!r:.40} is not whole milliseconds")
            values = dict(zip(("open", "high", "low", "close", "volume"), fields[1:6], strict=True))
            candles.append(candle_from(market, open_ms // 1000, values))
        return candles
