"""The Cryptowat.ch REST API: ``GET {base}/markets/{exchange}/{pair}/price``.

Every market response, errors included, carries an ``allowance`` object in its body::

    {"result": {"price": 24063.4}, "allowance": {"cost": 0.005, "remaining": 9.895, ...}}
    {"error": "Instrument not found", "allowance": {...}}

With an API key (header ``X-CW-API-Key``) the allowance also has ``remainingPaid``. Numbers may
be integers or floats. A spent allowance is HTTP 429.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from franz_ivan.event_fields import EventError, parse_decimal
from franz_ivan.events import Market
from franz_ivan.sources.base import (
    Allowance,
    Endpoint,
    Quote,
    SourceError,
    check_status,
    get,
    json_body,
    json_or_none,
    price_from,
    value_at,
)

if TYPE_CHECKING:
    import requests


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


class CryptowatchSource:
    """Cryptowat.ch (shut down in 2023) and any service that keeps its API shape."""

    name: ClassVar[str] = "cryptowatch"
    exchange: ClassVar[str | None] = None
    default_base_url: ClassVar[str] = "https://api.cryptowat.ch"
    reports_allowance: ClassVar[bool] = True

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        headers = {"X-CW-API-Key": endpoint.api_key} if endpoint.api_key else {}
        response = get(session, endpoint, f"/markets/{market.exchange}/{market.pair}/price", headers=headers)
        observed_at = datetime.now(UTC)
        allowance = parse_allowance(market, json_or_none(response))
        check_status(market, response, allowance)
        body = json_body(market, response)
        try:
            price = price_from(market, value_at(market, body, "result", "price"))
        except SourceError as error:
            raise SourceError(market, error.problem, allowance=allowance) from None
        return Quote(market, price, observed_at, allowance)
