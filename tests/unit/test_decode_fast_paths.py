"""The shortcuts that make :func:`decode` fast must not change what it accepts or returns."""

from __future__ import annotations

import json
import re

import pytest

from franz_ivan.events import EventError, Market, PriceEvent, decode, market_of

BODY = {
    "schema_version": 1,
    "type": "price",
    "event_id": "0b0e8f0e-3c1a-5d4e-9f6a-1b2c3d4e5f60",
    "source": "cryptowatch",
    "exchange": "coinbase-pro",
    "pair": "btcusd",
    "observed_at": "2026-11-27T18:00:00.123456Z",
    "price": "24063.4",
}


def raw(**changes: object) -> bytes:
    return json.dumps({**BODY, **changes}).encode()


@pytest.mark.parametrize(
    "spelling",
    [
        "0B0E8F0E-3C1A-5D4E-9F6A-1B2C3D4E5F60",
        "{0b0e8f0e-3c1a-5d4e-9f6a-1b2c3d4e5f60}",
        "urn:uuid:0b0e8f0e-3c1a-5d4e-9f6a-1b2c3d4e5f60",
        "0b0e8f0e3c1a5d4e9f6a1b2c3d4e5f60",
    ],
)
def test_other_spellings_of_an_event_id_are_stored_in_the_canonical_form(spelling: str) -> None:
    event = decode(raw(event_id=spelling))

    assert event.event_id == BODY["event_id"]


def test_the_same_market_is_validated_once_and_shared() -> None:
    first, second = decode(raw()), decode(raw(price="1.5"))

    assert isinstance(first, PriceEvent)
    assert first.market is second.market
    assert first.market == Market("cryptowatch", "coinbase-pro", "btcusd")


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (("cryptowatch", "coinbase-pro", "BTCUSD"), "pair 'BTCUSD' is not valid"),
        (("cryptowatch", "coinbase pro", "btcusd"), "exchange 'coinbase pro' is not valid"),
        (("cryptowatch", "coinbase-pro", ["btcusd"]), "pair ['btcusd'] is not valid"),
        ((None, "coinbase-pro", "btcusd"), "source None is not valid"),
    ],
)
def test_an_invalid_market_is_rejected_every_time(fields: tuple[object, ...], problem: str) -> None:
    for _ in range(2):
        with pytest.raises(EventError, match=re.escape(problem)):
            market_of(*fields)


def test_a_message_that_is_not_utf8_is_rejected_as_such() -> None:
    with pytest.raises(EventError, match="not UTF-8 JSON"):
        decode(b"\xff\xfe" + raw())
