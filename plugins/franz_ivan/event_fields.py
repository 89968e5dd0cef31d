"""The fields of an event, one validator or parser each: every error names the field and why.

Sources, the producer, the drain and the store share them, so a pair, a price or a time is held
to the same rules wherever it enters (:mod:`franz_ivan.events` builds the events from them).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Final

PAIR_PATTERN: Final = re.compile(r"[a-z0-9]{2,32}")
"""A pair names a PostgreSQL table, so it is held to lowercase ASCII letters and digits."""

NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
"""Sources and exchanges: lowercase slugs such as ``coinbase-pro``."""

CANONICAL_UUID_PATTERN: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""The form :func:`event_id_for` writes; other spellings of a UUID are normalized to it."""

MAX_PRICE: Final = Decimal("1e12")
"""No traded pair is quoted anywhere near this; a larger figure is a broken response."""

MAX_DECIMAL_PLACES: Final = 100
"""No price has this many decimal places; PostgreSQL's numeric rejects more than 16383 anyway."""

# The event id is derived from what the event *is* (which run observed which market), so a
# retried task re-sends the same id and the consumer stores it once.
EVENT_ID_NAMESPACE: Final = uuid.UUID("5f1d7c2e-8b0a-4c61-9d59-3f3c2a6b7e10")


class EventError(ValueError):
    """An event, or the data for one, is not valid. The message says which field and why."""


def validate_pair(pair: str) -> str:
    """Return ``pair`` if it is a safe table name (lowercase letters and digits), else raise."""
    if not isinstance(pair, str) or not PAIR_PATTERN.fullmatch(pair):
        raise EventError(
            f"pair {pair!r:.80} is not valid: a pair is 2 to 32 lowercase ASCII letters or digits, "
            "like 'btcusd'"
        )
    return pair


def validate_name(name: str, field: str) -> str:
    """Return ``name`` if it is a lowercase slug (source or exchange), else raise naming ``field``."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise EventError(f"{field} {name!r:.80} is not valid: expected a lowercase slug like 'coinbase-pro'")
    return name


def parse_decimal(value: object, field: str, *, positive: bool) -> Decimal:
    """Parse an exact decimal from a JSON string or number.

    Floats are converted through ``repr`` (their shortest round-trip form), so ``24063.4`` stays
    ``24063.4`` rather than becoming ``24063.400000000001455...``.
    """
    if type(value) is str:
        text = value.strip()
    elif isinstance(value, bool) or not isinstance(value, str | int | float):
        raise EventError(f"{field} {value!r:.80} is not a number")
    else:
        text = repr(value) if isinstance(value, float) else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise EventError(f"{field} {value!r:.80} is not a decimal number") from None
    if not number.is_finite():
        raise EventError(f"{field} {value!r:.80} is not finite")
    if positive and number <= 0:
        raise EventError(f"{field} {value!r:.80} is not positive")
    if number < 0:
        raise EventError(f"{field} {value!r:.80} is negative")
    if number > MAX_PRICE:
        raise EventError(f"{field} {value!r:.80} is implausibly large (over {MAX_PRICE})")
    # Only an exponent or over MAX_DECIMAL_PLACES characters can make that many places (as_tuple is slow).
    if len(text) > MAX_DECIMAL_PLACES or "e" in text or "E" in text:
        exponent = number.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -MAX_DECIMAL_PLACES:
            raise EventError(f"{field} {value!r:.80} has more than {MAX_DECIMAL_PLACES} decimal places")
    return number


def event_id_for(*parts: str) -> str:
    """A stable event id for the observation identified by ``parts`` (run id, market, kind)."""
    return str(uuid.uuid5(EVENT_ID_NAMESPACE, "\x1f".join(parts)))


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``, the one form events carry."""
    if moment.tzinfo is None:
        raise EventError("observed_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object, field: str = "observed_at") -> datetime:
    if not isinstance(value, str):
        raise EventError(f"{field} {value!r:.80} is not an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise EventError(f"{field} {value!r:.80} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise EventError(f"{field} {value!r:.80} has no time zone")
    return moment
