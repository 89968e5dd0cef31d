"""A pair names a PostgreSQL table, so a hostile one must be refused before any SQL is built.

Every entrance is covered: the markets Variable (``parse_market``) and an event read from the topic
(``decode``) here; the store itself, which validates again right before quoting the identifier, in
``tests/integration/test_hostile_pairs_store.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from franz_ivan.event_fields import EventError, validate_pair
from franz_ivan.events import decode
from franz_ivan.markets import MarketsError, parse_market

HOSTILE_PAIRS = [
    "btcusd;drop table x",
    "btcusd; DROP TABLE crypto_prices_consumer_offsets; --",
    "btc'usd",
    'btc"usd',
    'btcusd"; drop table x; --',
    "btcusd--",
    "btc usd",
    "btcusd\n",
    "btc\x00usd",
    "ｂｔｃｕｓｄ",  # full-width letters # noqa: RUF001
    "btcüsd",
    "btc\u200busd",  # zero-width space
    "b" * 33,
    "x" * 100_000,
    "",
    "b",
    "BTCUSD",
    "pg_catalog.pg_class",
]


@pytest.mark.parametrize("pair", HOSTILE_PAIRS, ids=range(len(HOSTILE_PAIRS)))
def test_validate_pair_refuses_it_with_a_bounded_message(pair: str) -> None:
    with pytest.raises(EventError) as raised:
        validate_pair(pair)

    message = str(raised.value)
    assert message.startswith("pair ")
    assert "is not valid: a pair is 2 to 32 lowercase ASCII letters or digits" in message
    assert len(message) < 300


@pytest.mark.parametrize("value", [None, 42, b"btcusd", ["btcusd"]])
def test_validate_pair_refuses_what_is_not_a_string(value: Any) -> None:
    with pytest.raises(EventError, match="is not valid"):
        validate_pair(value)


NORMALIZED = {"BTCUSD": "btcusd", "btcusd\n": "btcusd", "btc usd": "btcusd"}
"""Entries the markets Variable reads as a plain pair: case, surrounding space and separators go."""


@pytest.mark.parametrize(
    "pair", [pair for pair in HOSTILE_PAIRS if pair not in NORMALIZED], ids=range(len(HOSTILE_PAIRS) - 3)
)
def test_a_markets_entry_with_it_is_refused_naming_the_entry(pair: str) -> None:
    with pytest.raises(MarketsError) as raised:
        parse_market(f"coinbase-pro:{pair}")

    assert str(raised.value).startswith(("market entry 'coinbase-pro:", 'market entry "coinbase-pro:'))
    assert len(str(raised.value)) < 500


@pytest.mark.parametrize(("entry", "pair"), NORMALIZED.items())
def test_a_markets_entry_that_normalizes_to_a_plain_pair_is_read_as_that_pair(entry: str, pair: str) -> None:
    assert parse_market(f"coinbase-pro:{entry}").pair == pair


@pytest.mark.parametrize("pair", HOSTILE_PAIRS[:6], ids=range(6))
def test_an_event_carrying_it_is_refused_before_storage(pair: str) -> None:
    raw = json.dumps(
        {
            "schema_version": 1,
            "type": "price",
            "event_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
            "source": "cryptowatch",
            "exchange": "coinbase-pro",
            "pair": pair,
            "observed_at": "2026-11-27T18:00:00.123456Z",
            "price": "24063.4",
        }
    ).encode()

    with pytest.raises(EventError, match="is not valid"):
        decode(raw)
