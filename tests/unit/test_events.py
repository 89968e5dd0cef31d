"""The wire format: encode/decode round trip, and every way a message can be invalid."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from franz_ivan.event_fields import EventError, event_id_for, parse_decimal, validate_pair
from franz_ivan.events import MAX_EVENT_BYTES, AllowanceEvent, Market, PriceEvent, decode, encode

MARKET = Market("cryptowatch", "coinbase-pro", "btcusd")
OBSERVED = datetime(2026, 11, 27, 18, 0, 0, 123456, tzinfo=UTC)


def price_body(**changes: object) -> bytes:
    body = json.loads(encode(PriceEvent(event_id_for("run", "m", "price"), MARKET, OBSERVED, Decimal("1.5"))))
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_price_event_round_trip_keeps_the_exact_decimal() -> None:
    event = PriceEvent(event_id_for("r", MARKET.key, "price"), MARKET, OBSERVED, Decimal("24063.40000001"))
    assert decode(encode(event)) == event
    assert json.loads(encode(event))["price"] == "24063.40000001"


def test_allowance_event_round_trip_with_and_without_optional_fields() -> None:
    keyed = AllowanceEvent(
        "0b7e6b4e-93f5-4a11-9b1d-3c5c2a1d9e00",
        MARKET,
        OBSERVED,
        Decimal("9.895"),
        cost=Decimal("0.005"),
        remaining_paid=Decimal("0"),
    )
    anonymous = AllowanceEvent("0b7e6b4e-93f5-4a11-9b1d-3c5c2a1d9e01", MARKET, OBSERVED, Decimal("10"))
    assert decode(encode(keyed)) == keyed
    assert decode(encode(anonymous)) == anonymous


def test_wire_format_is_the_documented_one() -> None:
    body = json.loads(
        encode(PriceEvent("0b7e6b4e-93f5-4a11-9b1d-3c5c2a1d9e00", MARKET, OBSERVED, Decimal("2")))
    )
    assert body == {
        "schema_version": 1,
        "type": "price",
        "event_id": "0b7e6b4e-93f5-4a11-9b1d-3c5c2a1d9e00",
        "source": "cryptowatch",
        "exchange": "coinbase-pro",
        "pair": "btcusd",
        "observed_at": "2026-11-27T18:00:00.123456Z",
        "price": "2",
    }


def test_observation_times_in_other_zones_are_sent_in_utc() -> None:
    local = OBSERVED.astimezone(timezone(timedelta(hours=5, minutes=30)))
    event = PriceEvent(event_id_for("r", "m", "price"), MARKET, local, Decimal("1"))
    assert json.loads(encode(event))["observed_at"] == "2026-11-27T18:00:00.123456Z"
    assert decode(encode(event)).observed_at == OBSERVED


def test_event_ids_are_stable_per_observation_and_distinct_across() -> None:
    assert event_id_for("dag/run1", MARKET.key, "price") == event_id_for("dag/run1", MARKET.key, "price")
    ids = {
        event_id_for(run, MARKET.key, kind)
        for run in ("dag/run1", "dag/run2")
        for kind in ("price", "allowance")
    }
    assert len(ids) == 4


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "tombstone"),
        (b"not json", "not UTF-8 JSON"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[1, 2]", "JSON list, not an object"),
        (b"x" * (MAX_EVENT_BYTES + 1), "over the 4096-byte limit"),
        (price_body(schema_version=2), "unknown schema_version 2"),
        (price_body(schema_version=...), "missing field 'schema_version'"),
        (price_body(event_id="42"), "event_id '42' is not a UUID"),
        (price_body(type="trade"), "unknown event type 'trade'"),
        (price_body(price=...), "missing field 'price'"),
        (price_body(price="NaN"), "not finite"),
        (price_body(price="Infinity"), "not finite"),
        (price_body(price="0"), "not positive"),
        (price_body(price="-3.2"), "not positive"),
        (price_body(price="1e13"), "implausibly large"),
        (price_body(price="twelve"), "not a decimal number"),
        (price_body(price=True), "is not a number"),
        (price_body(pair="btcusd;drop table x"), "pair 'btcusd;drop table x' is not valid"),
        (price_body(pair="BTCUSD"), "is not valid"),
        (price_body(exchange="Coinbase Pro"), "exchange 'Coinbase Pro' is not valid"),
        (price_body(observed_at="yesterday"), "not an ISO 8601 time"),
        (price_body(observed_at="2026-11-27T18:00:00"), "has no time zone"),
    ],
)
def test_invalid_messages_are_rejected_with_the_reason(raw: bytes | None, problem: str) -> None:
    with pytest.raises(EventError, match=problem.replace("(", r"\(")):
        decode(raw)


@pytest.mark.parametrize(
    "pair",
    [
        "btcusd;drop table x",
        'btc"usd',
        "btc'usd",
        "bitcoin€",
        "\uff42\uff54\uff43\uff55\uff53\uff44",
        "b" * 33,
        "b",
        "",
        "btc_usd",
        "btc-usd",
    ],
)
def test_hostile_pair_names_never_pass(pair: str) -> None:
    with pytest.raises(EventError, match="is not valid"):
        validate_pair(pair)


@pytest.mark.parametrize("pair", ["btcusd", "xbteur", "1inchusd", "b" * 32])
def test_plain_pair_names_pass(pair: str) -> None:
    assert validate_pair(pair) == pair


@pytest.mark.parametrize(
    ("value", "expected"),
    [(24063.4, "24063.4"), (9.895, "9.895"), (10, "10"), ("0.00067643", "0.00067643"), (" 7.5 ", "7.5")],
)
def test_decimals_from_json_numbers_keep_their_written_digits(value: object, expected: str) -> None:
    assert str(parse_decimal(value, "price", positive=True)) == expected
