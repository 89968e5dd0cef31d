"""What every price source adapter provides, and the errors they raise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from franz_ivan.events import EventError, Market, parse_decimal

if TYPE_CHECKING:
    import requests

CONNECT_TIMEOUT_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 10.0
USER_AGENT = "franz-ivan/0.1 (+https://github.com/franz-ivan)"


@dataclass(frozen=True, slots=True)
class Allowance:
    """A source's own report of its remaining API quota after a call."""

    remaining: Decimal
    cost: Decimal | None = None
    remaining_paid: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """One observed price of one market."""

    market: Market
    price: Decimal
    observed_at: datetime
    allowance: Allowance | None = None


class SourceError(RuntimeError):
    """A source did not give a usable price. Names the source, the market and the problem.

    ``allowance`` carries the quota report when the failed response still had one (Cryptowatch
    reports it on errors too), so that it can be recorded anyway.
    """

    def __init__(self, market: Market, problem: str, *, allowance: Allowance | None = None) -> None:
        super().__init__(f"{market.source} {market.exchange}:{market.pair}: {problem}")
        self.market = market
        self.problem = problem
        self.allowance = allowance


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a source is reached: base URL and optional API key (from its Airflow connection)."""

    base_url: str
    api_key: str | None = None


class PriceSource(Protocol):
    name: ClassVar[str]
    default_base_url: ClassVar[str]

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote: ...


def json_body(market: Market, response: requests.Response) -> Any:
    """The response's JSON body, or a :class:`SourceError` that says what came instead."""
    try:
        return response.json()
    except (json.JSONDecodeError, ValueError):
        kind = response.headers.get("Content-Type", "unknown content type")
        snippet = response.text[:80].replace("\n", " ")
        raise SourceError(
            market, f"HTTP {response.status_code} with a non-JSON body ({kind}): {snippet!r}"
        ) from None


def price_from(market: Market, value: object) -> Decimal:
    """A validated price (finite, positive, plausible) or a :class:`SourceError` naming the problem."""
    try:
        return parse_decimal(value, "price", positive=True)
    except EventError as error:
        raise SourceError(market, str(error)) from None
