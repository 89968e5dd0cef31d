"""What every price source adapter provides: one call to its ticker, read into a :class:`Quote`."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from franz_ivan.sources.base import Quote, call

if TYPE_CHECKING:
    from datetime import datetime
    from decimal import Decimal

    import requests

    from franz_ivan.events import Market
    from franz_ivan.sources.base import Allowance, Endpoint, Request


class PriceSource(ABC):
    """One market-data API. :meth:`fetch` makes one call and raises :class:`SourceError` for any problem.

    A source says what to ask (:meth:`request`), how to read the price from the answer's body
    (:meth:`read`) and, if its answers report one, its allowance (:meth:`allowance`).
    """

    name: ClassVar[str]
    exchange: ClassVar[str | None]
    """The one exchange whose prices the source gives, or None when each market names it (Cryptowatch)."""
    default_base_url: ClassVar[str]
    reports_allowance: ClassVar[bool] = False
    """Whether answers carry a quota figure (see :mod:`franz_ivan.producer` for what that changes)."""

    @abstractmethod
    def request(self, endpoint: Endpoint, market: Market) -> Request:
        """The call for ``market``'s price."""

    @abstractmethod
    def read(self, market: Market, body: Any) -> tuple[Decimal, datetime | None]:
        """The price in an answer's body and the time the source gives it (None: the answer's arrival)."""

    def allowance(self, market: Market, response: requests.Response) -> Allowance | None:
        """The quota an answer reports; None for sources that report none."""
        return None

    def fetch(self, session: requests.Session, endpoint: Endpoint, market: Market) -> Quote:
        request = self.request(endpoint, market)
        read = functools.partial(self.read, market)
        answer = call(session, endpoint, market, request, read, allowance_of=self.allowance)
        price, observed_at = answer.value
        return Quote(market, price, observed_at or answer.received_at, answer.allowance)
