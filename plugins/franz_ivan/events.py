"""The events that travel through the ``crypto_prices`` topic, and their wire format.

Every event is one JSON object, UTF-8 encoded, keyed by its market (``source:exchange:pair``)
so that one market's events stay in order within a partition. Prices and allowance figures are
carried as decimal *strings* so that no float rounding happens between the API and PostgreSQL.

Schema version 1::

    {"schema_version": 1, "type": "price", "event_id": "<uuid>", "source": "cryptowatch",
     "exchange": "coinbase-pro", "pair": "btcusd", "observed_at": "2026-11-27T18:00:00.123456Z",
     "price": "24063.4"}

    {"schema_version": 1, "type": "allowance", "event_id": "<uuid>", "source": "cryptowatch",
     "exchange": "coinbase-pro", "pair": "btcusd", "observed_at": "...",
     "remaining": "9.895", "cost": "0.005", "remaining_paid": null}

A **candle** (one minute of an exchange's history, fetched by a backfill) is a price event whose
``price`` is the minute's close and ``observed_at`` the minute's start, with four more fields;
schema version 1 readers that do not know them read it as a price::

    {"schema_version": 1, "type": "price", "event_id": "<uuid>", "source": "kraken",
     "exchange": "kraken", "pair": "btcusd", "observed_at": "2026-11-27T18:00:00.000000Z",
     "price": "24063.4", "open": "24050.1", "high": "24070", "low": "24049.9", "volume": "1.25"}
"""

from __future__ import annotations

import functools
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Generic, TypeVar

import msgspec

from franz_ivan.event_fields import (
    CANONICAL_UUID_PATTERN,
    EventError,
    format_time,
    parse_decimal,
    parse_time,
    validate_name,
    validate_pair,
)

SCHEMA_VERSION: Final = 1
MAX_EVENT_BYTES: Final = 4096
"""Real events are ~300 bytes; anything far larger is not one of ours."""


@dataclass(frozen=True, slots=True)
class Market:
    """One traded pair on one exchange, as served by one price source."""

    source: str
    exchange: str
    pair: str

    def __post_init__(self) -> None:
        validate_name(self.source, "source")
        validate_name(self.exchange, "exchange")
        validate_pair(self.pair)

    @property
    def key(self) -> str:
        """The Kafka message key: one market's events share a partition and stay ordered."""
        return f"{self.source}:{self.exchange}:{self.pair}"

    def __str__(self) -> str:
        return self.key


@functools.lru_cache(maxsize=4096)
def _validated_market(source: str, exchange: str, pair: str) -> Market:
    return Market(source, exchange, pair)


def market_of(source: Any, exchange: Any, pair: Any) -> Market:
    """The :class:`Market` named by an event's fields; raises :class:`EventError` naming a bad one.

    A drain decodes the same few markets hundreds of thousands of times, so each distinct one is
    validated once and kept (invalid ones are never kept: they raise every time).
    """
    if type(source) is str and type(exchange) is str and type(pair) is str:
        return _validated_market(source, exchange, pair)
    return Market(source, exchange, pair)


class Candle(msgspec.Struct, frozen=True):
    """What a one-minute candle carries besides its close (the event's price) and its minute."""

    open: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal


CANDLE_FIELDS: Final = ("open", "high", "low", "volume")


class PriceEvent(msgspec.Struct, frozen=True):
    """A price observation. A frozen ``msgspec.Struct``: a drain builds one per message, and it is
    built several times faster than a frozen dataclass.

    ``candle`` is None for a live tick; for a candle from an exchange's history it holds the
    minute's open, high, low and volume (``price`` is then the close, ``observed_at`` the minute).
    """

    event_id: str
    market: Market
    observed_at: datetime
    price: Decimal
    candle: Candle | None = None

    type = "price"


class AllowanceEvent(msgspec.Struct, frozen=True):
    """What a source says is left of its API allowance after a call (Cryptowatch's ``allowance``)."""

    event_id: str
    market: Market
    observed_at: datetime
    remaining: Decimal
    cost: Decimal | None = None
    remaining_paid: Decimal | None = None

    type = "allowance"


Event = PriceEvent | AllowanceEvent


def _decimal_text(number: Decimal | None) -> str | None:
    return None if number is None else str(number)


def encode(event: Event) -> bytes:
    """Serialize ``event`` to the wire format (compact JSON, UTF-8)."""
    body: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "type": event.type,
        "event_id": event.event_id,
        "source": event.market.source,
        "exchange": event.market.exchange,
        "pair": event.market.pair,
        "observed_at": format_time(event.observed_at),
    }
    if isinstance(event, PriceEvent):
        body["price"] = str(event.price)
        if event.candle is not None:
            for name in CANDLE_FIELDS:
                body[name] = str(getattr(event.candle, name))
    else:
        body["remaining"] = str(event.remaining)
        body["cost"] = _decimal_text(event.cost)
        body["remaining_paid"] = _decimal_text(event.remaining_paid)
    return json.dumps(body, separators=(",", ":")).encode()


class _WireEvent(msgspec.Struct, forbid_unknown_fields=True):
    """Exactly the documented shape, with strings where the encoder writes strings.

    A message of this shape is parsed in C by msgspec. Anything else (a number for a price, an
    unknown or nested field, ``NaN``, a missing field) is parsed again by :mod:`json`, so what is
    accepted, and every error message, stays that of the general path.
    """

    schema_version: int
    type: str
    event_id: str
    source: str
    exchange: str
    pair: str
    observed_at: str
    price: str | msgspec.UnsetType = msgspec.UNSET
    remaining: str | msgspec.UnsetType = msgspec.UNSET
    cost: str | None = None
    remaining_paid: str | None = None
    open: str | None = None
    high: str | None = None
    low: str | None = None
    volume: str | None = None


_WIRE_DECODER: Final = msgspec.json.Decoder(_WireEvent)

_FIELDS: Final = _WireEvent.__struct_fields__
_OPTIONAL: Final = frozenset({"cost", "remaining_paid", *CANDLE_FIELDS})
"""Absent or null, these mean the same: no figure."""


def _parse(raw: bytes) -> _WireEvent | dict[str, Any]:
    try:
        text = raw.decode()
    except UnicodeDecodeError as error:
        raise EventError(f"message is not UTF-8 JSON: {error}") from None
    try:
        return _WIRE_DECODER.decode(text)
    except msgspec.MsgspecError:
        pass
    try:
        body = json.loads(text)
    except json.JSONDecodeError as error:
        raise EventError(f"message is not UTF-8 JSON: {error}") from None
    except RecursionError:
        raise EventError("message is JSON nested too deeply to be an event") from None
    if not isinstance(body, dict):
        raise EventError(f"message is JSON {type(body).__name__}, not an object")
    return body


def _present(value: Any, field: str) -> Any:
    if value is msgspec.UNSET:
        raise EventError(f"missing field {field!r}")
    return value


def _optional_decimal(value: Any, field: str) -> Decimal | None:
    return None if value is None else parse_decimal(value, field, positive=False)


def parse_candle(values: tuple[Any, ...]) -> Candle:
    """The candle fields of a price event: all four present, prices positive, volume zero or more."""
    missing = [name for name, value in zip(CANDLE_FIELDS, values, strict=True) if value is None]
    if missing:
        raise EventError(f"candle fields {missing} are missing (a candle carries {list(CANDLE_FIELDS)})")
    open_, high, low, volume = values
    return Candle(
        open=parse_decimal(open_, "open", positive=True),
        high=parse_decimal(high, "high", positive=True),
        low=parse_decimal(low, "low", positive=True),
        volume=parse_decimal(volume, "volume", positive=False),
    )


def decode(raw: bytes | None) -> Event:
    """Parse and validate one message value. Raises :class:`EventError` naming the problem."""
    if raw is None:
        raise EventError("message has no value (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        raise EventError(f"message is {len(raw)} bytes, over the {MAX_EVENT_BYTES}-byte limit")
    body = _parse(raw)
    if isinstance(body, _WireEvent):
        fields = msgspec.structs.astuple(body)
    else:
        fields = tuple(body.get(name, None if name in _OPTIONAL else msgspec.UNSET) for name in _FIELDS)
    version, kind, event_id, source, exchange, pair, observed_at, price, remaining, cost, remaining_paid = (
        fields[:11]
    )
    _present(version, "schema_version")
    if version != SCHEMA_VERSION:
        raise EventError(f"unknown schema_version {version!r:.40} (this consumer reads {SCHEMA_VERSION})")
    _present(event_id, "event_id")
    if not (type(event_id) is str and CANONICAL_UUID_PATTERN.fullmatch(event_id)):
        try:
            event_id = str(uuid.UUID(event_id))
        except (TypeError, ValueError, AttributeError):
            raise EventError(f"event_id {event_id!r:.80} is not a UUID") from None
    market = market_of(_present(source, "source"), _present(exchange, "exchange"), _present(pair, "pair"))
    moment = parse_time(_present(observed_at, "observed_at"))
    _present(kind, "type")
    if kind == PriceEvent.type:
        close = parse_decimal(_present(price, "price"), "price", positive=True)
        candle = fields[11:]
        if candle == (None, None, None, None):
            return PriceEvent(event_id, market, moment, close)
        return PriceEvent(event_id, market, moment, close, parse_candle(candle))
    if kind == AllowanceEvent.type:
        return AllowanceEvent(
            event_id,
            market,
            moment,
            remaining=parse_decimal(_present(remaining, "remaining"), "remaining", positive=False),
            cost=_optional_decimal(cost, "cost"),
            remaining_paid=_optional_decimal(remaining_paid, "remaining_paid"),
        )
    raise EventError(f"unknown event type {kind!r:.40}")


EventT = TypeVar("EventT", PriceEvent, AllowanceEvent)


class Located(msgspec.Struct, Generic[EventT], frozen=True):
    """An event with the topic position it was read from (a ``msgspec.Struct``: one per message)."""

    event: EventT
    partition: int
    offset: int
