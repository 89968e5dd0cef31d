"""The markets the producer watches, from the Airflow Variable ``crypto_prices_markets``.

The Variable holds a JSON list of entries. ``exchange:pair`` is a Cryptowatch market (the
original system's syntax, e.g. ``coinbase-pro:btcusd``); ``cryptowatch:exchange:pair`` says the
same explicitly.
"""

from __future__ import annotations

import json

from franz_ivan.events import EventError, Market
from franz_ivan.settings import MARKETS_VARIABLE


class MarketsError(ValueError):
    """The markets setting is not usable; the message names the entry and the problem."""


def parse_market(entry: object) -> Market:
    if not isinstance(entry, str):
        raise MarketsError(f"market entry {entry!r:.80} is not a string like 'coinbase-pro:btcusd'")
    parts = entry.strip().lower().split(":")
    try:
        if len(parts) == 3 and parts[0] == "cryptowatch":
            return Market("cryptowatch", parts[1], parts[2])
        if len(parts) == 2:
            return Market("cryptowatch", parts[0], parts[1])
    except EventError as error:
        raise MarketsError(f"market entry {entry!r:.80}: {error}") from None
    raise MarketsError(f"market entry {entry!r:.80} is not 'exchange:pair' or 'cryptowatch:exchange:pair'")


def parse_markets(raw: str) -> list[Market]:
    """Parse the Variable's JSON text into distinct markets, in the order given."""
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as error:
        raise MarketsError(f"Variable {MARKETS_VARIABLE!r} is not JSON: {error}") from None
    if not isinstance(entries, list) or not entries:
        raise MarketsError(
            f'Variable {MARKETS_VARIABLE!r} must be a non-empty JSON list like ["coinbase-pro:btcusd"]'
        )
    return list(dict.fromkeys(parse_market(entry) for entry in entries))
