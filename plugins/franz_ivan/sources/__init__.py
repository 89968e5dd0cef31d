"""Price source adapters, by name, and the one way the producer calls them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

import requests

from franz_ivan.sources.base import Allowance, Endpoint, Quote, RateLimitedError, SourceError
from franz_ivan.sources.binance import BinanceSource
from franz_ivan.sources.bitstamp import BitstampSource
from franz_ivan.sources.coinbase import CoinbaseSource
from franz_ivan.sources.cryptowatch import CryptowatchSource
from franz_ivan.sources.kraken import KrakenSource
from franz_ivan.sources.ticker import PriceSource

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market

SOURCES: Final[dict[str, PriceSource]] = {
    source.name: source
    for source in (CryptowatchSource(), KrakenSource(), CoinbaseSource(), BinanceSource(), BitstampSource())
}


def fetch_quote(session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
    """Fetch ``market``'s price once; any failure, network ones included, is a :class:`SourceError`."""
    with network_errors(market):
        return SOURCES[market.source].fetch(session, endpoint, market)


@contextmanager
def network_errors(market: Market) -> Iterator[None]:
    """Turn a failed request (timeout, TLS, refused) into a :class:`SourceError` naming the market."""

    try:
        yield
    except requests.Timeout as error:
        raise SourceError(market, f"timed out: {network_problem(error)}") from None
    except requests.exceptions.SSLError as error:
        raise SourceError(market, f"TLS error: {network_problem(error)}") from None
    except requests.RequestException as error:
        raise SourceError(market, f"request failed: {network_problem(error)}") from None


def network_problem(error: requests.RequestException) -> str:
    """The cause under requests' "Max retries exceeded" wrapper, which says more in fewer words."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return str(reason or error)


__all__ = [
    "SOURCES",
    "Allowance",
    "Endpoint",
    "PriceSource",
    "Quote",
    "RateLimitedError",
    "SourceError",
    "fetch_quote",
]
