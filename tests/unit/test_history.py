"""Each history (candle) adapter against its recorded bodies, their quirks, and the local API's candles.

The adapters talk real HTTP to the local price API on loopback: recorded bodies are served byte for
byte (:class:`Recorded`, from ``tests/fixtures/price-api-samples/ohlc``), the synthetic history
through the API's candle endpoints. The clock the adapter reckons "ended minutes" and Kraken's
reach from is set to the time of the recording.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from devtools.price_api import EMPTY_EVERY, Fault, PriceApiServer, Recorded, candle_at
from franz_ivan.events import Candle
from franz_ivan.markets import parse_market
from franz_ivan.sources import Allowance, Endpoint, SourceError
from franz_ivan.sources.candles import MinuteCandle
from franz_ivan.sources.history import History, fetch_history, minute_floor
from franz_ivan.sources.pacing import PacingSettings, SourcePacer

MINUTE = timedelta(minutes=1)


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def history(
    price_api: PriceApiServer,
    session: requests.Session,
    entry: str,
    window: tuple[datetime, datetime],
    now: datetime | None = None,
) -> History:
    market = parse_market(entry)
    pacer = SourcePacer(market.source, PacingSettings(attempts=3, backoff_base=0.01, budget=20), Decimal(0))
    clock = now or datetime.now(UTC)
    return fetch_history(session, Endpoint(price_api.url), market, window, pacer, now=lambda: clock)


def failure(
    price_api: PriceApiServer,
    session: requests.Session,
    entry: str,
    window: tuple[datetime, datetime] = (at(1_700_000_000), at(1_700_003_600)),
) -> SourceError:
    with pytest.raises(SourceError) as raised:
        history(price_api, session, entry, window, now=at(1_700_003_630))
    return raised.value


def paths(price_api: PriceApiServer) -> list[str]:
    return [request["path"] for request in price_api.state.requests]


# --- recorded bodies -----------------------------------------------------------------------------


def test_kraken_gives_every_ended_minute_of_its_720_flat_empty_minutes_included(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["kraken"] = Recorded("ohlc/kraken_ohlc_1m.json")
    first, open_minute = 1733097540, 1733140680
    got = history(
        price_api, session, "kraken:ethusd", (at(first), at(open_minute + 60)), at(open_minute + 30)
    )

    assert got.beyond_reach is None
    assert [candle.minute for candle in got.candles] == [at(first + 60 * n) for n in range(719)]
    assert got.candles[0] == MinuteCandle(
        at(first),
        Decimal("3712.60"),
        Candle(Decimal("3711.50"), Decimal("3712.78"), Decimal("3711.50"), Decimal("1.77755193")),
    )
    flat = [candle for candle in got.candles if candle.candle.volume == 0]
    assert len(flat) == 5
    assert all(c.candle.open == c.candle.high == c.candle.low == c.close for c in flat)
    assert paths(price_api) == [f"/0/public/OHLC?pair=ETHUSD&interval=1&since={first - 60}"]


def test_kraken_docs_example_of_xbtusd(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["kraken"] = Recorded("ohlc/kraken_ohlc_1m_docs_example.json")
    got = history(price_api, session, "kraken:btcusd", (at(1688671200), at(1688671440)), at(1688672200))
    assert [candle.minute for candle in got.candles] == [at(1688671200 + 60 * n) for n in range(4)]
    assert paths(price_api) == [f"/0/public/OHLC?pair=XBTUSD&interval=1&since={1688671200 - 60}"]


def test_kraken_unknown_pair_arrives_with_http_200(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["kraken"] = Recorded("ohlc/kraken_error_ohlc_unknown_pair.json")
    assert str(failure(price_api, session, "kraken:btcusd")) == (
        "kraken kraken:btcusd: Kraken answered OHLC for pair XBTUSD: EQuery:Unknown asset pair"
    )


def test_coinbase_rows_come_newest_first_low_before_high(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["coinbase"] = Recorded("ohlc/coinbase_exchange_candles_60.json")
    newest = 1733146140
    window = (at(newest - 299 * 60), at(newest + 60))
    got = history(price_api, session, "coinbase:ethusd", window, at(newest + 61))

    assert len(got.candles) == 300
    assert got.candles == sorted(got.candles, key=lambda candle: candle.minute)
    # The recorded row [1733146140, 3613.52, 3616.81, 3615.53, 3614.68, 43.43524104]:
    assert got.candles[-1] == MinuteCandle(
        at(newest),
        Decimal("3614.68"),
        Candle(Decimal("3615.53"), Decimal("3616.81"), Decimal("3613.52"), Decimal("43.43524104")),
    )
    [request] = paths(price_api)
    assert request == (
        "/products/ETH-USD/candles?granularity=60&start=2024-12-02T08%3A30%3A00Z&end=2024-12-02T13%3A29%3A00Z"
    )


def test_coinbase_pages_300_minutes_at_a_time(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["coinbase"] = Recorded("ohlc/coinbase_exchange_candles_60_btcusd_start_end.json")
    start = datetime(2020, 3, 20, tzinfo=UTC)
    got = history(price_api, session, "coinbase:btcusd", (start, start + 600 * MINUTE), start + 601 * MINUTE)
    # The recording is the newest 40 of the first 300 minutes; both pages get it, the second keeps none.
    assert [candle.minute for candle in got.candles] == [start + (260 + n) * MINUTE for n in range(40)]
    assert len(paths(price_api)) == 2


def test_coinbase_more_than_300_buckets_is_its_400(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["coinbase"] = Recorded(
        "ohlc/coinbase_exchange_error_granularity_range.json", status=400
    )
    assert str(failure(price_api, session, "coinbase:btcusd")) == (
        "coinbase coinbase:btcusd: HTTP 400: granularity too small for the requested time range. "
        "Count of aggregations requested exceeds 300"
    )


def test_binance_klines_and_the_weight_left(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["binance"] = Recorded(
        "ohlc/binance_klines_1m.json", headers={"X-MBX-USED-WEIGHT-1M": "12"}
    )
    start = at(1634943780)
    got = history(
        price_api,
        session,
        "binance:btcusdt",
        (start, start + 10 * MINUTE),
        start + 9 * MINUTE + timedelta(seconds=5),
    )

    # The tenth row is the minute still open at the clock's time: left out.
    assert [candle.minute for candle in got.candles] == [start + n * MINUTE for n in range(9)]
    assert got.candles[0] == MinuteCandle(
        start,
        Decimal("60719.27000000"),
        Candle(
            Decimal("60685.22000000"),
            Decimal("60729.84000000"),
            Decimal("60670.90000000"),
            Decimal("21.63272"),
        ),
    )
    assert got.allowance == Allowance(remaining=Decimal(6000 - 12))
    assert paths(price_api) == [
        "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=1634943780000&endTime=1634944319999&limit=9"
    ]


def test_binance_invalid_interval(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["binance"] = Recorded("ohlc/binance_error_invalid_interval.json", status=400)
    assert (
        str(failure(price_api, session, "binance:btcusdt"))
        == "binance binance:btcusdt: HTTP 400: Invalid interval."
    )


@pytest.mark.parametrize(
    ("sample", "start", "minutes"),
    [("bitstamp_ohlc_60.json", 1733145480, 14), ("bitstamp_ohlc_60_btcusd_2022.json", 1656868680, 3)],
)
def test_bitstamp_strings_in_any_key_order(
    price_api: PriceApiServer, session: requests.Session, sample: str, start: int, minutes: int
) -> None:
    price_api.state.recorded["bitstamp"] = Recorded(f"ohlc/{sample}")
    window = (at(start), at(start) + minutes * MINUTE)
    got = history(price_api, session, "bitstamp:ethusd", window, at(start) + 20 * MINUTE)
    assert [candle.minute for candle in got.candles] == [at(start) + n * MINUTE for n in range(minutes)]
    assert all(c.candle.low <= c.close <= c.candle.high for c in got.candles)


def test_bitstamp_2022_rows_read_by_name(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["bitstamp"] = Recorded("ohlc/bitstamp_ohlc_60_btcusd_2022.json")
    start = at(1656868680)
    got = history(price_api, session, "bitstamp:btcusd", (start, start + 3 * MINUTE), start + 5 * MINUTE)
    assert got.candles[2] == MinuteCandle(
        start + 2 * MINUTE,
        Decimal("19121.32"),
        Candle(Decimal("19122.30"), Decimal("19122.30"), Decimal("19120.33"), Decimal("0.04470000")),
    )
    assert paths(price_api) == [
        f"/api/v2/ohlc/btcusd/?step=60&start={1656868680}&limit=3&exclude_current_candle=true"
    ]


def test_cryptowatch_close_times_and_minutes_without_trades_missing(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["cryptowatch"] = Recorded("ohlc/cryptowatch_ohlc_all_periods_kraken_btceur.json")
    got = history(
        price_api, session, "cryptowatch:kraken:btceur", (at(1646011860), at(1646014320)), at(1646100000)
    )
    # 40 rows closing 1646011920 to 1646014320; the minute 1646013000-1646013060 had no trades.
    minutes = [candle.minute for candle in got.candles]
    assert len(minutes) == 40
    assert (minutes[0], minutes[-1]) == (at(1646011860), at(1646014260))
    assert at(1646013000) not in minutes
    assert got.allowance is not None
    assert got.allowance.cost == Decimal("0.015")
    assert paths(price_api)[0].startswith("/markets/kraken/btceur/ohlc?periods=60&after=1646011920&before=")


def test_cryptowatch_not_found_is_charged_too(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["cryptowatch"] = Recorded(
        "ohlc/cryptowatch_error_ohlc_notfound.json", status=404
    )
    error = failure(price_api, session, "cryptowatch:kraken:btceur")
    assert str(error) == "cryptowatch kraken:btceur: HTTP 404: Instrument not found"
    assert error.allowance == Allowance(remaining=Decimal("9.688"), cost=Decimal("0.015"))


def test_a_candle_whose_high_is_below_its_close_is_refused(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    body = b'{"data": {"pair": "BTC/USD", "ohlc": [{"timestamp": "1700000040", "open": "10", "high": "11", '
    body += b'"low": "9", "close": "12", "volume": "1"}]}}'
    price_api.state.recorded["bitstamp"] = Recorded(body=body)
    assert str(failure(price_api, session, "bitstamp:btcusd")) == (
        "bitstamp bitstamp:btcusd: candle of 2023-11-14 22:14 UTC is inconsistent: open 10, high 11, low 9, "
        "close 12"
    )


def test_a_candle_time_off_the_minute_is_refused(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    body = b'[[1700000030000, "1", "1", "1", "1", "1", 0, "0", 1, "0", "0", "0"]]'
    price_api.state.recorded["binance"] = Recorded(body=body)
    assert "1700000030 is not the start of a minute" in str(failure(price_api, session, "binance:btcusdt"))


# --- the local API's history, paging and reach ---------------------------------------------------


def expected(
    source: str, pair: str, window: tuple[datetime, datetime], *, empty_missing: bool
) -> list[datetime]:
    minutes = []
    moment = window[0]
    while moment < window[1]:
        if not (empty_missing and int(moment.timestamp()) // 60 % EMPTY_EVERY == 0):
            minutes.append(moment)
        moment += MINUTE
    return minutes


@pytest.mark.parametrize(
    "case",
    [
        ("kraken:btcusd", 3, 1, False),
        ("coinbase:btcusd", 12, 3, True),
        ("binance:btcusdt", 24, 2, False),
        ("bitstamp:btcusd", 24, 2, False),
        ("cryptowatch:coinbase-pro:btcusd", 24, 2, True),
    ],
)
def test_a_window_is_paged_and_gives_exactly_the_ended_minutes_served(
    price_api: PriceApiServer, session: requests.Session, case: tuple[str, int, int, bool]
) -> None:
    """Per source: market, hours of window, requests its per-request limit makes, empty minutes missing."""
    entry, hours, requests_made, empty_missing = case
    market = parse_market(entry)
    end = minute_floor(datetime.now(UTC)) - 5 * MINUTE
    window = (end - hours * 60 * MINUTE, end)
    got = history(price_api, session, entry, window)

    assert [candle.minute for candle in got.candles] == expected(
        market.source, market.pair, window, empty_missing=empty_missing
    )
    for candle in got.candles:
        served = candle_at(market.source, market.pair, int(candle.minute.timestamp()))
        assert (candle.close, candle.candle.open, candle.candle.volume) == (
            served.close,
            served.open,
            served.volume,
        )
    assert len(price_api.state.requests) == requests_made
    assert got.beyond_reach is None


def test_kraken_fills_what_it_reaches_and_names_its_limit_for_the_rest(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    now = datetime.now(UTC)
    current = minute_floor(now)
    window = (current - 780 * MINUTE, current - 660 * MINUTE)
    got = history(price_api, session, "kraken:btcusd", window, now)

    earliest = current - 719 * MINUTE
    assert [candle.minute for candle in got.candles] == expected(
        "kraken", "btcusd", (earliest, window[1]), empty_missing=False
    )
    assert got.beyond_reach is not None
    assert got.beyond_reach.startswith("kraken serves only its 720 most recent one-minute candles")
    assert "(61 minutes) could not be filled; filled" in got.beyond_reach
    assert got.beyond_reach.endswith("(59 minutes)")


def test_a_throttled_history_request_is_asked_again_at_the_pace_set(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.faults["kraken"] = Fault("kraken-rate-limit", times=1)
    end = minute_floor(datetime.now(UTC)) - 5 * MINUTE
    got = history(price_api, session, "kraken:btcusd", (end - 10 * MINUTE, end))
    assert len(got.candles) == 10
    assert len(price_api.state.requests) == 2
