"""A local market-data API for tests and the offline demo, speaking five real APIs' shapes.

Answers are built from the recorded payloads in ``tests/fixtures/price-api-samples`` with a price
that moves with time (and differs a little between sources):

==============  =============================================  ==========================================
source          request                                        answer
==============  =============================================  ==========================================
``cryptowatch`` ``GET /markets/{exchange}/{pair}/price``       ``result.price`` and the ``allowance``
                                                               object (errors too); 429 once spent
``kraken``      ``GET /0/public/Ticker?pair=XBTUSD``           keyed by the canonical ``XXBTZUSD``,
                                                               ``c[0]``; errors in ``error`` with 200
``coinbase``    ``GET /products/BTC-USD/ticker``               ``price``, ``time`` (now)
``binance``     ``GET /api/v3/ticker/price?symbol=BTCUSDT``    ``symbol``, ``price``; header
                                                               ``X-MBX-USED-WEIGHT-1M`` (+2 a call)
``bitstamp``    ``GET /api/v2/ticker/btcusd/``                 ``last``, ``timestamp`` (now, epoch s)
==============  =============================================  ==========================================

Each source also serves its **one-minute candles** (history) in its own shape, for backfills:

==============  =====================================================  ==================================
source          request                                                quirks kept
==============  =====================================================  ==================================
``kraken``      ``GET /0/public/OHLC?pair=XBTUSD&interval=1&since=s``  only the 720 most recent minutes,
                                                                       the open minute last, ``last``;
                                                                       empty minutes flat, volume 0
``coinbase``    ``GET /products/BTC-USD/candles?granularity=60``       newest first; over 300 buckets is
                ``&start=…&end=…``                                     the recorded 400; empty minutes
                                                                       missing
``binance``     ``GET /api/v3/klines?symbol=…&interval=1m``            12 fields, at most 1000, weight 2
                ``&startTime=ms&endTime=ms&limit=n``
``bitstamp``    ``GET /api/v2/ohlc/btcusd/?step=60&start=s&limit=n``   strings; ``limit`` 1 to 1000
``cryptowatch`` ``GET /markets/{exchange}/{pair}/ohlc?periods=60``     close times; empty minutes
                ``&after=s&before=s``                                  missing; ``allowance`` charged
==============  =====================================================  ==================================

Candles are a pure function of (source, pair, minute) (:func:`candle_at`), so the same minute
asked twice gives the same candle and tests can tell exactly what was served. Every
:data:`EMPTY_EVERY`-th minute has no trades.

Unknown pairs get each source's recorded error (Bitstamp's, not recorded, is an HTML 404 page).
:class:`Fault` switches a source, or one ``source:pair``, to a bad answer for tests: see
:data:`FAULT_KINDS`; :class:`Recorded` makes it answer with a recorded payload byte for byte.
``latency`` delays every answer (for the fan-out benchmark); ``requests``
records what was asked (path, headers, source, pair, monotonic time) and ``served`` what was
answered, so tests can check what the producer sent and stored.

Run it alone with ``python -m devtools.price_api --port 8765 [--fault kraken=kraken-throttle]``;
tests start it in a thread with :func:`serve`.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "price-api-samples"

BASE_PRICES: dict[str, Decimal] = {
    "btcusd": Decimal("24063.4"),
    "btceur": Decimal("22110.5"),
    "btcusdt": Decimal("24071.15"),
    "ethusd": Decimal("1650.25"),
    "etheur": Decimal("1519.80"),
    "ethusdt": Decimal("1650.71"),
    "ltcusd": Decimal("64.12"),
    "xrpusd": Decimal("0.5123"),
    "solusd": Decimal("21.37"),
    "adausd": Decimal("0.2611"),
    "dogeusd": Decimal("0.06312"),
    "dotusd": Decimal("4.581"),
}
"""The pairs this server knows; anything else gets the source's 'unknown pair' answer."""

QUOTES: Final = ("usdt", "usd", "eur")
SOURCE_SPREAD: Final = {
    "cryptowatch": Decimal(0),
    "kraken": Decimal("0.0004"),
    "coinbase": Decimal("-0.0003"),
    "binance": Decimal("0.0002"),
    "bitstamp": Decimal("-0.0005"),
}
"""Each source quotes a little apart from the others, as real exchanges do."""

KRAKEN_ASSETS: Final = {"btc": "XBT", "doge": "XDG"}
KRAKEN_LEGACY: Final = {"XBT", "ETH", "LTC", "XRP"}
"""Kraken's canonical names prefix these with X, and fiat quotes with Z: ``XXBTZUSD``."""
KRAKEN_FIAT: Final = {"USD", "EUR"}

EMPTY_EVERY: Final = 23
"""Minute numbers (epoch minutes) divisible by this have no trades in the served history."""
KRAKEN_OHLC_REACH: Final = 720
MAX_CANDLES: Final = {"coinbase": 300, "binance": 1000, "bitstamp": 1000, "cryptowatch": 1000}

BINANCE_WEIGHT_PER_CALL: Final = 2
BINANCE_WEIGHT_HEADER: Final = "X-MBX-USED-WEIGHT-1M"

FAULT_KINDS: Final = {
    "html": "HTTP 200 with an HTML maintenance page",
    "not-json": "HTTP 200, Content-Type application/json, truncated body",
    "server-error": "HTTP 502 with a proxy's HTML error page",
    "rate-limit": "HTTP 429 with Retry-After (when set) and the source's own body",
    "ban": "HTTP 418 with Retry-After, Binance's IP-ban answer",
    "kraken-throttle": 'HTTP 200 {"error": ["EService: Throttled: <now + retry_after>"]}',
    "kraken-rate-limit": 'HTTP 200 {"error": ["EAPI:Rate limit exceeded"]}',
    "slow": "the normal answer after `seconds`",
    "missing-price": "the normal answer without its price field",
    "price-nan": "price NaN",
    "price-zero": "price 0",
    "price-negative": "price -1",
    "price-absurd": "price 1e15",
}
PRICE_FAULTS: Final = {
    "missing-price": None,
    "price-nan": "NaN",
    "price-zero": "0",
    "price-negative": "-1",
    "price-absurd": "1000000000000000",
}

HTML_MAINTENANCE = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head><body>Back soon</body></html>"
)
HTML_BAD_GATEWAY = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
)
HTML_NOT_FOUND = (
    b"<!DOCTYPE html><html><head><title>404 Not Found</title></head><body>Not found</body></html>"
)


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def split_pair(pair: str) -> tuple[str, str] | None:
    quote = next((quote for quote in QUOTES if pair.endswith(quote) and len(pair) > len(quote) + 1), None)
    return None if quote is None else (pair[: -len(quote)], quote)


def kraken_names(pair: str) -> tuple[str, str] | None:
    """Kraken's name for ``pair`` as asked (``XBTUSD``) and as answered (``XXBTZUSD``)."""
    split = split_pair(pair)
    if split is None:
        return None
    base, quote = (KRAKEN_ASSETS.get(asset, asset).upper() for asset in split)
    canonical = ("X" + base if base in KRAKEN_LEGACY else base) + (
        "Z" + quote if quote in KRAKEN_FIAT else quote
    )
    return base + quote, canonical


def kraken_pair(asked: str) -> str:
    """Our pair name for a Kraken ``pair`` parameter (``XBTUSD``, ``BTCUSD`` or ``XXBTZUSD``)."""
    for pair in BASE_PRICES:
        names = kraken_names(pair)
        if names and asked.upper() in (*names, pair.upper()):
            return pair
    return asked.lower()


@dataclass
class Fault:
    """A bad answer given instead of the real one.

    :param kind: one of :data:`FAULT_KINDS`.
    :param times: answers to spoil, then answer normally again; None spoils every answer.
    :param retry_after: the ``Retry-After`` header of rate-limit and ban answers (None: no header),
        and the seconds ahead named in Kraken's throttle error.
    :param seconds: how long a ``slow`` answer takes.
    """

    kind: str
    times: int | None = None
    retry_after: str | None = "1"
    seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")


@dataclass
class Recorded:
    """A recorded answer served byte for byte instead of the built one, for parser tests.

    :param sample: file name in the samples folder (or ``body`` given directly).
    :param status: the HTTP status it was recorded with.
    :param headers: headers to send with it (e.g. Binance's used-weight header).
    """

    sample: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        if self.sample is None:
            raise ValueError("a recorded answer needs a sample file or a body")
        return (SAMPLES / self.sample).read_bytes()


@dataclass
class ApiState:
    """What the server serves, shared by its handler threads; tests adjust it between calls."""

    latency: float = 0.0
    allowance_remaining: Decimal = Decimal("10")
    allowance_cost: Decimal = Decimal("0.005")
    binance_weight_used: int = 0
    binance_window_started: float = field(default_factory=time.monotonic)
    prices: dict[str, Decimal] = field(default_factory=lambda: dict(BASE_PRICES))
    faults: dict[str, Fault] = field(default_factory=dict)
    """By ``source`` or ``source:pair`` (the pair as this server names it, e.g. ``kraken:btcusd``)."""
    recorded: dict[str, Recorded] = field(default_factory=dict)
    """Recorded answers, keyed like ``faults``; they take precedence over everything else."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    served: list[dict[str, Any]] = field(default_factory=list)
    """Every answered body with its path, so tests can compare stored rows with what was served."""
    candles_served: list[tuple[str, str, ServedCandle]] = field(default_factory=list)
    """Every candle answered, as (source, pair, candle), open minutes and repeats included."""
    in_flight: int = 0
    max_in_flight: int = 0
    """The most requests being answered at once: how concurrently the producer asked."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def price_now(self, pair: str, source: str = "cryptowatch") -> Decimal:
        """A price that drifts by up to 1 % over minutes, so consecutive rows differ."""
        return self.price_at(pair, source, time.time())

    def price_at(self, pair: str, source: str, moment: float) -> Decimal:
        """What :meth:`price_now` answers at ``moment`` (epoch seconds): for seeding history."""
        drift = Decimal(str(round(math.sin(moment / 37.0) / 100, 6))) + SOURCE_SPREAD[source]
        return (self.prices[pair] * (1 + drift)).quantize(self.prices[pair])

    def charge(self) -> dict[str, Any] | None:
        """Take one call's cost from the allowance; the allowance object, or None when it is spent."""
        with self.lock:
            if self.allowance_remaining < self.allowance_cost:
                return None
            self.allowance_remaining -= self.allowance_cost
            allowance = copy.deepcopy(sample("cryptowatch_price.json")["allowance"])
            allowance["cost"] = float(self.allowance_cost)
            allowance["remaining"] = float(self.allowance_remaining)
            return allowance

    def use_binance_weight(self, weight: int = BINANCE_WEIGHT_PER_CALL) -> int:
        """Add a call's weight to this minute's (a minute counted from the last reset); the new total."""
        with self.lock:
            if time.monotonic() - self.binance_window_started >= 60:
                self.binance_weight_used = 0
                self.binance_window_started = time.monotonic()
            self.binance_weight_used += weight
            return self.binance_weight_used

    def recorded_answer(self, source: str, pair: str) -> Recorded | None:
        with self.lock:
            return self.recorded.get(f"{source}:{pair}") or self.recorded.get(source)

    def take_fault(self, source: str, pair: str) -> Fault | None:
        """The fault for this request, if any, counting it against its ``times``."""
        with self.lock:
            for key in (f"{source}:{pair}", source):
                fault = self.faults.get(key)
                if fault is None or fault.times == 0:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None


@dataclass(frozen=True)
class ServedCandle:
    """One minute of history: ``minute`` is its start in epoch seconds; ``volume`` 0 means no trades."""

    minute: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal

    @property
    def traded(self) -> bool:
        return self.volume > 0


def _close_at(source: str, pair: str, number: int) -> Decimal:
    base = BASE_PRICES[pair]
    drift = Decimal(str(round(math.sin(number / 37.0) / 100, 6))) + SOURCE_SPREAD[source]
    return (base * (1 + drift)).quantize(base)


def candle_at(source: str, pair: str, minute: int) -> ServedCandle:
    """The candle of ``pair`` on ``source`` for the minute starting at epoch second ``minute``."""
    number = minute // 60
    previous = _close_at(source, pair, number - 1)
    if number % EMPTY_EVERY == 0:
        return ServedCandle(minute, previous, previous, previous, previous, Decimal(0))
    close = _close_at(source, pair, number)
    step = BASE_PRICES[pair] / 2000
    high = (max(previous, close) + step).quantize(BASE_PRICES[pair])
    low = (min(previous, close) - step).quantize(BASE_PRICES[pair])
    volume = Decimal((number * 7919) % 997 + 1) / 100
    return ServedCandle(minute, previous, high, low, close, volume)


def minutes_between(first: int, last: int) -> range:
    """Epoch-second minute starts from the minute holding ``first`` to the one holding ``last``."""
    return range(first - first % 60, last - last % 60 + 1, 60)


def now_minute() -> int:
    now = int(time.time())
    return now - now % 60


def padded(price: Decimal, places: int) -> str:
    """``price`` written with at least ``places`` decimals, as Kraken and Binance write theirs."""
    return f"{price:.{max(places, -int(price.as_tuple().exponent))}f}"


class PriceApiHandler(BaseHTTPRequestHandler):
    server: PriceApiServer
    state: ApiState

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read ``state.requests`` instead."""

    def send_body(
        self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def send_json(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        source: str = "",
        pair: str = "",
    ) -> None:
        # Recorded before it is sent, so that a client holding the answer finds it in ``served``.
        with self.state.lock:
            self.state.served.append(
                {"path": self.path, "status": status, "body": body, "source": source, "pair": pair}
            )
        self.send_body(status, json.dumps(body).encode(), "application/json", headers)

    def do_GET(self) -> None:
        # Held for the whole answer: a slow answer must not land in the state a later test set.
        self.state = state = self.server.state
        with state.lock:
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            self.respond()
        finally:
            with state.lock:
                state.in_flight -= 1

    def respond(self) -> None:
        state = self.state
        url = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        source, pair, asked = self.history_route(url.path, query) or self.route(url.path, query)
        with state.lock:
            state.requests.append(
                {
                    "path": self.path,
                    "headers": dict(self.headers),
                    "source": source,
                    "pair": pair,
                    "time": time.monotonic(),
                }
            )
        if state.latency:
            time.sleep(state.latency)
        if source is None:
            self.send_json(404, {"error": "Route not found"})
            return
        # Recorded answers and faults are keyed by the source's plain name ("kraken"), history and
        # ticker alike; the history endpoints are routed as "<source>_<endpoint>".
        plain, _, endpoint = source.partition("_")
        recorded = state.recorded_answer(plain, pair)
        if recorded is not None:
            self.send_body(recorded.status, recorded.payload(), "application/json", recorded.headers)
            return
        if endpoint:
            fault = state.take_fault(plain, pair)
            if fault is not None and fault.kind not in PRICE_FAULTS and fault.kind != "slow":
                self.send_fault(plain, fault)
                return
            getattr(self, f"answer_{source}")(pair, asked, query)
            return
        fault = state.take_fault(source, pair)
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind not in PRICE_FAULTS:
            self.send_fault(source, fault)
            return
        answer = getattr(self, f"answer_{source}")
        if pair not in state.prices:
            answer(pair, asked, known=False, price=None)
        else:
            answer(
                pair,
                asked,
                known=True,
                price=PRICE_FAULTS[fault.kind] if fault else self.price_text(source, pair),
            )

    def route(self, path: str, query: dict[str, str]) -> tuple[str | None, str, str]:
        """``(source, our pair name, the name asked for)`` of a request; source None for unknown paths."""
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[0] == "markets" and parts[3] == "price":
            return "cryptowatch", parts[2], parts[2]
        if path.rstrip("/") == "/0/public/Ticker":
            asked = query.get("pair", "")
            return "kraken", kraken_pair(asked), asked
        if len(parts) == 3 and parts[0] == "products" and parts[2] == "ticker":
            return "coinbase", parts[1].replace("-", "").lower(), parts[1]
        if path.rstrip("/") == "/api/v3/ticker/price":
            asked = query.get("symbol", "")
            return "binance", asked.lower(), asked
        if len(parts) == 4 and parts[:3] == ["api", "v2", "ticker"]:
            return "bitstamp", parts[3], parts[3]
        return None, "", ""

    @staticmethod
    def history_route(path: str, query: dict[str, str]) -> tuple[str, str, str] | None:
        """Like :meth:`route` for the candle endpoints (``<source>_<endpoint>``), None for other paths."""
        parts = path.strip("/").split("/")
        routes: dict[str, tuple[str, str, str]] = {}
        if len(parts) == 4 and parts[0] == "markets" and parts[3] == "ohlc":
            routes[path] = ("cryptowatch_ohlc", parts[2], parts[2])
        if len(parts) == 3 and parts[0] == "products" and parts[2] == "candles":
            routes[path] = ("coinbase_candles", parts[1].replace("-", "").lower(), parts[1])
        if len(parts) == 4 and parts[:3] == ["api", "v2", "ohlc"]:
            routes[path] = ("bitstamp_ohlc", parts[3], parts[3])
        if path.rstrip("/") == "/0/public/OHLC":
            routes[path] = ("kraken_ohlc", kraken_pair(query.get("pair", "")), query.get("pair", ""))
        if path.rstrip("/") == "/api/v3/klines":
            routes[path] = ("binance_klines", query.get("symbol", "").lower(), query.get("symbol", ""))
        return routes.get(path)

    def price_text(self, source: str, pair: str) -> str:
        """The price as the source writes it."""
        price = self.state.price_now(pair, source)
        return padded(price, {"kraken": 5, "binance": 8, "bitstamp": 2}.get(source, 0))

    def binance_headers(self) -> dict[str, str]:
        return {BINANCE_WEIGHT_HEADER: str(self.state.use_binance_weight())}

    def send_fault(self, source: str, fault: Fault) -> None:
        retry = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.kind == "html":
            self.send_body(200, HTML_MAINTENANCE, "text/html; charset=utf-8")
        elif fault.kind == "server-error":
            self.send_body(502, HTML_BAD_GATEWAY, "text/html")
        elif fault.kind == "not-json":
            self.send_body(200, b'{"result": {"pri', "application/json")
        elif fault.kind == "kraken-throttle":
            until = math.ceil(time.time() + float(fault.retry_after or 0))
            self.send_json(200, {"error": [f"EService: Throttled: {until}"]}, source=source)
        elif fault.kind == "kraken-rate-limit":
            self.send_json(200, {"error": ["EAPI:Rate limit exceeded"]}, source=source)
        elif fault.kind == "rate-limit" and source == "binance":
            body = {
                "code": -1003,
                "msg": "Too many requests; current limit of IP is 6000 requests per minute.",
            }
            self.send_json(429, body, {**retry, **self.binance_headers()}, source=source)
        elif fault.kind == "ban" and source == "binance":
            body = {"code": -1003, "msg": "Way too much request weight used; IP banned until later."}
            self.send_json(418, body, {**retry, **self.binance_headers()}, source=source)
        elif fault.kind == "rate-limit" and source == "coinbase":
            self.send_json(429, sample("coinbase_exchange_error_ratelimit.json"), retry, source=source)
        elif fault.kind == "rate-limit" and source == "cryptowatch":
            body = {"error": "Out of allowance", "allowance": {"cost": 0, "remaining": 0}}
            self.send_json(429, body, retry, source=source)
        else:
            status = 418 if fault.kind == "ban" else 429
            self.send_json(status, {"error": ["EGeneral:Too many requests"]}, retry, source=source)

    def answer_cryptowatch(self, pair: str, asked: str, *, known: bool, price: str | None) -> None:
        """``price`` None leaves the price field out (a fault); ``known`` False is the unknown-pair answer."""
        state = self.state
        allowance = state.charge()
        if allowance is None:
            body = {"error": "Out of allowance", "allowance": {"cost": 0, "remaining": 0}}
            self.send_json(429, body, source="cryptowatch", pair=pair)
            return
        if not known:
            body = sample("cryptowatch_error_notfound.json")
            body["allowance"] = allowance
            self.send_json(404, body, source="cryptowatch", pair=pair)
            return
        body = sample("cryptowatch_price.json")
        if price is None:
            del body["result"]["price"]
        else:
            body["result"]["price"] = float(price)
        body["allowance"] = allowance
        self.send_json(200, body, source="cryptowatch", pair=pair)

    def answer_kraken(self, pair: str, asked: str, *, known: bool, price: str | None) -> None:
        names = kraken_names(pair)
        if not known or names is None:
            self.send_json(200, sample("kraken_error_unknown_pair.json"), source="kraken", pair=pair)
            return
        body = sample("kraken_ticker.json")
        ticker = body["result"].pop("XXBTZUSD")
        if price is None:
            del ticker["c"]
        else:
            ticker["c"][0] = price
        body["result"][names[1]] = ticker
        self.send_json(200, body, source="kraken", pair=pair)

    def answer_coinbase(self, pair: str, asked: str, *, known: bool, price: str | None) -> None:
        if not known:
            self.send_json(404, sample("coinbase_exchange_error_notfound.json"), source="coinbase", pair=pair)
            return
        body = sample("coinbase_exchange_ticker.json")
        body["time"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        if price is None:
            del body["price"]
        else:
            body["price"] = price
        self.send_json(200, body, source="coinbase", pair=pair)

    def answer_binance(self, pair: str, asked: str, *, known: bool, price: str | None) -> None:
        headers = self.binance_headers()
        if not known:
            self.send_json(
                400, sample("binance_error_invalid_symbol.json"), headers, source="binance", pair=pair
            )
            return
        body = sample("binance_ticker_price.json")
        body["symbol"] = asked
        if price is None:
            del body["price"]
        else:
            body["price"] = price
        self.send_json(200, body, headers, source="binance", pair=pair)

    def answer_bitstamp(self, pair: str, asked: str, *, known: bool, price: str | None) -> None:
        if not known:
            self.send_body(404, HTML_NOT_FOUND, "text/html")
            return
        body = sample("bitstamp_ticker.json")
        body["timestamp"] = str(int(time.time()))
        if price is None:
            del body["last"]
        else:
            body["last"] = price
        self.send_json(200, body, source="bitstamp", pair=pair)

    def send_candles(  # noqa: PLR0917 (status, body and headers as in send_json)
        self,
        source: str,
        pair: str,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        candles: list[ServedCandle] | None = None,
    ) -> None:
        """Answer with ``body`` and remember which candles it served."""
        with self.state.lock:
            self.state.candles_served.extend((source, pair, candle) for candle in candles or [])
        self.send_json(status, body, headers, source=source, pair=pair)

    def answer_kraken_ohlc(self, pair: str, asked: str, query: dict[str, str]) -> None:
        names = kraken_names(pair)
        if pair not in self.state.prices or names is None:
            self.send_json(
                200, sample("ohlc/kraken_error_ohlc_unknown_pair.json"), source="kraken", pair=pair
            )
            return
        if query.get("interval", "1") != "1":
            self.send_json(200, {"error": ["EGeneral:Invalid arguments"]}, source="kraken", pair=pair)
            return
        current = now_minute()
        oldest = current - (KRAKEN_OHLC_REACH - 1) * 60
        since = int(query.get("since", "0") or 0)
        first = max(oldest, since - since % 60 + 60)
        candles = [candle_at("kraken", pair, minute) for minute in minutes_between(first, current)]
        rows = [
            [
                c.minute,
                *(padded(v, 5) for v in (c.open, c.high, c.low, c.close)),
                padded(c.close if c.traded else Decimal(0), 5),
                f"{c.volume:.8f}",
                int(c.volume * 3),
            ]
            for c in candles
        ]
        body = {"error": [], "result": {names[1]: rows, "last": current - 60}}
        self.send_candles("kraken", pair, 200, body, candles=candles)

    def answer_coinbase_candles(self, pair: str, asked: str, query: dict[str, str]) -> None:
        if pair not in self.state.prices:
            self.send_json(404, sample("coinbase_exchange_error_notfound.json"), source="coinbase", pair=pair)
            return
        if query.get("granularity") not in {"60", "300", "900", "3600", "21600", "86400"}:
            self.send_json(400, {"message": "Unsupported granularity"}, source="coinbase", pair=pair)
            return
        current = now_minute()
        if "start" in query and "end" in query:
            first = int(datetime.fromisoformat(query["start"]).timestamp())
            last = min(current, int(datetime.fromisoformat(query["end"]).timestamp()))
            if len(minutes_between(first, int(datetime.fromisoformat(query["end"]).timestamp()))) > 300:
                body = sample("ohlc/coinbase_exchange_error_granularity_range.json")
                self.send_json(400, body, source="coinbase", pair=pair)
                return
        else:
            first, last = current - 299 * 60, current
        candles = [
            candle
            for minute in minutes_between(first, last)
            if (candle := candle_at("coinbase", pair, minute)).traded
        ][::-1]
        rows = [
            [c.minute, float(c.low), float(c.high), float(c.open), float(c.close), float(c.volume)]
            for c in candles
        ]
        self.send_candles("coinbase", pair, 200, rows, candles=candles)

    def answer_binance_klines(self, pair: str, asked: str, query: dict[str, str]) -> None:
        headers = {BINANCE_WEIGHT_HEADER: str(self.state.use_binance_weight())}
        if pair not in self.state.prices:
            self.send_json(
                400, sample("binance_error_invalid_symbol.json"), headers, source="binance", pair=pair
            )
            return
        if query.get("interval") != "1m":
            self.send_json(
                400, sample("ohlc/binance_error_invalid_interval.json"), headers, source="binance", pair=pair
            )
            return
        limit = min(int(query.get("limit", "500")), MAX_CANDLES["binance"])
        current = now_minute()
        start_ms = int(query.get("startTime", (current - (limit - 1) * 60) * 1000))
        end_ms = int(query.get("endTime", current * 1000 + 59_999))
        first = -(-start_ms // 60_000) * 60
        last = min(current, end_ms // 60_000 * 60)
        candles = [candle_at("binance", pair, minute) for minute in minutes_between(first, last)][:limit]
        rows = [
            [
                c.minute * 1000,
                *(padded(v, 8) for v in (c.open, c.high, c.low, c.close)),
                f"{c.volume:.8f}",
                c.minute * 1000 + 59_999,
                padded(c.volume * c.close, 8),
                int(c.volume * 3),
                f"{c.volume / 2:.8f}",
                padded(c.volume * c.close / 2, 8),
                "0",
            ]
            for c in candles
        ]
        self.send_candles("binance", pair, 200, rows, headers, candles=candles)

    def answer_bitstamp_ohlc(self, pair: str, asked: str, query: dict[str, str]) -> None:
        if pair not in self.state.prices:
            self.send_body(404, HTML_NOT_FOUND, "text/html")
            return
        limit = int(query.get("limit", "0") or 0)
        if not 1 <= limit <= MAX_CANDLES["bitstamp"] or query.get("step") != "60":
            field_name = "limit" if query.get("step") == "60" else "step"
            error: dict[str, Any] = {
                "code": "validation-error",
                "errors": [
                    {
                        "field": field_name,
                        "message": "Must be between 1 and 1000.",
                        "code": "validation-error",
                    }
                ],
            }
            self.send_json(400, error, source="bitstamp", pair=pair)
            return
        current = now_minute()
        last = current - 60 if query.get("exclude_current_candle") == "true" else current
        first = int(query.get("start", str(last - (limit - 1) * 60)))
        candles = [candle_at("bitstamp", pair, minute) for minute in minutes_between(first, last)][:limit]
        rows = [
            {
                "timestamp": str(c.minute),
                "open": str(c.open),
                "high": str(c.high),
                "low": str(c.low),
                "close": str(c.close),
                "volume": f"{c.volume:.8f}",
            }
            for c in candles
        ]
        body = {"data": {"pair": f"{pair[:-3].upper()}/{pair[-3:].upper()}", "ohlc": rows}}
        self.send_candles("bitstamp", pair, 200, body, candles=candles)

    def answer_cryptowatch_ohlc(self, pair: str, asked: str, query: dict[str, str]) -> None:
        allowance = self.state.charge()
        if allowance is None:
            body = {"error": "Out of allowance", "allowance": {"cost": 0, "remaining": 0}}
            self.send_json(429, body, source="cryptowatch", pair=pair)
            return
        if pair not in self.state.prices:
            body = sample("ohlc/cryptowatch_error_ohlc_notfound.json")
            body["allowance"] = allowance
            self.send_json(404, body, source="cryptowatch", pair=pair)
            return
        current = now_minute()
        # Close times: the open minute closes at current + 60 and is served, as Cryptowatch did.
        before = min(int(query.get("before", str(current + 60))), current + 60)
        after = int(query.get("after", str(before - 999 * 60)))
        candles = [
            candle
            for minute in minutes_between(after - 60, before - 60)
            if (candle := candle_at("cryptowatch", pair, minute)).traded
        ][-MAX_CANDLES["cryptowatch"] :]
        rows = [
            [
                c.minute + 60,
                float(c.open),
                float(c.high),
                float(c.low),
                float(c.close),
                float(c.volume),
                float(c.volume * c.close),
            ]
            for c in candles
        ]
        self.send_candles(
            "cryptowatch", pair, 200, {"result": {"60": rows}, "allowance": allowance}, candles=candles
        )


class PriceApiServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """socketserver's default listen backlog (5) makes the 6th of 20 simultaneous connections wait
    for a SYN retransmit (1 s); real APIs accept a producer's whole fan-out at once."""

    def __init__(self, address: tuple[str, int], state: ApiState) -> None:
        super().__init__(address, PriceApiHandler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hung up (a producer that timed out on a slow answer); loud otherwise."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


@contextmanager
def serve(state: ApiState | None = None, port: int = 0) -> Iterator[PriceApiServer]:
    """Run the API on 127.0.0.1 (a free port by default) in a thread for the ``with`` block."""
    server = PriceApiServer(("127.0.0.1", port), state or ApiState())
    thread = threading.Thread(target=server.serve_forever, name="price-api", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def parse_fault(text: str) -> tuple[str, Fault]:
    """``source[:pair]=kind`` from the command line."""
    key, _, kind = text.partition("=")
    if not re.fullmatch(r"[a-z]+(:[a-z0-9]+)?", key) or not kind:
        raise argparse.ArgumentTypeError(f"--fault {text!r} is not source[:pair]=kind")
    try:
        return key, Fault(kind)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument(
        "--fault",
        type=parse_fault,
        action="append",
        default=[],
        help=f"source[:pair]=kind, kind one of: {', '.join(FAULT_KINDS)}",
    )
    args = parser.parse_args()
    server = PriceApiServer(("127.0.0.1", args.port), ApiState(latency=args.latency, faults=dict(args.fault)))
    print(f"price API at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
