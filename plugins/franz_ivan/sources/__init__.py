"""Price source adapters, by name, and the one way the producer calls them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from franz_ivan.sources.base import Endpoint, PriceSource, Quote, SourceError
from franz_ivan.sources.cryptowatch import CryptowatchSource

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market

SOURCES: Final[dict[str, PriceSource]] = {source.name: source for source in (CryptowatchSource(),)}


def fetch_quote(session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
    """Fetch ``market``'s price; any failure, network ones included, is a :class:`SourceError`."""
    import requests

    try:
        return SOURCES[market.source].fetch(session, endpoint, market)
    except requests.Timeout as error:
        raise SourceError(market, f"timed out: {error}") from None
    except requests.exceptions.SSLError as error:
        raise SourceError(market, f"TLS error: {error}") from None
    except requests.RequestException as error:
        raise SourceError(market, f"request failed: {error}") from None


__all__ = ["SOURCES", "Endpoint", "PriceSource", "Quote", "SourceError", "fetch_quote"]
