"""The markets the producer watches, from the Airflow Variable ``crypto_prices_markets``.

The Variable holds a JSON list of entries, each ``source:pair`` or ``source:exchange:pair``:

- ``kraken:btcusd``, ``coinbase:btc-usd``, ``binance:btcusdt``, ``bitstamp:btcusd``: the source's
  own exchange (a two-part entry whose first part names a source means that source);
- ``coinbase-pro:btcusd`` (any other two-part entry): a Cryptowatch market, the original
  system's syntax; ``cryptowatch:kraken:btcusd`` says the same explicitly.

Pairs are normalized (``XBT/USD`` is ``btcusd``), so one pair has one table whatever the source.
A market's ``key`` (``kraken:kraken:btcusd``) parses back to the same market.
"""

from __future__ import annotations

import json

from franz_ivan.event_fields import EventError
from franz_ivan.events import Market
from franz_ivan.pairs import normalize_pair
from franz_ivan.settings import MARKETS_VARIABLE
from franz_ivan.sources import SOURCES


class MarketsError(ValueError):
    """The markets setting is not usable; the message names the entry and the problem."""


def parse_market(entry: object) -> Market:
    """The market an entry of the Variable (or a :attr:`Market.key`) names."""
    if not isinstance(entry, str):
        raise MarketsError(f"market entry {entry!r:.80} is not a string like 'kraken:btcusd'")
    parts = [part.strip() for part in entry.strip().lower().split(":")]
    if len(parts) == 2 and parts[0] in SOURCES:
        source, pair = parts
        exchange = SOURCES[source].exchange
        if exchange is None:
            raise MarketsError(
                f"market entry {entry!r:.80}: {source} markets name the exchange too, "
                f"like '{source}:coinbase-pro:btcusd'"
            )
    elif len(parts) == 2:
        source, exchange, pair = "cryptowatch", parts[0], parts[1]
    elif len(parts) == 3 and parts[0] in SOURCES:
        source, exchange, pair = parts
        own = SOURCES[source].exchange
        if own is not None and exchange != own:
            raise MarketsError(f"market entry {entry!r:.80}: {source} quotes exchange {own!r} only")
    else:
        raise MarketsError(
            f"market entry {entry!r:.80} is not 'source:pair', 'exchange:pair' (Cryptowatch) or "
            f"'source:exchange:pair' with a source among {sorted(SOURCES)}"
        )
    try:
        return Market(source, exchange, normalize_pair(pair))
    except EventError as error:
        raise MarketsError(f"market entry {entry!r:.80}: {error}") from None


def parse_markets(raw: str) -> list[Market]:
    """Parse the Variable's JSON text into distinct markets, in the order given."""
    try:
        entries = json.loads(raw)
    except json.JSONDecodeError as error:
        raise MarketsError(f"Variable {MARKETS_VARIABLE!r} is not JSON: {error}") from None
    return parse_market_list(entries, f"Variable {MARKETS_VARIABLE!r}")


def parse_market_list(entries: object, origin: str) -> list[Market]:
    """Distinct markets of a list of entries (the Variable's, or a run's ``markets`` param), in order.

    :param entries: the list, each entry as the Variable takes it.
    :param origin: where the list came from, named in the error.
    """
    if not isinstance(entries, list) or not entries:
        raise MarketsError(f'{origin} must be a non-empty JSON list like ["kraken:btcusd"]')
    try:
        return list(dict.fromkeys(parse_market(entry) for entry in entries))
    except MarketsError as error:
        raise MarketsError(f"{origin}: {error}") from None


def group_by_source(markets: list[Market]) -> list[dict[str, object]]:
    """One group per source, in order of first appearance: ``{"source": ..., "markets": [keys]}``.

    The producer maps one task per group: rate limits and allowances belong to a source.
    """
    groups: dict[str, list[str]] = {}
    for market in markets:
        groups.setdefault(market.source, []).append(market.key)
    return [{"source": source, "markets": keys} for source, keys in groups.items()]
