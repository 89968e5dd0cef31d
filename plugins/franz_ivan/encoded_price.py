"""The drain's fast path: a price event read exactly as :func:`~franz_ivan.events.encode` writes it.

Matched by one pattern into a COPY row without building an event; any other message goes
through :func:`~franz_ivan.events.decode`, so what is accepted, and every error, stays the same.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Final

from franz_ivan.event_fields import CANONICAL_UUID_PATTERN, NAME_PATTERN, PAIR_PATTERN

_EXACT_PRICE_TEXT: Final = r'(?:[1-9][0-9]{0,11}(?:\.[0-9]{1,80})?|0\.(?=[0-9]{1,80}")0*[1-9][0-9]*)'
"""A price as the encoder writes a positive Decimal under ``MAX_PRICE`` with at most 80 places:
no sign, exponent, whitespace, underscore or leading zero, so PostgreSQL's numeric reads it as
Python's Decimal does. Anything else (``1e3``, ``0``, ``1000000000000``) takes
:func:`~franz_ivan.events.decode`."""

_ENCODED_PRICE: Final = re.compile(
    r'\{"schema_version":1,"type":"price"'
    rf',"event_id":"({CANONICAL_UUID_PATTERN.pattern})"'
    rf',"source":"({NAME_PATTERN.pattern})","exchange":"({NAME_PATTERN.pattern})"'
    rf',"pair":"({PAIR_PATTERN.pattern})"'
    r',"observed_at":"(([0-9]{4}-[0-9]{2}-[0-9]{2})T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z)"'
    rf',"price":"({_EXACT_PRICE_TEXT})"\}}'
)
"""A price event byte for byte as :func:`~franz_ivan.events.encode` writes it. Every field's pattern
is the one :func:`~franz_ivan.events.decode` validates it with, and none admits a JSON escape, a tab,
a newline or a backslash."""


_REAL_DAYS: dict[str, bool] = {}
"""Days already checked by :func:`real_day` (a drain sees few distinct ones); bounded."""
_REAL_DAYS_KEPT: Final = 4096


def real_day(day: str) -> bool:
    """Whether ``YYYY-MM-DD`` is a day of the calendar (not 2026-02-30, not year 0), remembered."""
    known = _REAL_DAYS.get(day)
    if known is None:
        try:
            date.fromisoformat(day)
        except ValueError:
            known = False
        else:
            known = True
        if len(_REAL_DAYS) >= _REAL_DAYS_KEPT:
            _REAL_DAYS.clear()
        _REAL_DAYS[day] = known
    return known


def encoded_price_row(raw: bytes | None, partition: int, offset: int) -> tuple[str, str] | None:
    """The pair and the COPY line (value, source, exchange, observed_at, event_id, partition,
    offset, newline) of a price event exactly as :func:`~franz_ivan.events.encode` writes it, read
    at ``partition`` and ``offset``, without building an event; ``None`` for any other message,
    which then goes through :func:`~franz_ivan.events.decode` (same acceptance, same errors).

    A drain spends ~2.5 µs decoding an event and ~2.4 µs formatting its row; this costs ~1 µs.
    The pattern checks the time of day (hours 00-23, minutes and seconds 00-59, as
    ``datetime.fromisoformat`` does); only that the day exists is checked here, once per day.
    """
    if raw is None:
        return None
    try:
        found = _ENCODED_PRICE.fullmatch(raw.decode())
    except UnicodeDecodeError:
        return None
    if found is None:
        return None
    event_id, source, exchange, pair, observed_at, day, price = found.groups()
    if not real_day(day):
        return None
    return pair, f"{price}\t{source}\t{exchange}\t{observed_at}\t{event_id}\t{partition}\t{offset}\n"
