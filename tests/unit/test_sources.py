"""Each price source adapter against its recorded payloads and the bad answers the local API gives.

The adapters talk real HTTP to the local price API on loopback: recorded bodies are served byte for
byte (:class:`Recorded`), bad ones through its fault modes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import requests

from devtools.price_api import Fault, PriceApiServer, Recorded
from franz_ivan.events import Market
from franz_ivan.markets import parse_market
from franz_ivan.sources import Allowance, Endpoint, Quote, RateLimitedError, SourceError, fetch_quote


def fetch(
    price_api: PriceApiServer, session: requests.Session, entry: str, api_key: str | None = None
) -> Quote:
    return fetch_quote(session, Endpoint(price_api.url, api_key), parse_market(entry))


def failure(price_api: PriceApiServer, session: requests.Session, entry: str) -> SourceError:
    with pytest.raises(SourceError) as raised:
        fetch(price_api, session, entry)
    return raised.value


def only_request(price_api: PriceApiServer) -> dict[str, Any]:
    [request] = price_api.state.requests
    return request


# --- recorded payloads ---------------------------------------------------------------------------


def test_kraken_reads_last_trade_of_the_canonical_pair(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["kraken"] = Recorded("kraken_ticker.json")
    before = datetime.now(UTC)
    quote = fetch(price_api, session, "kraken:btcusd")
    assert quote.price == Decimal("30303.20000")
    assert quote.market == Market("kraken", "kraken", "btcusd")
    assert before <= quote.observed_at <= datetime.now(UTC)
    assert quote.allowance is None
    assert only_request(price_api)["path"] == "/0/public/Ticker?pair=XBTUSD"


def test_kraken_unknown_pair_arrives_with_http_200(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["kraken"] = Recorded("kraken_error_unknown_pair.json", status=200)
    error = failure(price_api, session, "kraken:nopeusd")
    assert not isinstance(error, RateLimitedError)
    assert str(error) == "kraken kraken:nopeusd: Kraken answered for pair NOPEUSD: EQuery:Unknown asset pair"


def test_coinbase_reads_price_and_its_own_time(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["coinbase"] = Recorded("coinbase_exchange_ticker.json")
    quote = fetch(price_api, session, "coinbase:btcusd")
    assert quote.price == Decimal("6268.48")
    assert quote.observed_at == datetime(2020, 3, 20, 0, 22, 57, 833000, tzinfo=UTC)
    assert only_request(price_api)["path"] == "/products/BTC-USD/ticker"


def test_coinbase_not_found(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["coinbase"] = Recorded("coinbase_exchange_error_notfound.json", status=404)
    assert (
        str(failure(price_api, session, "coinbase:btcusd")) == "coinbase coinbase:btcusd: HTTP 404: NotFound"
    )


def test_coinbase_rate_limit_is_rate_limited(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["coinbase"] = Recorded("coinbase_exchange_error_ratelimit.json", status=429)
    error = failure(price_api, session, "coinbase:btcusd")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is None
    assert "Public rate limit exceeded" in str(error)


def test_binance_price_and_allowance_from_the_used_weight(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["binance"] = Recorded(
        "binance_ticker_price.json", headers={"X-MBX-USED-WEIGHT-1M": "42"}
    )
    quote = fetch(price_api, session, "binance:ltcbtc")
    assert quote.price == Decimal("4.00000200")
    assert quote.allowance == Allowance(remaining=Decimal(6000 - 42))
    assert only_request(price_api)["path"] == "/api/v3/ticker/price?symbol=LTCBTC"


def test_binance_without_the_header_reports_no_allowance(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["binance"] = Recorded("binance_ticker_price.json")
    assert fetch(price_api, session, "binance:ltcbtc").allowance is None


def test_binance_answer_for_another_symbol_is_refused(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["binance"] = Recorded("binance_ticker_price.json")
    assert "asked for symbol BTCUSDT, answered for 'LTCBTC'" in str(
        failure(price_api, session, "binance:btcusdt")
    )


def test_binance_invalid_symbol_keeps_the_allowance(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["binance"] = Recorded(
        "binance_error_invalid_symbol.json", status=400, headers={"X-MBX-USED-WEIGHT-1M": "6"}
    )
    error = failure(price_api, session, "binance:nopeusdt")
    assert str(error) == "binance binance:nopeusdt: HTTP 400: Invalid symbol."
    assert error.allowance == Allowance(remaining=Decimal(5994))


@pytest.mark.parametrize(("status", "retry_after"), [(429, "7"), (418, "120")])
def test_binance_429_and_418_carry_retry_after(
    price_api: PriceApiServer, session: requests.Session, status: int, retry_after: str
) -> None:
    body = b'{"code": -1003, "msg": "Too much request weight used."}'
    headers = {"Retry-After": retry_after, "X-MBX-USED-WEIGHT-1M": "6100"}
    price_api.state.recorded["binance"] = Recorded(body=body, status=status, headers=headers)
    error = failure(price_api, session, "binance:btcusdt")
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == float(retry_after)
    assert error.allowance == Allowance(remaining=Decimal(0))
    assert f"HTTP {status}: Too much request weight used." in str(error)


def test_bitstamp_reads_last_and_epoch_timestamp(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["bitstamp"] = Recorded("bitstamp_ticker.json")
    quote = fetch(price_api, session, "bitstamp:btcusd")
    assert quote.price == Decimal("2211.00")
    assert quote.observed_at == datetime.fromtimestamp(1643640186, UTC)
    assert only_request(price_api)["path"] == "/api/v2/ticker/btcusd/"


@pytest.mark.parametrize(
    ("timestamp", "problem"),
    [
        ("1643640186000", "is out of range"),
        ("12", "is not plausible"),
        ("soon", "is not whole epoch seconds"),
    ],
)
def test_bitstamp_implausible_timestamps(
    price_api: PriceApiServer, session: requests.Session, timestamp: str, problem: str
) -> None:
    body = {"last": "2211.00", "timestamp": timestamp}
    price_api.state.recorded["bitstamp"] = Recorded(body=json.dumps(body).encode())
    assert problem in str(failure(price_api, session, "bitstamp:btcusd"))


def test_cryptowatch_price_and_allowance(price_api: PriceApiServer, session: requests.Session) -> None:
    price_api.state.recorded["cryptowatch"] = Recorded("cryptowatch_price.json")
    quote = fetch(price_api, session, "cryptowatch:kraken:btceur")
    assert quote.price == Decimal("24063.4")
    assert quote.allowance == Allowance(remaining=Decimal("9.895"), cost=Decimal("0.005"))
    request = only_request(price_api)
    assert request["path"] == "/markets/kraken/btceur/price"
    assert "X-CW-API-Key" not in request["headers"]


def test_cryptowatch_not_found_still_reports_allowance(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    price_api.state.recorded["cryptowatch"] = Recorded("cryptowatch_error_notfound.json", status=404)
    error = failure(price_api, session, "cryptowatch:kraken:aaabbb")
    assert str(error) == "cryptowatch kraken:aaabbb: HTTP 404: Instrument not found"
    assert error.allowance == Allowance(remaining=Decimal("9.875"), cost=Decimal("0.005"))


def test_cryptowatch_keyed_allowance_with_integers(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    body = {"result": {"price": 24063}, "allowance": {"cost": 0, "remaining": 10, "remainingPaid": 12345678}}
    price_api.state.recorded["cryptowatch"] = Recorded(body=json.dumps(body).encode())
    quote = fetch(price_api, session, "coinbase-pro:btcusd", api_key="the-key")
    assert quote.price == Decimal(24063)
    assert quote.allowance == Allowance(
        remaining=Decimal(10), cost=Decimal(0), remaining_paid=Decimal(12345678)
    )
    assert only_request(price_api)["headers"]["X-CW-API-Key"] == "the-key"


def test_cryptowatch_malformed_allowance_is_an_error(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    body = {"result": {"price": 1}, "allowance": {"cost": 0.005}}
    price_api.state.recorded["cryptowatch"] = Recorded(body=json.dumps(body).encode())
    assert "allowance has no 'remaining'" in str(failure(price_api, session, "coinbase-pro:btcusd"))


# --- the built answers, which the DAG tests rely on ---------------------------------------------

EVERY_SOURCE = [
    "kraken:btcusd",
    "coinbase:btcusd",
    "binance:btcusdt",
    "bitstamp:btcusd",
    "coinbase-pro:btcusd",
]


@pytest.mark.parametrize("entry", EVERY_SOURCE)
def test_the_local_api_speaks_every_source(
    price_api: PriceApiServer, session: requests.Session, entry: str
) -> None:
    quote = fetch(price_api, session, entry)
    [served] = price_api.state.served
    assert served["status"] == 200
    assert served["source"] == quote.market.source
    assert Decimal("20000") < quote.price < Decimal("30000")
    assert abs((datetime.now(UTC) - quote.observed_at).total_seconds()) < 60


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("kraken:nopeusd", "EQuery:Unknown asset pair"),
        ("coinbase:nopeusd", "HTTP 404: NotFound"),
        ("binance:nopeusdt", "HTTP 400: Invalid symbol."),
        ("bitstamp:nopeusd", "HTTP 404 with a non-JSON body (text/html)"),
        ("coinbase-pro:nopeusd", "HTTP 404: Instrument not found"),
        ("coinbase:abcxyz", "cannot tell base from quote asset in 'abcxyz'"),
    ],
)
def test_unknown_pairs(
    price_api: PriceApiServer, session: requests.Session, entry: str, problem: str
) -> None:
    error = failure(price_api, session, entry)
    assert str(error).startswith(f"{error.market.source} {error.market.exchange}:{error.market.pair}: ")
    assert problem in str(error)


# --- bad answers, from every source --------------------------------------------------------------

BAD_ANSWERS = [
    ("html", "HTTP 200 with a non-JSON body (text/html; charset=utf-8): '<!DOCTYPE html>"),
    ("not-json", 'HTTP 200 with a non-JSON body (application/json): \'{"result": {"pri\''),
    ("server-error", "HTTP 502 with a non-JSON body (text/html): '<html><head><title>502 Bad Gateway"),
    ("missing-price", "response has no ["),
    ("price-nan", "is not finite"),
    ("price-zero", "is not positive"),
    ("price-negative", "is not positive"),
    ("price-absurd", "is implausibly large"),
]


@pytest.mark.parametrize("entry", EVERY_SOURCE)
@pytest.mark.parametrize(("kind", "problem"), BAD_ANSWERS)
def test_bad_answers_name_source_market_and_problem(
    price_api: PriceApiServer, session: requests.Session, entry: str, kind: str, problem: str
) -> None:
    market = parse_market(entry)
    price_api.state.faults[market.source] = Fault(kind)
    error = failure(price_api, session, entry)
    assert not isinstance(error, RateLimitedError)
    assert str(error).startswith(f"{market.source} {market.exchange}:{market.pair}: ")
    assert problem in error.problem


@pytest.mark.parametrize("entry", EVERY_SOURCE)
def test_rate_limit_answers_are_told_apart(
    price_api: PriceApiServer, session: requests.Session, entry: str
) -> None:
    market = parse_market(entry)
    price_api.state.faults[market.source] = Fault("rate-limit", retry_after="3")
    error = failure(price_api, session, entry)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 3.0
    assert "rate limited, HTTP 429" in str(error)


@pytest.mark.parametrize(("kind", "retry_after"), [("kraken-throttle", True), ("kraken-rate-limit", False)])
def test_kraken_throttle_bodies_are_rate_limits(
    price_api: PriceApiServer, session: requests.Session, kind: str, retry_after: bool
) -> None:
    price_api.state.faults["kraken"] = Fault(kind, retry_after="5")
    error = failure(price_api, session, "kraken:btcusd")
    assert isinstance(error, RateLimitedError)
    assert "throttled: E" in str(error)
    if retry_after:
        assert error.retry_after is not None
        assert 4.0 <= error.retry_after <= 6.0
    else:
        assert error.retry_after is None


def test_a_slow_answer_times_out(
    price_api: PriceApiServer, session: requests.Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_SOURCE_TIMEOUT", "0.3")
    price_api.state.faults["kraken"] = Fault("slow", seconds=1.5)
    error = failure(price_api, session, "kraken:btcusd")
    assert str(error).startswith("kraken kraken:btcusd: timed out: ")
    assert "read timeout=0.3" in str(error)


def test_a_tls_handshake_with_a_plain_http_port_is_a_tls_error(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    endpoint = Endpoint(price_api.url.replace("http://", "https://"))
    with pytest.raises(SourceError) as raised:
        fetch_quote(session, endpoint, parse_market("kraken:btcusd"))
    assert str(raised.value).startswith("kraken kraken:btcusd: TLS error: ")


def test_a_refused_connection_is_a_request_failure(session: requests.Session) -> None:
    from devtools.local_stack import free_port

    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceError) as raised:
        fetch_quote(session, endpoint, parse_market("bitstamp:btcusd"))
    assert str(raised.value).startswith("bitstamp bitstamp:btcusd: request failed: ")
    assert "Connection refused" in str(raised.value)


def test_an_error_read_from_a_body_keeps_its_kind_and_gains_the_answer_s_allowance(
    price_api: PriceApiServer, session: requests.Session
) -> None:
    """``call`` adds the reported allowance to what ``read`` raised, without turning a rate limit
    into a plain error (the pacer waits out a rate limit, and gives up on any other error)."""
    from franz_ivan.sources.base import Request, call

    price_api.state.recorded["kraken"] = Recorded("kraken_ticker.json")
    market = parse_market("kraken:btcusd")
    reported = Allowance(remaining=Decimal("9.5"), cost=Decimal("0.005"))

    def throttled(body: Any) -> None:
        raise RateLimitedError(market, "EService: Throttled", retry_after=3.0)

    with pytest.raises(RateLimitedError) as raised:
        call(
            session,
            Endpoint(price_api.url),
            market,
            Request("/0/public/Ticker", params={"pair": "XBTUSD"}),
            throttled,
            allowance_of=lambda _market, _response: reported,
        )

    assert raised.value.retry_after == 3.0
    assert raised.value.allowance == reported
    assert str(raised.value) == "kraken kraken:btcusd: EService: Throttled"
