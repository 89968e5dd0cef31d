"""One-minute candles as the sources' history endpoints serve them, validated the same for all.

Each source module reads its own endpoint's rows into :class:`MinuteCandle` through
:func:`candle_from`; :mod:`franz_ivan.sources.history` pages through a window with them.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final

from franz_ivan.event_fields import EventError, parse_decimal
from franz_ivan.events import Candle, Market
from franz_ivan.sources.base import SourceError, call, source_time

if TYPE_CHECKING:
    import requests

    from franz_ivan.sources.base import Allowance, Endpoint, Request

MINUTE: Final = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class MinuteCandle:
    """One minute of a market's history: ``minute`` is its start; ``close`` becomes the event's price."""

    minute: datetime
    close: Decimal
    candle: Candle


@dataclass(frozen=True, slots=True)
class CandlePage:
    """What one request gave: the candles it served (all of them, open minute included) and the allowance."""

    candles: list[MinuteCandle]
    allowance: Allowance | None = None


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def candle_from(
    market: Market, raw_time: object, values: dict[str, object], *, close_time: bool = False
) -> MinuteCandle:
    """A validated candle: a whole-minute time, positive prices with low ≤ open, close ≤ high.

    :param raw_time: epoch seconds (number or digit string) of the minute's start, or of its end
        when ``close_time`` (Cryptowatch).
    :param values: ``open``, ``high``, ``low``, ``close`` and ``volume`` as the source wrote them.
    """
    text = (
        str(raw_time).strip()
        if isinstance(raw_time, str | int | float) and not isinstance(raw_time, bool)
        else ""
    )
    try:
        seconds = float(text)
    except ValueError:
        raise SourceError(market, f"candle time {raw_time!r:.40} is not epoch seconds") from None
    if seconds != int(seconds) or int(seconds) % 60:
        raise SourceError(market, f"candle time {raw_time!r:.40} is not the start of a minute")
    moment = source_time(market, datetime.fromtimestamp(int(seconds), UTC), raw_time)
    minute = moment - MINUTE if close_time else moment
    where = f"candle of {minute:%Y-%m-%d %H:%M} UTC"
    try:
        open_, high, low, close = (
            parse_decimal(values[name], f"{where}: {name}", positive=True)
            for name in ("open", "high", "low", "close")
        )
        volume = parse_decimal(values["volume"], f"{where}: volume", positive=False)
    except EventError as error:
        raise SourceError(market, str(error)) from None
    if not low <= min(open_, close) <= max(open_, close) <= high:
        raise SourceError(
            market, f"{where} is inconsistent: open {open_}, high {high}, low {low}, close {close}"
        )
    return MinuteCandle(minute, close, Candle(open=open_, high=high, low=low, volume=volume))


def rows_of(market: Market, value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise SourceError(market, f"{what} {value!r:.80} is not a list of candles")
    return value


def row_fields(market: Market, row: object, width: int, what: str) -> list[Any]:
    if not isinstance(row, list) or len(row) < width:
        raise SourceError(market, f"{what} row {row!r:.80} is not a list of at least {width} fields")
    return row


class CandleHistory(ABC):
    """One source's candle endpoint: :meth:`page` makes one request for the minutes in [start, end).

    A source says what to ask (:meth:`request`), how to read the answer's body (:meth:`candles`)
    and, if its answers report one, its allowance (:meth:`allowance`).
    """

    name: ClassVar[str]
    per_request: ClassVar[int]
    """The most minutes one request may ask for."""
    reach_minutes: ClassVar[int | None] = None
    """How many of the most recent minutes the source serves at all (None: back to the listing)."""

    @abstractmethod
    def request(self, endpoint: Endpoint, market: Market, start: datetime, end: datetime) -> Request:
        """The call for the minutes starting in [start, end)."""

    @abstractmethod
    def candles(self, market: Market, body: Any) -> list[MinuteCandle]:
        """Every candle of an answer's body (the open minute included); :class:`SourceError` for a bad one."""

    def allowance(self, market: Market, response: requests.Response) -> Allowance | None:
        """The quota an answer reports; None for sources that report none."""
        return None

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        request = self.request(endpoint, market, start, end)
        read = functools.partial(self.candles, market)
        answer = call(session, endpoint, market, request, read, allowance_of=self.allowance)
        return CandlePage(answer.value, answer.allowance)
