"""Candle price events on the wire: the four extra fields, and what schema-1 readers make of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from franz_ivan.event_fields import EventError
from franz_ivan.events import Candle, Market, PriceEvent, decode, encode
from franz_ivan.producer import candle_event_id, past_window

MARKET = Market("kraken", "kraken", "btcusd")
MINUTE = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
CANDLE = PriceEvent(
    candle_event_id(MARKET, MINUTE),
    MARKET,
    MINUTE,
    Decimal("24063.4"),
    Candle(Decimal("24050.1"), Decimal("24070"), Decimal("24049.9"), Decimal("0")),
)


def test_a_candle_round_trips_through_the_wire_format() -> None:
    raw = encode(CANDLE)
    body = json.loads(raw)
    assert (body["type"], body["price"], body["open"], body["high"], body["low"], body["volume"]) == (
        "price",
        "24063.4",
        "24050.1",
        "24070",
        "24049.9",
        "0",
    )
    assert decode(raw) == CANDLE


def test_a_tick_carries_no_candle_fields_and_decodes_without_one() -> None:
    tick = PriceEvent(candle_event_id(MARKET, MINUTE), MARKET, MINUTE, Decimal("1.5"))
    raw = encode(tick)
    assert not {"open", "high", "low", "volume"} & set(json.loads(raw))
    assert decode(raw).candle is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"volume": None}, "candle fields ['volume'] are missing"),
        ({"high": "-1"}, "high '-1' is not positive"),
        ({"low": "abc"}, "low 'abc' is not a decimal number"),
        ({"open": 5}, None),
    ],
)
def test_bad_candle_fields_are_named(change: dict[str, object], message: str | None) -> None:
    body = json.loads(encode(CANDLE))
    body.update(change)
    raw = json.dumps(body).encode()
    if message is None:
        assert decode(raw).candle == Candle(Decimal(5), Decimal("24070"), Decimal("24049.9"), Decimal(0))
        return
    with pytest.raises(EventError, match=message.replace("[", r"\[").replace("]", r"\]")):
        decode(raw)


def test_candle_ids_depend_on_market_and_minute_only() -> None:
    assert candle_event_id(MARKET, MINUTE) == candle_event_id(MARKET, MINUTE.astimezone(UTC))
    assert candle_event_id(MARKET, MINUTE) != candle_event_id(MARKET, MINUTE + timedelta(minutes=1))
    assert candle_event_id(MARKET, MINUTE) != candle_event_id(Market("kraken", "kraken", "ethusd"), MINUTE)


def test_only_an_interval_that_ended_over_five_minutes_ago_is_history() -> None:
    now = datetime(2026, 12, 1, 12, 0, 30, tzinfo=UTC)
    minute = timedelta(minutes=1)
    live_end = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert past_window(live_end - minute, live_end, now) is None
    assert past_window(live_end - 5 * minute, live_end - 4 * minute, now) is None
    late = (live_end - 7 * minute, live_end - 6 * minute)
    assert past_window(*late, now) == late
    assert past_window(None, None, now) is None
    assert past_window(late[0], late[0], now) is None
