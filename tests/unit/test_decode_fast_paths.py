"""The shortcuts that make :func:`decode` fast must not change what it accepts or returns."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devtools.faults import SAMPLE_BODY
from franz_ivan.event_fields import EventError
from franz_ivan.events import AllowanceEvent, Market, PriceEvent, decode, market_of

BODY = SAMPLE_BODY


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


ALLOWANCE = {
    **{key: value for key, value in BODY.items() if key != "price"},
    "type": "allowance",
    "remaining": "9.895",
}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"price": 24063.4}, "24063.4"),
        ({"price": 7}, "7"),
        ({"price": " 7.5 "}, "7.5"),
        ({"extra": {"nested": [1, 2]}}, "24063.4"),
        ({"schema_version": 1.0}, "24063.4"),
        ({"price": "1e-100"}, "1E-100"),
    ],
)
def test_messages_off_the_documented_shape_decode_as_before(changes: dict[str, Any], expected: str) -> None:
    event = decode(raw(**changes))

    assert isinstance(event, PriceEvent)
    assert str(event.price) == expected


def test_duplicate_keys_keep_the_last_value_on_both_paths() -> None:
    text = json.dumps(BODY)[:-1]
    as_string, as_number = (
        decode(f'{text}, "price": "2.5"}}'.encode()),
        decode(f'{text}, "price": 3}}'.encode()),
    )

    assert isinstance(as_string, PriceEvent)
    assert isinstance(as_number, PriceEvent)
    assert (str(as_string.price), str(as_number.price)) == ("2.5", "3")


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        (json.dumps({**BODY, "price": None}).encode(), "price None is not a number"),
        (json.dumps({k: v for k, v in BODY.items() if k != "pair"}).encode(), "missing field 'pair'"),
        (json.dumps({k: v for k, v in BODY.items() if k != "type"}).encode(), "missing field 'type'"),
        (json.dumps({**ALLOWANCE, "remaining": None}).encode(), "remaining None is not a number"),
        (raw(price="1e-101"), "more than 100 decimal places"),
        (raw(price="0." + "0" * 100 + "1"), "more than 100 decimal places"),
        (raw()[:-1] + b', "extra": "\xff"}', "not UTF-8 JSON"),
        (raw()[:-1] + b', "extra": ' + b"[" * 1900 + b"]" * 1900 + b"}", "nested too deeply"),
        (raw(event_id="not-a-uuid", pair="BAD"), "event_id 'not-a-uuid' is not a UUID"),
    ],
)
def test_the_fast_path_rejects_what_the_general_path_rejects(message: bytes, problem: str) -> None:
    with pytest.raises(EventError, match=re.escape(problem)):
        decode(message)


def test_allowance_events_with_absent_or_null_figures_decode_alike() -> None:
    absent = decode(json.dumps(ALLOWANCE).encode())
    null = decode(json.dumps({**ALLOWANCE, "cost": None, "remaining_paid": None}).encode())

    assert absent == null
    assert isinstance(absent, AllowanceEvent)
    assert (absent.cost, absent.remaining_paid) == (None, None)
