"""The Cryptowat.ch REST API: ``GET {base}/markets/{exchange}/{pair}/price``.

Every market response, errors included, carries an ``allowance`` object in its body::

    {"result": {"price": 24063.4}, "allowance": {"cost": 0.005, "remaining": 9.895, ...}}
    {"error": "Instrument not found", "allowance": {...}}

With an API key (header ``X-CW-API-Key``) the allowance also has ``remainingPaid``. Numbers may
be integers or floats. A spent allowance is HTTP 429.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from franz_ivan.event_fields import EventError, parse_decimal
from franz_ivan.sources.base import (
    Allowance,
    Endpoint,
    Request,
    SourceError,
    json_or_none,
    price_from,
    value_at,
)
from franz_ivan.sources.candles import MINUTE, CandleHistory, candle_from, epoch, row_fields, rows_of
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market
    from franz_ivan.sources.candles import MinuteCandle


def parse_allowance(market: Market, body: Any) -> Allowance | None:
    """The ``allowance`` object of a Cryptowatch body, or None when the body has none."""
    allowance = body.get("allowance") if isinstance(body, dict) else None
    if allowance is None:
        return None
    try:
        if not isinstance(allowance, dict):
            raise EventError(f"allowance {allowance!r:.80} is not an object")
        if "remaining" not in allowance:
            raise EventError("allowance has no 'remaining'")

        def optional(field: str) -> Any:
            value = allowance.get(field)
            return None if value is None else parse_decimal(value, f"allowance.{field}", positive=False)

        return Allowance(
            remaining=parse_decimal(allowance["remaining"], "allowance.remaining", positive=False),
            cost=optional("cost"),
            remaining_paid=optional("remainingPaid"),
        )
    except EventError as error:
        raise SourceError(market, str(error)) from None


def response_allowance(market: Market, response: requests.Response) -> Allowance | None:
    """The allowance a Cryptowatch answer carries in its body, failed answers included."""
    return parse_allowance(market, json_or_none(response))


def key_headers(endpoint: Endpoint) -> dict[str, str]:
    """The API key header, when the connection has a key."""
    return {"X-CW-API-Key": endpoint.api_key} if endpoint.api_key else {}


class CryptowatchSource(PriceSource):
    """Cryptowat.ch (shut down in 2023) and any service that keeps its API shape."""

    name = "cryptowatch"
    exchange = None
    default_base_url = "https://api.cryptowat.ch"
    reports_allowance = True
    allowance = staticmethod(response_allowance)

    def request(self, endpoint: Endpoint, market: Market) -> Request:
        return Request(f"/markets/{market.exchange}/{market.pair}/price", headers=key_headers(endpoint))

    def read(self, market: Market, body: Any) -> tuple[Decimal, None]:
        return price_from(market, value_at(market, body, "result", "price")), None


class CryptowatchHistory(CandleHistory):
    """Cryptowatch ``ohlc``: ``result["60"]`` rows ``[CloseTime, O, H, L, C, Volume, QuoteVolume]``."""

    name = "cryptowatch"
    per_request = 1000
    allowance = staticmethod(response_allowance)

    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        # ``after`` and ``before`` bound the close times: the first minute closes at start + 60 s.
        params = {"periods": "60", "after": str(epoch(start + MINUTE)), "before": str(epoch(end))}
        return Request(f"/markets/{market.exchange}/{market.pair}/ohlc", params, key_headers(endpoint))

    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        candles = []
        for row in rows_of(market, value_at(market, body, "result", "60"), "result['60']"):
            fields = row_fields(market, row, 6, "ohlc")
            values = dict(zip(("open", "high", "low", "close", "volume"), fields[1:6], strict=True))
            candles.append(candle_from(market, fields[0], values, close_time=True))
        return candles
