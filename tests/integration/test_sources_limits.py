"""One source's task as the DAG runs it (:func:`publish_source`), against the local API and a real broker.

Rate limits are waited out (the local API records when each request arrived), the source is not
hammered (requests are counted), an allowance below the floor spares the rest of the source, and a
failing market fails the task only after the others' events are in the topic.
"""

from __future__ import annotations

import json
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest

from devtools.local_stack import Broker
from devtools.price_api import Fault, PriceApiServer
from franz_ivan.events import AllowanceEvent, Event, PriceEvent, decode
from franz_ivan.producer import SourceFetchError, publish_source
from franz_ivan.sources import SOURCES

pytestmark = pytest.mark.integration

READ_SECONDS = 30.0


@pytest.fixture
def wired(
    monkeypatch: pytest.MonkeyPatch, price_api: PriceApiServer, broker: Broker, topic: str, tmp_path: Any
) -> str:
    """Connections in the environment, as Airflow gives them to a task; returns the topic."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    for source in SOURCES:
        conn = {"conn_type": "generic", "host": price_api.url}
        monkeypatch.setenv(f"AIRFLOW_CONN_{source.upper()}_API", json.dumps(conn))
    kafka = {"conn_type": "kafka", "extra": {"bootstrap.servers": broker.bootstrap}}
    monkeypatch.setenv("AIRFLOW_CONN_CRYPTO_PRICES_KAFKA", json.dumps(kafka))
    monkeypatch.setenv("CRYPTO_PRICES_TOPIC", topic)
    monkeypatch.setenv("CRYPTO_PRICES_DELIVERY_TIMEOUT", "10")
    return topic


def run_key() -> str:
    return f"crypto_prices_producer/test_{uuid.uuid4().hex[:8]}"


def read_events(broker: Broker, topic: str, count: int) -> list[Event]:
    """Every event in ``topic``, once ``count`` have arrived (or fail after a bounded wait)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"test-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        events: list[Event] = []
        deadline = time.monotonic() + READ_SECONDS
        while len(events) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                events.append(decode(message.value()))
        # Anything beyond ``count`` would be a defect too: give it a moment to show up.
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None:
            events.append(decode(extra.value()))
    finally:
        consumer.close()
    assert len(events) >= count, f"only {len(events)} of {count} events arrived in {READ_SECONDS:g} s"
    return events


def arrivals(price_api: PriceApiServer, source: str) -> list[float]:
    return sorted(request["time"] for request in price_api.state.requests if request["source"] == source)


def test_retry_after_is_waited_out_then_the_price_published(
    wired: str, price_api: PriceApiServer, broker: Broker
) -> None:
    price_api.state.faults["coinbase"] = Fault("rate-limit", times=1, retry_after="1")
    result = publish_source("coinbase", ["coinbase:coinbase:btcusd"], run_key())
    assert result == {"source": "coinbase", "window": None, "prices": 1, "events": 1, "skipped": []}
    first, second = arrivals(price_api, "coinbase")
    assert second - first >= 1.0
    [event] = read_events(broker, wired, 1)
    assert isinstance(event, PriceEvent)
    assert event.market.key == "coinbase:coinbase:btcusd"


def test_kraken_throttle_pauses_every_market_of_the_source(
    wired: str, price_api: PriceApiServer, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_FETCH_CONCURRENCY", "2")
    # btcusd is throttled for about 3 s; ethusd's slow answer frees its thread after 1 s, and that
    # thread's next market, solusd, must then wait out the throttle too.
    price_api.state.faults["kraken:btcusd"] = Fault("kraken-throttle", times=1, retry_after="3")
    price_api.state.faults["kraken:ethusd"] = Fault("slow", times=1, seconds=1.0)
    markets = ["kraken:kraken:btcusd", "kraken:kraken:ethusd", "kraken:kraken:solusd"]
    assert publish_source("kraken", markets, run_key())["prices"] == 3
    asked = {
        pair: sorted(r["time"] for r in price_api.state.requests if r["pair"] == pair)
        for pair in ("btcusd", "ethusd", "solusd")
    }
    assert [len(times) for times in asked.values()] == [2, 1, 1], "one retry after the throttle, no more"
    throttled_at, retried_at = asked["btcusd"]
    assert retried_at - throttled_at >= 2.9
    assert asked["solusd"][0] - throttled_at >= 2.9
    events = read_events(broker, wired, 3)
    assert sorted(event.market.pair for event in events) == ["btcusd", "ethusd", "solusd"]


def test_kraken_rate_limit_backs_off_exponentially(
    wired: str, price_api: PriceApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_BACKOFF_BASE", "0.2")
    price_api.state.faults["kraken"] = Fault("kraken-rate-limit", times=2)
    assert publish_source("kraken", ["kraken:kraken:btcusd"], run_key())["prices"] == 1
    first, second, third = arrivals(price_api, "kraken")
    assert second - first >= 0.1  # half of 0.2 s at least
    assert third - second >= 0.2  # half of 0.4 s at least


def test_a_source_that_keeps_refusing_is_asked_a_bounded_number_of_times(
    wired: str, price_api: PriceApiServer, broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_FETCH_ATTEMPTS", "3")
    price_api.state.faults["coinbase"] = Fault("rate-limit", retry_after="1")
    with pytest.raises(SourceFetchError) as raised:
        publish_source("coinbase", ["coinbase:coinbase:btcusd"], run_key())
    assert str(raised.value) == (
        "1 of 1 coinbase markets gave no price: coinbase coinbase:btcusd: "
        "rate limited, HTTP 429: Public rate limit exceeded (after 3 attempts)"
    )
    first, second, third = arrivals(price_api, "coinbase")
    assert second - first >= 1.0
    assert third - second >= 1.0


def test_a_ban_longer_than_the_budget_fails_without_waiting(wired: str, price_api: PriceApiServer) -> None:
    price_api.state.faults["binance"] = Fault("ban", retry_after="3600")
    with pytest.raises(SourceFetchError, match="HTTP 418: Way too much request weight used") as raised:
        publish_source("binance", ["binance:binance:btcusdt"], run_key())
    assert "would overrun the 45 s fetch budget (CRYPTO_PRICES_FETCH_BUDGET)" in str(raised.value)
    assert len(arrivals(price_api, "binance")) == 1


SPENT = {
    # source: (markets, state attribute, a value below the default floor, what one call leaves)
    "cryptowatch": (
        ["cryptowatch:coinbase-pro:btcusd", "cryptowatch:coinbase-pro:ethusd", "cryptowatch:kraken:btceur"],
        "allowance_remaining",
        Decimal("0.3"),
        Decimal("0.295"),
    ),
    "binance": (
        ["binance:binance:btcusdt", "binance:binance:ethusdt", "binance:binance:btcusd"],
        "binance_weight_used",
        5500,
        Decimal(6000 - 5502),
    ),
}


@pytest.mark.parametrize("source", sorted(SPENT))
def test_an_allowance_below_the_floor_spares_the_rest_of_the_source(
    wired: str, price_api: PriceApiServer, broker: Broker, source: str
) -> None:
    markets, attribute, spent, remaining = SPENT[source]
    setattr(price_api.state, attribute, spent)
    result = publish_source(source, markets, run_key())
    assert result == {"source": source, "window": None, "prices": 1, "events": 2, "skipped": markets[1:]}
    assert len(arrivals(price_api, source)) == 1
    events = read_events(broker, wired, 2)
    allowance = next(event for event in events if isinstance(event, AllowanceEvent))
    assert allowance.remaining == remaining
    assert {event.market.key for event in events} == {markets[0]}


def test_the_floor_is_configurable(
    wired: str, price_api: PriceApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR", "0")
    price_api.state.binance_weight_used = 5500
    markets = ["binance:binance:btcusdt", "binance:binance:ethusdt"]
    assert publish_source("binance", markets, run_key())["skipped"] == []
    assert len(arrivals(price_api, "binance")) == 2


def test_failing_markets_fail_the_task_after_the_others_are_published(
    wired: str, price_api: PriceApiServer, broker: Broker
) -> None:
    price_api.state.faults["kraken:ethusd"] = Fault("html")
    markets = ["kraken:kraken:btcusd", "kraken:kraken:ethusd", "kraken:kraken:nopeusd"]
    with pytest.raises(SourceFetchError) as raised:
        publish_source("kraken", markets, run_key())
    message = str(raised.value)
    assert message.startswith("2 of 3 kraken markets gave no price: ")
    assert "kraken kraken:ethusd: HTTP 200 with a non-JSON body (text/html; charset=utf-8)" in message
    assert "kraken kraken:nopeusd: Kraken answered for pair NOPEUSD: EQuery:Unknown asset pair" in message
    [event] = read_events(broker, wired, 1)
    assert isinstance(event, PriceEvent)
    assert event.market.key == "kraken:kraken:btcusd"


def test_a_retried_task_sends_the_same_event_ids(
    wired: str, price_api: PriceApiServer, broker: Broker
) -> None:
    key = run_key()
    markets = ["cryptowatch:coinbase-pro:btcusd", "cryptowatch:coinbase-pro:ethusd"]
    publish_source("cryptowatch", markets, key)
    publish_source("cryptowatch", markets, key)
    events = read_events(broker, wired, 8)
    assert len(events) == 8
    assert len({event.event_id for event in events}) == 4


@pytest.mark.parametrize(("floor", "together"), [(None, 2), ("0", 3)])
def test_a_source_reporting_allowance_is_asked_for_one_market_first_unless_its_floor_is_zero(
    wired: str, price_api: PriceApiServer, monkeypatch: pytest.MonkeyPatch, floor: str | None, together: int
) -> None:
    if floor is not None:
        monkeypatch.setenv("CRYPTO_PRICES_CRYPTOWATCH_ALLOWANCE_FLOOR", floor)
    price_api.state.latency = 1.0
    markets = [
        "cryptowatch:coinbase-pro:btcusd",
        "cryptowatch:coinbase-pro:ethusd",
        "cryptowatch:kraken:btceur",
    ]
    assert publish_source("cryptowatch", markets, run_key())["prices"] == 3
    assert price_api.state.max_in_flight == together


def test_markets_of_a_source_without_allowance_are_asked_all_at_once(
    wired: str, price_api: PriceApiServer
) -> None:
    price_api.state.latency = 1.0
    markets = [f"kraken:kraken:{pair}" for pair in ("btcusd", "ethusd", "solusd", "adausd", "dotusd")]
    assert publish_source("kraken", markets, run_key())["prices"] == 5
    assert price_api.state.max_in_flight == 5
