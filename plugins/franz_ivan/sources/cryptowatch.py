"""The Cryptowat.ch REST API: ``GET {base}/markets/{exchange}/{pair}/price``.

Every market response, errors included, carries an ``allowance`` object in its body::

    {"result": {"price": 24063.4}, "allowance": {"cost": 0.005, "remaining": 9.895, ...}}
    {"error": "Instrument not found", "allowance": {...}}

With an API key (header ``X-CW-API-Key``) the allowance also has ``remainingPaid``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from franz_ivan.events import EventError, Market, parse_decimal
from franz_ivan.sources.base import (
    CONNECT_TIMEOUT_SECONDS,
    READ_TIMEOUT_SECONDS,
    Allowance,
    Endpoint,
    Quote,
    SourceError,
    json_body,
    price_from,
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
    default_base_url: ClassVar[str] = "https://api.cryptowat.ch"

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        url = f"{endpoint.base_url.rstrip('/')}/markets/{market.exchange}/{market.pair}/price"
        headers = {"X-CW-API-Key": endpoint.api_key} if endpoint.api_key else {}
        response = session.get(url, headers=headers, timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS))
        observed_at = datetime.now(UTC)
        body = json_body(market, response)
        allowance = parse_allowance(market, body)
        if response.status_code != 200:
            problem = body.get("error") if isinstance(body, dict) else None
            raise SourceError(
                market, f"HTTP {response.status_code}: {problem or response.reason}", allowance=allowance
            )
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(result, dict) or "price" not in result:
            raise SourceError(market, "response has no result.price", allowance=allowance)
        return Quote(market, price_from(market, result["price"]), observed_at, allowance)
