"""What the price source adapters return, the errors they raise, and the HTTP steps they share."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

from franz_ivan.event_fields import EventError, parse_decimal
from franz_ivan.events import Market
from franz_ivan.settings import settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import requests

CONNECT_TIMEOUT_SECONDS: Final = 5.0
USER_AGENT: Final = "franz-ivan/0.1 (+https://github.com/franz-ivan)"

RATE_LIMIT_STATUSES: Final = frozenset({429, 418})
"""429 Too Many Requests; 418 is Binance's 'IP banned for ignoring 429s'."""

EARLIEST_PLAUSIBLE_TIME: Final = datetime(2009, 1, 3, tzinfo=UTC)
MAX_CLOCK_SKEW_SECONDS: Final = 300.0


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


class RateLimitedError(SourceError):
    """The source asked us to slow down (HTTP 429/418, Kraken's throttle errors).

    :param retry_after: seconds the source asked us to wait, when it said so.
    """

    def __init__(
        self,
        market: Market,
        problem: str,
        *,
        retry_after: float | None = None,
        allowance: Allowance | None = None,
    ) -> None:
        super().__init__(market, problem, allowance=allowance)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a source is reached: base URL and optional API key (from its Airflow connection)."""

    base_url: str
    api_key: str | None = None


def get(
    session: requests.Session,
    endpoint: Endpoint,
    path: str,
    *,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """``GET {base_url}{path}`` with bounded connect and read timeouts (``CRYPTO_PRICES_SOURCE_TIMEOUT``)."""
    read_timeout = settings().source_timeout_seconds
    return session.get(
        endpoint.base_url.rstrip("/") + path,
        params=params,
        headers=headers,
        timeout=(min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout),
    )


ReadT = TypeVar("ReadT")


@dataclass(frozen=True, slots=True)
class Request:
    """One call to a source: the path under its base URL, the query and any extra headers."""

    path: str
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Answer(Generic[ReadT]):
    """What one call gave: the value read from its body, the allowance it reported, when it came."""

    value: ReadT
    allowance: Allowance | None
    received_at: datetime


def call(
    session: requests.Session,
    endpoint: Endpoint,
    market: Market,
    request: Request,
    read: Callable[[Any], ReadT],
    *,
    allowance_of: Callable[[Market, requests.Response], Allowance | None],
) -> Answer[ReadT]:
    """Make ``request``, check the status, then ``read`` the JSON body: the steps every source's calls share.

    :param read: what the caller wants from the body; raises :class:`SourceError` for a bad one.
    :param allowance_of: reads the quota report off any answer, failed ones too, so that every
        :class:`SourceError` raised after the call carries it.
    """
    response = get(session, endpoint, request.path, params=request.params, headers=request.headers)
    received_at = datetime.now(UTC)
    allowance = allowance_of(market, response)
    check_status(market, response, allowance)
    try:
        return Answer(read(json_body(market, response)), allowance, received_at)
    except SourceError as error:
        if allowance is not None:
            error.allowance = allowance  # the error keeps its kind (a rate limit keeps its retry_after)
        raise


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` header in seconds (it may be a number or an HTTP date), or None."""
    raw = response.headers.get("Retry-After")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def json_or_none(response: requests.Response) -> Any:
    """The response's JSON body, or None when it is not JSON (an HTML error page, say)."""
    try:
        return response.json()
    except ValueError:
        return None


def non_json_problem(response: requests.Response) -> str:
    kind = response.headers.get("Content-Type", "unknown content type")
    snippet = response.text[:80].replace("\n", " ")
    return f"HTTP {response.status_code} with a non-JSON body ({kind}): {snippet!r}"


def json_body(market: Market, response: requests.Response) -> Any:
    """The response's JSON body, or a :class:`SourceError` that says what came instead."""
    body = json_or_none(response)
    if body is None:
        raise SourceError(market, non_json_problem(response))
    return body


def check_status(market: Market, response: requests.Response, allowance: Allowance | None = None) -> None:
    """Raise for any answer but HTTP 200: :class:`RateLimitedError` for 429/418, else :class:`SourceError`.

    The message carries the source's own words (a JSON ``message``/``msg``/``error``) when it gave any.
    """
    if response.status_code == 200:
        return
    body = json_or_none(response)
    details = [body.get(key) for key in ("message", "msg", "error")] if isinstance(body, dict) else []
    detail = next((text for text in details if isinstance(text, str) and text), None)
    if response.status_code in RATE_LIMIT_STATUSES:
        raise RateLimitedError(
            market,
            f"rate limited, HTTP {response.status_code}: {detail or response.reason}",
            retry_after=retry_after_seconds(response),
            allowance=allowance,
        )
    if body is None:
        raise SourceError(market, non_json_problem(response), allowance=allowance)
    raise SourceError(
        market, f"HTTP {response.status_code}: {detail or response.reason}", allowance=allowance
    )


def value_at(market: Market, body: Any, *path: str | int) -> Any:
    """``body[path[0]][path[1]]...``, or a :class:`SourceError` naming the first missing step."""
    value = body
    for depth, step in enumerate(path):
        present = (isinstance(step, str) and isinstance(value, dict) and step in value) or (
            isinstance(step, int) and isinstance(value, list) and 0 <= step < len(value)
        )
        if not present:
            where = "".join(f"[{part!r}]" for part in path[: depth + 1])
            raise SourceError(market, f"response has no {where}: {json.dumps(body)[:120]}")
        value = value[step]
    return value


def price_from(market: Market, value: object) -> Decimal:
    """A validated price (finite, positive, plausible) or a :class:`SourceError` naming the problem."""
    try:
        return parse_decimal(value, "price", positive=True)
    except EventError as error:
        raise SourceError(market, str(error)) from None


def source_time(market: Market, moment: datetime, raw: object) -> datetime:
    """``moment`` (the source's own timestamp ``raw``) if plausible, else a :class:`SourceError`."""
    if moment.tzinfo is None:
        raise SourceError(market, f"timestamp {raw!r:.40} has no time zone")
    latest = datetime.now(UTC).timestamp() + MAX_CLOCK_SKEW_SECONDS
    if not EARLIEST_PLAUSIBLE_TIME <= moment <= datetime.fromtimestamp(latest, UTC):
        raise SourceError(market, f"timestamp {raw!r:.40} is not plausible ({moment.isoformat()})")
    return moment
