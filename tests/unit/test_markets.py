"""The markets Variable: entry syntax, pair names, and the per-source groups the DAG maps over."""

from __future__ import annotations

import json

import pytest

from franz_ivan.events import Market
from franz_ivan.markets import MarketsError, group_by_source, parse_market, parse_markets
from franz_ivan.pairs import normalize_pair, split_pair
from franz_ivan.settings import DEFAULT_MARKETS
from franz_ivan.sources import SOURCES
from franz_ivan.sources.coinbase import coinbase_product
from franz_ivan.sources.kraken import kraken_pair

PAIR_NAMES = [
    # (as written, the one name)
    ("btcusd", "btcusd"),
    ("BTCUSD", "btcusd"),
    ("xbtusd", "btcusd"),
    ("XBTUSD", "btcusd"),
    ("XBT/USD", "btcusd"),
    ("BTC-USD", "btcusd"),
    ("btc_usd", "btcusd"),
    (" btcusd ", "btcusd"),
    ("xbteur", "btceur"),
    ("ethxbt", "ethbtc"),
    ("ETH/XBT", "ethbtc"),
    ("xdgusd", "dogeusd"),
    ("XDG/USD", "dogeusd"),
    ("btcusdt", "btcusdt"),
    ("BTC-USDT", "btcusdt"),
    ("btcusdc", "btcusdc"),
    ("usdtusd", "usdtusd"),
    ("solusd", "solusd"),
    ("ethbtc", "ethbtc"),
    ("aaabbb", "aaabbb"),
]


@pytest.mark.parametrize(("written", "name"), PAIR_NAMES)
def test_pair_names_are_normalized(written: str, name: str) -> None:
    assert normalize_pair(written) == name
    assert normalize_pair(name) == name


@pytest.mark.parametrize(
    ("pair", "split"),
    [
        ("btcusd", ("btc", "usd")),
        ("btcusdt", ("btc", "usdt")),
        ("usdtusd", ("usdt", "usd")),
        ("ethbtc", ("eth", "btc")),
        ("dogeusd", ("doge", "usd")),
        ("BTC-USD", ("btc", "usd")),
        ("aaabbb", None),
        ("usd", None),
    ],
)
def test_pairs_split_into_base_and_quote(pair: str, split: tuple[str, str] | None) -> None:
    assert split_pair(pair) == split


@pytest.mark.parametrize(
    ("pair", "kraken", "coinbase", "binance"),
    [
        ("btcusd", "XBTUSD", "BTC-USD", "BTCUSD"),
        ("ethbtc", "ETHXBT", "ETH-BTC", "ETHBTC"),
        ("dogeusd", "XDGUSD", "DOGE-USD", "DOGEUSD"),
        ("btcusdt", "XBTUSDT", "BTC-USDT", "BTCUSDT"),
    ],
)
def test_each_source_is_asked_in_its_own_spelling(
    pair: str, kraken: str, coinbase: str, binance: str
) -> None:
    assert kraken_pair(pair) == kraken
    assert coinbase_product(Market("coinbase", "coinbase", pair)) == coinbase
    assert parse_market(f"binance:{pair}").pair.upper() == binance


MARKET_ENTRIES = [
    ("kraken:btcusd", Market("kraken", "kraken", "btcusd")),
    ("kraken:XBTUSD", Market("kraken", "kraken", "btcusd")),
    ("Kraken:XBT/USD", Market("kraken", "kraken", "btcusd")),
    ("kraken:kraken:btcusd", Market("kraken", "kraken", "btcusd")),
    ("coinbase:btc-usd", Market("coinbase", "coinbase", "btcusd")),
    ("binance:btcusdt", Market("binance", "binance", "btcusdt")),
    ("bitstamp:ethusd", Market("bitstamp", "bitstamp", "ethusd")),
    # Any other two-part entry keeps meaning Cryptowatch's exchange:pair.
    ("coinbase-pro:btcusd", Market("cryptowatch", "coinbase-pro", "btcusd")),
    ("bitfinex:ethusd", Market("cryptowatch", "bitfinex", "ethusd")),
    # Three parts starting with cryptowatch are always Cryptowatch, even naming another source.
    ("cryptowatch:kraken:btcusd", Market("cryptowatch", "kraken", "btcusd")),
    ("cryptowatch:coinbase-pro:xbtusd", Market("cryptowatch", "coinbase-pro", "btcusd")),
]


@pytest.mark.parametrize(("entry", "market"), MARKET_ENTRIES)
def test_entries_name_source_exchange_and_pair(entry: str, market: Market) -> None:
    assert parse_market(entry) == market


@pytest.mark.parametrize("market", sorted({market for _, market in MARKET_ENTRIES}, key=str))
def test_keys_parse_back_to_the_same_market(market: Market) -> None:
    assert parse_market(market.key) == market


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("btcusd", "is not 'source:pair'"),
        ("a:b:c:d", "is not 'source:pair'"),
        ("nosuchsource:kraken:btcusd", "is not 'source:pair'"),
        ("kraken:coinbase:btcusd", "kraken quotes exchange 'kraken' only"),
        ("cryptowatch:btcusd", "cryptowatch markets name the exchange too"),
        ("kraken:btc$usd", "pair 'btc$usd' is not valid"),
        ("coinbase-pro:", "pair '' is not valid"),
        (42, "is not a string"),
    ],
)
def test_bad_entries_say_what_is_wrong(entry: object, problem: str) -> None:
    with pytest.raises(MarketsError, match="market entry") as raised:
        parse_market(entry)
    assert problem in str(raised.value)


def test_the_variable_gives_distinct_markets_in_order() -> None:
    raw = json.dumps(["kraken:btcusd", "coinbase-pro:btcusd", "kraken:xbtusd", "binance:btcusdt"])
    assert [market.key for market in parse_markets(raw)] == [
        "kraken:kraken:btcusd",
        "cryptowatch:coinbase-pro:btcusd",
        "binance:binance:btcusdt",
    ]


@pytest.mark.parametrize(
    ("raw", "problem"), [("[", "is not JSON"), ("[]", "non-empty"), ('{"a": 1}', "non-empty")]
)
def test_a_bad_variable_is_refused(raw: str, problem: str) -> None:
    with pytest.raises(MarketsError, match=problem):
        parse_markets(raw)


def test_groups_hold_one_source_each_in_order_of_first_appearance() -> None:
    markets = parse_markets(
        json.dumps(
            ["kraken:btcusd", "coinbase-pro:btcusd", "kraken:ethusd", "binance:btcusdt", "bitfinex:ethusd"]
        )
    )
    assert group_by_source(markets) == [
        {"source": "kraken", "markets": ["kraken:kraken:btcusd", "kraken:kraken:ethusd"]},
        {
            "source": "cryptowatch",
            "markets": ["cryptowatch:coinbase-pro:btcusd", "cryptowatch:bitfinex:ethusd"],
        },
        {"source": "binance", "markets": ["binance:binance:btcusdt"]},
    ]


def test_a_new_deployment_watches_kraken_btcusd() -> None:
    assert parse_markets(json.dumps(DEFAULT_MARKETS)) == [Market("kraken", "kraken", "btcusd")]


def test_every_source_is_registered_with_its_exchange() -> None:
    assert {name: source.exchange for name, source in SOURCES.items()} == {
        "cryptowatch": None,
        "kraken": "kraken",
        "coinbase": "coinbase",
        "binance": "binance",
        "bitstamp": "bitstamp",
    }
