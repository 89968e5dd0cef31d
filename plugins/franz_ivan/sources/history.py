"""One-minute candles from each source's history endpoint, for producer runs of a past interval.

- ``kraken``: ``GET /0/public/OHLC?pair=XBTUSD&interval=1&since=<start - 60 s>``; up to 720 rows,
  and only the **720 most recent** minutes exist at all; a minute without trades is a flat row
  (open = high = low = close = the previous close, volume 0), stored like any other.
- ``coinbase``: ``GET /products/BTC-USD/candles?granularity=60&start=…&end=…``; at most **300**
  a request (more is a 400), newest first; a minute without trades is **missing**.
- ``binance``: ``GET /api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=…&endTime=…&limit=…``;
  at most **1000** a request, weight 2 (the used weight is recorded as the allowance).
- ``bitstamp``: ``GET /api/v2/ohlc/btcusd/?step=60&start=…&limit=…&exclude_current_candle=true``;
  at most **1000** a request, every field a string.
- ``cryptowatch``: ``GET /markets/{exchange}/{pair}/ohlc?periods=60&after=…&before=…``; rows carry
  the minute's **close** time; 1000 rows an answer; a minute without trades is **missing**.

A window is asked for page by page (at most the source's per-request count of minutes each), at
the pace :class:`~franz_ivan.sources.pacing.SourcePacer` sets, rate limits included. Only minutes
that have ended are kept (every source also serves the still-open minute), and only those inside
the window. A minute a source does not serve (no trades on Coinbase and Cryptowatch) is not
invented: it stays missing. Kraken serves only its 720 most recent one-minute candles; for a
window reaching further back, the reachable part is fetched and the rest is reported in
:attr:`History.beyond_reach`, naming the source, its limit and what was filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from franz_ivan.sources import network_errors
from franz_ivan.sources.binance import BinanceHistory
from franz_ivan.sources.bitstamp import BitstampHistory
from franz_ivan.sources.candles import MINUTE, CandleHistory, CandlePage, MinuteCandle
from franz_ivan.sources.coinbase import CoinbaseHistory
from franz_ivan.sources.cryptowatch import CryptowatchHistory
from franz_ivan.sources.kraken import KrakenHistory

if TYPE_CHECKING:
    import requests

    from franz_ivan.events import Market
    from franz_ivan.sources.base import Allowance, Endpoint
    from franz_ivan.sources.pacing import SourcePacer


@dataclass(frozen=True, slots=True)
class History:
    """The candles of a window that a source could give, and why the rest could not be had."""

    candles: list[MinuteCandle]
    beyond_reach: str | None = None
    allowance: Allowance | None = None


def minute_floor(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def minute_ceil(moment: datetime) -> datetime:
    floor = minute_floor(moment)
    return floor if floor == moment else floor + MINUTE


def span(start: datetime, end: datetime) -> str:
    """``10:00 to 10:59 (60 minutes)`` for the minutes starting in [start, end)."""
    minutes = int((end - start) / MINUTE)
    if minutes <= 0:
        return "no minutes"
    last = end - MINUTE
    return f"{start:%Y-%m-%d %H:%M} to {last:%H:%M} UTC ({minutes} minutes)"


HISTORIES: Final[dict[str, CandleHistory]] = {
    history.name: history
    for history in (
        KrakenHistory(),
        CoinbaseHistory(),
        BinanceHistory(),
        BitstampHistory(),
        CryptowatchHistory(),
    )
}


def fetch_history(
    session: requests.Session,
    endpoint: Endpoint,
    market: Market,
    window: tuple[datetime, datetime],
    pacer: SourcePacer,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> History:
    """The ended one-minute candles of ``market`` starting in ``window`` [start, end), page by page.

    :param now: the clock; which minutes have ended, and Kraken's reach, are reckoned from it.

    :raises SourceError: for any failed request or bad answer (what earlier pages gave is lost
        with it; the run's retry asks again, and the event ids make that harmless).
    """

    history = HISTORIES[market.source]
    start, end = window
    first, stop = minute_ceil(start), minute_ceil(end)
    current = minute_floor(now())
    stop = min(stop, current)
    beyond_reach = None
    if history.reach_minutes is not None:
        # The reach counts the open minute: 720 rows are the open minute and 719 ended ones.
        earliest = current - (history.reach_minutes - 1) * MINUTE
        if first < earliest:
            reachable = max(earliest, first)
            beyond_reach = (
                f"{history.name} serves only its {history.reach_minutes} most recent one-minute candles "
                f"(back to {earliest:%Y-%m-%d %H:%M} UTC now), so {span(first, min(reachable, stop))} "
                f"could not be filled; filled {span(reachable, stop) if reachable < stop else 'nothing'}"
            )
            first = reachable
    candles: dict[datetime, MinuteCandle] = {}
    allowance = None
    cursor = first
    while cursor < stop:
        page_end = min(stop, cursor + history.per_request * MINUTE)

        def ask(page_start: datetime = cursor, page_stop: datetime = page_end) -> CandlePage:
            with network_errors(market):
                return history.page(session, endpoint, market, page_start, page_stop)

        page = pacer.fetch(market, ask)
        allowance = page.allowance or allowance
        for candle in page.candles:
            if cursor <= candle.minute < page_end:
                candles[candle.minute] = candle
        cursor = page_end
    return History([candles[minute] for minute in sorted(candles)], beyond_reach, allowance)
