"""The drain's hot path (:func:`encoded_price_row`) takes only what :func:`decode` accepts, and
gives the values :func:`decode` would store; everything else it leaves to :func:`decode`."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from franz_ivan.encoded_price import encoded_price_row
from franz_ivan.event_fields import EventError, event_id_for
from franz_ivan.events import AllowanceEvent, Market, PriceEvent, decode, encode

MARKET = Market("cryptowatch", "coinbase-pro", "btcusd")
MOMENT = datetime(2026, 11, 27, 18, 0, 0, 123456, tzinfo=UTC)


def encoded(price: str = "24063.4", market: Market = MARKET, moment: datetime = MOMENT) -> bytes:
    return encode(PriceEvent(event_id_for("row", price, str(moment)), market, moment, Decimal(price)))


def assert_same_as_decode(raw: bytes) -> None:
    row = encoded_price_row(raw, 2, 41)
    event = decode(raw)
    assert row is not None
    assert isinstance(event, PriceEvent)
    pair, line = row
    assert line.endswith("\t2\t41\n")
    price, source, exchange, observed_at, event_id, _, _ = line.removesuffix("\n").split("\t")
    assert pair == event.market.pair
    assert (source, exchange) == (event.market.source, event.market.exchange)
    assert Decimal(price) == event.price
    assert datetime.fromisoformat(observed_at) == event.observed_at
    assert event_id == event.event_id


@pytest.mark.parametrize(
    "price", ["24063.4", "0.000001", "0.1234567", "999999999999.99", "1", "1.10", "0.5", "1" + "0" * 11]
)
def test_encoded_prices_give_the_values_decode_gives(price: str) -> None:
    assert_same_as_decode(encoded(price))


def test_random_encoded_events_give_the_values_decode_gives() -> None:
    rng = random.Random(17)
    for number in range(500):
        price = Decimal(rng.randrange(1, 10**15)).scaleb(-rng.randrange(0, 12))
        market = Market("kraken", rng.choice(["kraken", "coinbase-pro", "bit.stamp_2"]), f"p{number % 30}usd")
        moment = MOMENT + timedelta(microseconds=rng.randrange(10**12))
        raw = encoded(str(price), market, moment)
        if price > Decimal("1e12") - 1 or "E" in str(price):
            continue  # the encoder's exponent form and the top range go through decode
        assert_same_as_decode(raw)


def test_a_leap_day_is_taken_each_time_and_the_day_after_a_common_february_never() -> None:
    leap_day = datetime(2028, 2, 29, 23, 59, 59, 999999, tzinfo=UTC)
    for _ in range(2):  # the second time, the day is known
        assert_same_as_decode(encoded(moment=leap_day))
    for _ in range(2):
        assert encoded_price_row(compact(body(observed_at="2027-02-29T00:00:00.000000Z")), 0, 0) is None


def body(**changes: object) -> dict[str, object]:
    return {**json.loads(encoded()), **changes}


def compact(value: dict[str, object]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


DECLINED = {
    "spaces after separators": json.dumps(body()).encode(),
    "keys in another order": compact(dict(reversed(list(body().items())))),
    "an unknown field": compact(body(candle="x")),
    "price zero": compact(body(price="0.000")),
    "price with an exponent": compact(body(price="1e3")),
    "price with a sign": compact(body(price="+5")),
    "price with an underscore": compact(body(price="1_000")),
    "price at the ceiling": compact(body(price="1000000000000")),
    "price over the ceiling": compact(body(price="1000000000000.5")),
    "price in other digits": compact(body(price="١٢")),
    "price as a number": compact(body(price=5)),
    "price too precise": compact(body(price="0." + "1" * 120)),
    "price too precise, leading zeros": compact(body(price="0." + "0" * 80 + "1")),
    "price with 81 places": compact(body(price="1." + "1" * 81)),
    "no such day": compact(body(observed_at="2026-02-30T18:00:00.000000Z")),
    "no such day in a common year": compact(body(observed_at="2026-02-29T18:00:00.000000Z")),
    "year zero": compact(body(observed_at="0000-01-01T18:00:00.000000Z")),
    "no such hour": compact(body(observed_at="2026-02-03T24:00:00.000000Z")),
    "no such minute": compact(body(observed_at="2026-02-03T23:60:00.000000Z")),
    "a leap second": compact(body(observed_at="2026-02-03T23:59:60.000000Z")),
    "another time spelling": compact(body(observed_at="2026-11-27T18:00:00+00:00")),
    "an upper-case id": compact(body(event_id=str(body()["event_id"]).upper())),
    "a bad pair": compact(body(pair="BTC-USD")),
    "an escaped pair": compact(body(pair="btc\\u0075sd")),
    "a tab in the exchange": compact(body(exchange="coin\tbase")),
    "schema version 2": compact(body(schema_version=2)),
    "an allowance": encode(AllowanceEvent(event_id_for("a"), MARKET, MOMENT, Decimal(9))),
    "not UTF-8": encoded().replace(b"btcusd", b"btc\xffsd"),
    "a tombstone": None,
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_anything_not_exactly_encoded_goes_through_decode(name: str) -> None:
    raw = DECLINED[name]
    assert encoded_price_row(raw, 0, 0) is None
    try:
        event = decode(raw)
    except EventError:
        return
    # decode accepts some of them (other spellings): the drain stores those from decode's event.
    assert name in {
        "spaces after separators",
        "keys in another order",
        "an unknown field",
        "price with an exponent",
        "price with a sign",
        "price with an underscore",
        "price at the ceiling",
        "price too precise, leading zeros",
        "price with 81 places",
        "price in other digits",
        "price as a number",
        "another time spelling",
        "an upper-case id",
        "an escaped pair",
        "an allowance",
    }, f"{name}: decode accepted {event!r}"
