"""Bitstamp's public REST API: ``GET {base}/api/v2/ticker/btcusd/``.

String fields; the last trade price is ``last`` and ``timestamp`` is in epoch seconds.
Bitstamp reports no allowance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from franz_ivan.sources.base import Endpoint, Request, SourceError, price_from, source_time, value_at
from franz_ivan.sources.candles import MINUTE, CandleHistory, candle_from, epoch, rows_of
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    from franz_ivan.events import Market
    from franz_ivan.sources.candles import MinuteCandle


def epoch_time(market: Market, raw: object) -> datetime:
    """A plausible UTC time from whole epoch seconds given as a number or a string."""
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isdigit():
        raise SourceError(market, f"timestamp {raw!r:.40} is not whole epoch seconds")
    try:
        moment = datetime.fromtimestamp(int(text), UTC)
    except (OverflowError, OSError, ValueError):
        raise SourceError(market, f"timestamp {raw!r:.40} is out of range") from None
    return source_time(market, moment, raw)


class BitstampSource(PriceSource):
    """Bitstamp: public ticker, no key needed."""

    name = "bitstamp"
    exchange = "bitstamp"
    default_base_url = "https://www.bitstamp.net"

    def request(self, endpoint: Endpoint, market: Market) -> Request:
        return Request(f"/api/v2/ticker/{market.pair}/")

    def read(self, market: Market, body: Any) -> tuple[Decimal, datetime]:
        price = price_from(market, value_at(market, body, "last"))
        return price, epoch_time(market, value_at(market, body, "timestamp"))


OHLC_FIELDS: Final = ("timestamp", "open", "high", "low", "close", "volume")


class BitstampHistory(CandleHistory):
    """Bitstamp ``ohlc``: ``data.ohlc`` objects of strings, ``timestamp`` the minute's start, oldest first."""

    name = "bitstamp"
    per_request = 1000

    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        params = {
            "step": "60",
            "start": str(epoch(start)),
            "limit": str(int((end - start) / MINUTE)),
            "exclude_current_candle": "true",
        }
        return Request(f"/api/v2/ohlc/{market.pair}/", params)

    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        candles = []
        for row in rows_of(market, value_at(market, body, "data", "ohlc"), "data.ohlc"):
            if not isinstance(row, dict):
                raise SourceError(market, f"ohlc row {row!r:.80} is not an object")
            missing = [name for name in OHLC_FIELDS if name not in row]
            if missing:
                raise SourceError(market, f"ohlc row {row!r:.80} has no {missing}")
            candles.append(candle_from(market, row["timestamp"], row))
        return candles
