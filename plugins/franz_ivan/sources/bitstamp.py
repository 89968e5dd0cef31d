"""Bitstamp's public REST API: ``GET {base}/api/v2/ticker/btcusd/``.

String fields; the last trade price is ``last`` and ``timestamp`` is in epoch seconds.
Bitstamp reports no allowance.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

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


class BitstampSource:
    """Bitstamp: public ticker, no key needed."""

    name: ClassVar[str] = "bitstamp"
    exchange: ClassVar[str | None] = "bitstamp"
    default_base_url: ClassVar[str] = "https://www.bitstamp.net"
    reports_allowance: ClassVar[bool] = False

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        response = get(session, endpoint, f"/api/v2/ticker/{market.pair}/")
        check_status(market, response)
        body = json_body(market, response)
        price = price_from(market, value_at(market, body, "last"))
        return Quote(market, price, epoch_time(market, value_at(market, body, "timestamp")))
