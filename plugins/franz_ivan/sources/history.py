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
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from franz_ivan.event_fields import EventError, parse_decimal
from franz_ivan.events import Candle, Market
from franz_ivan.sources.base import (
    Allowance,
    Endpoint,
    SourceError,
    check_status,
    get,
    json_body,
    json_or_none,
    source_time,
    value_at,
)
from franz_ivan.sources.binance import used_weight_allowance
from franz_ivan.sources.coinbase import coinbase_product
from franz_ivan.sources.cryptowatch import parse_allowance
from franz_ivan.sources.kraken import kraken_pair, kraken_result

if TYPE_CHECKING:
    import requests

    from franz_ivan.sources.pacing import SourcePacer

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


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def span(start: datetime, end: datetime) -> str:
    """``10:00 to 10:59 (60 minutes)`` for the minutes starting in [start, end)."""
    minutes = int((end - start) / MINUTE)
    if minutes <= 0:
        return "no minutes"
    last = end - MINUTE
    return f"{start:%Y-%m-%d %H:%M} to {last:%H:%M} UTC ({minutes} minutes)"


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


class HistorySource(Protocol):
    """One source's candle endpoint. ``page`` makes one request for the minutes in [start, end)."""

    name: ClassVar[str]
    per_request: ClassVar[int]
    reach_minutes: ClassVar[int | None]
    """How many of the most recent minutes the source serves at all (None: back to the listing)."""

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage: ...


class KrakenHistory:
    """Kraken ``OHLC``: rows after ``since``, at most the 720 most recent, oldest first, strings."""

    name: ClassVar[str] = "kraken"
    per_request: ClassVar[int] = 720
    reach_minutes: ClassVar[int | None] = 720

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        asked = kraken_pair(market.pair)
        # Kraken answers the rows *after* the minute holding ``since``.
        params = {"pair": asked, "interval": "1", "since": str(epoch(start - MINUTE))}
        response = get(session, endpoint, "/0/public/OHLC", params=params)
        result = kraken_result(market, response, asked, "OHLC")
        if not isinstance(result, dict):
            raise SourceError(market, f"result {result!r:.80} is not an object")
        names = [name for name in result if name != "last"]
        if len(names) != 1:
            raise SourceError(
                market, f"OHLC result names pairs {sorted(names)[:5]}, expected one for {asked}"
            )
        candles = []
        for row in rows_of(market, result[names[0]], "OHLC result"):
            fields = row_fields(market, row, 7, "OHLC")
            values = dict(zip(("open", "high", "low", "close", "vwap", "volume"), fields[1:7], strict=True))
            candles.append(candle_from(market, fields[0], values))
        return CandlePage(candles)


class CoinbaseHistory:
    """Coinbase Exchange ``candles``: ``[time, low, high, open, close, volume]`` numbers, newest first."""

    name: ClassVar[str] = "coinbase"
    per_request: ClassVar[int] = 300
    reach_minutes: ClassVar[int | None] = None

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        product = coinbase_product(market)
        # ``end`` names the last bucket's start (inclusive): 300 buckets are start .. start + 299 min.
        params = {
            "granularity": "60",
            "start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": (end - MINUTE).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        response = get(session, endpoint, f"/products/{product}/candles", params=params)
        check_status(market, response)
        candles = []
        for row in rows_of(market, json_body(market, response), "candles answer"):
            time, low, high, open_, close, volume = row_fields(market, row, 6, "candles")[:6]
            values = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
            candles.append(candle_from(market, time, values))
        return CandlePage(candles)


class BinanceHistory:
    """Binance ``klines``: 12 fields, open time in ms, prices as strings, oldest first; weight 2."""

    name: ClassVar[str] = "binance"
    per_request: ClassVar[int] = 1000
    reach_minutes: ClassVar[int | None] = None

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        symbol = market.pair.upper()
        params = {
            "symbol": symbol,
            "interval": "1m",
            "startTime": str(epoch(start) * 1000),
            "endTime": str(epoch(end) * 1000 - 1),
            "limit": str(int((end - start) / MINUTE)),
        }
        response = get(session, endpoint, "/api/v3/klines", params=params)
        allowance = used_weight_allowance(market, response)
        check_status(market, response, allowance)
        try:
            candles = []
            for row in rows_of(market, json_body(market, response), "klines answer"):
                fields = row_fields(market, row, 6, "klines")
                open_ms = fields[0]
                if not isinstance(open_ms, int) or isinstance(open_ms, bool) or open_ms % 1000:
                    raise SourceError(market, f"kline open time {open_ms!r:.40} is not whole milliseconds")
                values = dict(zip(("open", "high", "low", "close", "volume"), fields[1:6], strict=True))
                candles.append(candle_from(market, open_ms // 1000, values))
        except SourceError as error:
            raise SourceError(market, error.problem, allowance=allowance) from None
        return CandlePage(candles, allowance)


class BitstampHistory:
    """Bitstamp ``ohlc``: ``data.ohlc`` objects of strings, ``timestamp`` the minute's start, oldest first."""

    name: ClassVar[str] = "bitstamp"
    per_request: ClassVar[int] = 1000
    reach_minutes: ClassVar[int | None] = None

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        params = {
            "step": "60",
            "start": str(epoch(start)),
            "limit": str(int((end - start) / MINUTE)),
            "exclude_current_candle": "true",
        }
        response = get(session, endpoint, f"/api/v2/ohlc/{market.pair}/", params=params)
        check_status(market, response)
        candles = []
        for row in rows_of(
            market, value_at(market, json_body(market, response), "data", "ohlc"), "data.ohlc"
        ):
            if not isinstance(row, dict):
                raise SourceError(market, f"ohlc row {row!r:.80} is not an object")
            missing = [
                name for name in ("timestamp", "open", "high", "low", "close", "volume") if name not in row
            ]
            if missing:
                raise SourceError(market, f"ohlc row {row!r:.80} has no {missing}")
            candles.append(candle_from(market, row["timestamp"], row))
        return CandlePage(candles)


class CryptowatchHistory:
    """Cryptowatch ``ohlc``: ``result["60"]`` rows ``[CloseTime, O, H, L, C, Volume, QuoteVolume]``."""

    name: ClassVar[str] = "cryptowatch"
    per_request: ClassVar[int] = 1000
    reach_minutes: ClassVar[int | None] = None

    def page(
        self, session: requests.Session, endpoint: Endpoint, market: Market, start: datetime, end: datetime
    ) -> CandlePage:
        headers = {"X-CW-API-Key": endpoint.api_key} if endpoint.api_key else {}
        # ``after`` and ``before`` bound the close times: the first minute closes at start + 60 s.
        params = {"periods": "60", "after": str(epoch(start + MINUTE)), "before": str(epoch(end))}
        response = get(
            session,
            endpoint,
            f"/markets/{market.exchange}/{market.pair}/ohlc",
            params=params,
            headers=headers,
        )
        allowance = parse_allowance(market, json_or_none(response))
        check_status(market, response, allowance)
        try:
            candles = []
            for row in rows_of(
                market, value_at(market, json_body(market, response), "result", "60"), "result['60']"
            ):
                fields = row_fields(market, row, 6, "ohlc")
                values = dict(zip(("open", "high", "low", "close", "volume"), fields[1:6], strict=True))
                candles.append(candle_from(market, fields[0], values, close_time=True))
        except SourceError as error:
            raise SourceError(market, error.problem, allowance=allowance) from None
        return CandlePage(candles, allowance)


HISTORIES: Final[dict[str, HistorySource]] = {
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
    from franz_ivan.sources import network_errors

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
