"""One name per traded pair, whatever a source calls it: ``btcusd`` for Kraken's ``XBTUSD``,
Coinbase's ``BTC-USD`` and Binance's ``BTCUSD``.

A pair name is base then quote, lowercase, no separator; it names the PostgreSQL table, so
every source's quotes of the same pair land in the same table (the ``exchange`` and ``source``
columns tell them apart). Tether (``usdt``) and USD Coin (``usdc``) are assets of their own, so
``btcusdt`` is a pair (and table) of its own too.
"""

from __future__ import annotations

import re
from typing import Final

ASSET_ALIASES: Final = {"xbt": "btc", "xdg": "doge"}
"""Kraken's historical asset codes and the names everyone else uses."""

QUOTE_ASSETS: Final = tuple(
    sorted(
        ("usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "usdt", "usdc", "dai", "btc", "xbt", "eth", "bnb"),
        key=len,
        reverse=True,
    )
)
"""Assets pairs are quoted in, longest first, to split an unseparated name like ``btcusdt``."""

SEPARATOR: Final = re.compile(r"[-/_ ]")


def split_pair(pair: str) -> tuple[str, str] | None:
    """``(base, quote)`` of a pair name, or None when no known quote asset ends it."""
    name = pair.strip().lower()
    parts = SEPARATOR.split(name)
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    for quote in QUOTE_ASSETS:
        if name.endswith(quote) and len(name) - len(quote) >= 2:
            return name[: -len(quote)], quote
    return None


def normalize_pair(text: str) -> str:
    """The one pair name: lowercase base then quote, with ``XBT`` read as ``BTC`` (and ``XDG`` as ``DOGE``).

    A name whose quote asset is not known is only lowercased (a source may still know it; if not,
    the fetch says so for that market alone).
    """
    split = split_pair(text)
    if split is None:
        return text.strip().lower()
    base, quote = split
    return ASSET_ALIASES.get(base, base) + ASSET_ALIASES.get(quote, quote)


def kraken_asset(asset: str) -> str:
    """Kraken's code for ``asset`` (``btc`` is ``XBT`` there), upper case."""
    return next((alias for alias, name in ASSET_ALIASES.items() if name == asset), asset).upper()
