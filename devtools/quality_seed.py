"""History for the quality checks: hours of the local price API's moving prices, and faults in them.

The prices are what :class:`devtools.price_api.ApiState` would have served at each moment (the
same drift and per-source spread), one observation a minute per market, a few seconds apart as
the producer's concurrent fetches are. They are stored through :class:`franz_ivan.store.PriceStore`,
the consumer's writer, so the checks read exactly what a drain leaves.

Faults (:data:`FAULTS`) change the observations before they are stored:

- ``frozen``: the market's rows stop ``minutes`` before the end (the source stopped answering);
- ``frozen-price``: the rows keep coming with the price of ``minutes`` before the end;
- ``spike``: one price, three minutes before the end, is ten times what it was;
- ``off``: the market's prices are ``percent`` off for the last ``minutes``.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from devtools.price_api import ApiState
from franz_ivan.events import AllowanceEvent, Market, PriceEvent
from franz_ivan.store import Batch, Located, PriceStore

NORMAL_MARKETS: Final = (
    Market("kraken", "kraken", "btcusd"),
    Market("coinbase", "coinbase", "btcusd"),
    Market("bitstamp", "bitstamp", "btcusd"),
    Market("cryptowatch", "coinbase-pro", "btcusd"),
    Market("kraken", "kraken", "ethusd"),
    Market("binance", "binance", "btcusdt"),
)
"""Three sources and a Cryptowatch market quoting BTC/USD, one more pair each from Kraken and Binance."""
FAULTS: Final = ("frozen", "frozen-price", "spike", "off")
ALLOWANCE_START: Final = Decimal("10")
ALLOWANCE_COST: Final = Decimal("0.005")


@dataclass(frozen=True)
class Observation:
    market: Market
    observed_at: datetime
    price: Decimal


@dataclass(frozen=True)
class Fault:
    """A fault in one market's history.

    :param kind: one of :data:`FAULTS`.
    :param market: the market it hits.
    :param minutes: how long before the end it started (``frozen``, ``frozen-price``, ``off``).
    :param percent: how far off the prices are (``off``).
    """

    kind: str
    market: Market
    minutes: int = 20
    percent: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULTS)}")


def moving_prices(
    end: datetime, minutes: int, markets: Sequence[Market] = NORMAL_MARKETS, state: ApiState | None = None
) -> list[Observation]:
    """One observation a minute per market for ``minutes`` up to ``end``, as the price API moves them.

    :param end: the newest minute's moment; observations fall a few seconds into each minute.
    :param minutes: how many minutes of history.
    """
    state = state or ApiState()
    observations = []
    for minute in range(minutes, 0, -1):
        start = end - timedelta(minutes=minute)
        for index, market in enumerate(markets):
            moment = start + timedelta(seconds=5, milliseconds=350 * index)
            observations.append(
                Observation(market, moment, state.price_at(market.pair, market.source, moment.timestamp()))
            )
    return observations


def inject(observations: list[Observation], fault: Fault, end: datetime) -> list[Observation]:
    """``observations`` with ``fault`` in them."""
    since = end - timedelta(minutes=fault.minutes)
    hit = [item for item in observations if item.market == fault.market]
    if not hit:
        raise ValueError(f"no observation of {fault.market} to spoil")
    if fault.kind == "frozen":
        return [item for item in observations if item.market != fault.market or item.observed_at < since]
    if fault.kind == "frozen-price":
        frozen = max((item for item in hit if item.observed_at < since), key=lambda item: item.observed_at)
        return [
            replace(item, price=frozen.price)
            if item.market == fault.market and item.observed_at >= since
            else item
            for item in observations
        ]
    if fault.kind == "spike":
        moment = end - timedelta(minutes=3)
        target = min(hit, key=lambda item: abs(item.observed_at - moment))
        return [replace(item, price=item.price * 10) if item is target else item for item in observations]
    factor = 1 + fault.percent / 100
    return [
        replace(item, price=(item.price * factor).quantize(item.price))
        if item.market == fault.market and item.observed_at >= since
        else item
        for item in observations
    ]


def store(conn: Any, observations: Sequence[Observation], topic: str = "crypto_prices") -> None:
    """Write ``observations`` as a drain running every minute would: a batch a minute, through
    :class:`PriceStore`, with an allowance event for every Cryptowatch price."""
    price_store = PriceStore(conn, topic, "crypto_prices_consumer")
    price_store.prepare()
    batches: dict[datetime, Batch] = defaultdict(Batch)
    offsets: Counter[int] = Counter()
    remaining = ALLOWANCE_START
    for item in sorted(observations, key=lambda item: item.observed_at):
        batch = batches[item.observed_at.replace(second=0, microsecond=0)]
        price = PriceEvent(str(uuid.uuid4()), item.market, item.observed_at, item.price)
        batch.prices.append(Located(price, 0, offsets[0]))
        offsets[0] += 1
        if item.market.source == "cryptowatch":
            remaining -= ALLOWANCE_COST
            allowance = AllowanceEvent(
                str(uuid.uuid4()), item.market, item.observed_at, remaining, ALLOWANCE_COST
            )
            batch.allowances.append(Located(allowance, 0, offsets[0]))
            offsets[0] += 1
        batch.next_offsets[0] = offsets[0]
    for _minute, batch in sorted(batches.items()):
        price_store.write(batch)
