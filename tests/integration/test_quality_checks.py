"""The quality checks against real PostgreSQL holding the local price API's moving prices.

No false alarms: two hours of normal prices are judged every 5 minutes over the second hour, and
every verdict passes. Each injected fault is caught by the right check, for the right market,
and by no other check. The figures printed here are the ones docs/quality.md reports.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from devtools.quality_seed import NORMAL_MARKETS, Fault, inject, moving_prices, store
from franz_ivan.events import Market
from franz_ivan.quality import checks, runner
from franz_ivan.quality.config import QualityConfig, parse_config

pytestmark = pytest.mark.integration

END = datetime(2026, 11, 30, 12, 0, 30, tzinfo=UTC)
"""The moment the seeded history ends (fixed, so every run judges the same prices)."""
KRAKEN_ETH = Market("kraken", "kraken", "ethusd")
COINBASE_BTC = Market("coinbase", "coinbase", "btcusd")
BITSTAMP_BTC = Market("bitstamp", "bitstamp", "btcusd")


def judge(conn: Any, config: QualityConfig, as_of: datetime) -> list[checks.CheckResult]:
    """The verdicts of every check that reads the price tables, as the quality DAG's tasks reach them."""
    markets = [market.key for market in NORMAL_MARKETS]
    with conn.transaction():
        return [
            result
            for check in (checks.STALENESS, checks.SPIKE, checks.DIVERGENCE, checks.ALLOWANCE)
            for result in runner.judge(check, conn, config, markets, topic="unused", as_of=as_of)
        ]


def failures(results: list[checks.CheckResult]) -> set[tuple[str, str]]:
    return {(result.check, result.market) for result in results if not result.passed}


def test_two_hours_of_normal_prices_raise_no_alarm(pg: Any) -> None:
    store(pg, moving_prices(END, 120))
    config = QualityConfig()
    moments = [END - timedelta(minutes=minutes) for minutes in range(60, -1, -5)]
    verdicts = [result for as_of in moments for result in judge(pg, config, as_of)]

    alarms = [result.message for result in verdicts if not result.passed]
    assert alarms == []
    by_check: dict[str, list[checks.CheckResult]] = {}
    for result in verdicts:
        by_check.setdefault(result.check, []).append(result)
    # Every check had something to judge at every moment: the figures are not vacuous passes.
    assert {check: len(results) for check, results in by_check.items()} == {
        checks.STALENESS: 6 * len(moments),
        checks.SPIKE: 6 * len(moments),
        checks.DIVERGENCE: 1 * len(moments),  # btcusd is the pair quoted by several markets
        checks.ALLOWANCE: 1 * len(moments),
    }
    print(f"\nfalse alarms: 0 of {len(verdicts)} verdicts at {len(moments)} moments over an hour")
    for check, results in sorted(by_check.items()):
        figures = [result.observed for result in results if result.observed is not None]
        print(f"  {check}: worst normal figure {max(figures)}, threshold {results[0].threshold}")


@pytest.mark.parametrize(
    ("fault", "caught_by"),
    [
        (Fault("frozen", KRAKEN_ETH, minutes=20), (checks.STALENESS, "kraken:kraken:ethusd")),
        (Fault("frozen-price", KRAKEN_ETH, minutes=20), (checks.STALENESS, "kraken:kraken:ethusd")),
        (Fault("spike", COINBASE_BTC), (checks.SPIKE, "coinbase:coinbase:btcusd")),
        (Fault("off", BITSTAMP_BTC, minutes=15, percent=Decimal(5)), (checks.DIVERGENCE, "btcusd")),
        (Fault("off", BITSTAMP_BTC, minutes=15, percent=Decimal(-5)), (checks.DIVERGENCE, "btcusd")),
    ],
    ids=["frozen", "frozen-price", "10x-spike", "5%-above", "5%-below"],
)
def test_each_fault_is_caught_by_its_check_and_no_other(
    pg: Any, fault: Fault, caught_by: tuple[str, str]
) -> None:
    store(pg, inject(moving_prices(END, 120), fault, END))
    results = judge(pg, QualityConfig(), END)

    assert failures(results) == {caught_by}
    (caught,) = [result for result in results if not result.passed]
    assert caught.observed is None or caught.observed > caught.threshold
    if caught.check == checks.DIVERGENCE:
        assert f"{fault.market.source}:{fault.market.exchange} farthest from the others" in caught.message
    print(f"\n{fault.kind} {fault.market}: {caught.message}")


def test_a_frozen_market_is_caught_from_its_threshold_on(pg: Any) -> None:
    """Detection delay: judged every minute, the frozen market fails once it passed the threshold."""
    store(pg, inject(moving_prices(END, 120), Fault("frozen", KRAKEN_ETH, minutes=30), END))
    config = QualityConfig()
    first = None
    for minutes_after in range(31):
        as_of = END - timedelta(minutes=30 - minutes_after)
        stale = [r for r in checks.check_staleness(pg, config, [KRAKEN_ETH], as_of) if not r.passed]
        if stale and first is None:
            first = minutes_after
        assert bool(stale) == (first is not None), "once caught it stays caught"
    assert first is not None
    # The last row is at most a minute old when the market freezes; 10 min of silence is the threshold.
    assert 10 <= first <= 11
    print(f"\nfrozen market caught {first} min after its last price (threshold 10 min)")


def test_overrides_change_the_verdict_for_one_market_only(pg: Any) -> None:
    store(pg, inject(moving_prices(END, 120), Fault("frozen", KRAKEN_ETH, minutes=20), END))
    config = parse_config(
        '{"overrides": {"kraken:ethusd": {"stale_after_minutes": 30},'
        ' "btcusd": {"divergence_percent": 0.01}}}'
    )
    results = judge(pg, config, END)
    assert failures(results) == {(checks.DIVERGENCE, "btcusd")}
    (divergence,) = [result for result in results if result.check == checks.DIVERGENCE]
    assert divergence.threshold == Decimal("0.01")
    assert "over the threshold of 0.01 %" in divergence.message


def test_a_market_without_any_price_is_stale(pg: Any) -> None:
    store(pg, moving_prices(END, 30))
    never = Market("bitstamp", "bitstamp", "ethusd")
    (result,) = checks.check_staleness(pg, QualityConfig(), [never], END)
    assert not result.passed
    assert result.observed is None
    assert result.message == "bitstamp:bitstamp:ethusd: no price in the last 360 min (threshold 10 min)"


def test_allowance_near_exhaustion_names_the_source(pg: Any) -> None:
    store(pg, moving_prices(END, 120))
    config = parse_config('{"allowance_min_fraction": 0.99}')  # 10 credits, 0.005 a call: 94 % left
    (result,) = checks.check_allowance(pg, config, END)
    assert not result.passed
    assert result.market == "cryptowatch"
    assert "allowance 9.400 left, 94.0% of the highest figure 9.995" in result.message
    assert "below the threshold of 99.0%" in result.message


def test_consumer_lag_fails_only_above_its_threshold_while_growing(pg: Any) -> None:
    checks.prepare_tables(pg)
    config = parse_config('{"consumer_lag_max_events": 100}')

    def lag_check(pending: dict[int, int]) -> checks.CheckResult:
        result = checks.check_consumer_lag(pg, config, "crypto_prices", pending)
        checks.record_results(pg, [result], "test")
        return result

    assert lag_check({0: 150}).passed, "no earlier figure: not known to grow"
    grown = lag_check({0: 150, 1: 30})
    assert not grown.passed
    assert grown.market == "crypto_prices"
    assert grown.message == (
        "crypto_prices: 180 events not stored yet (150 at the previous check; "
        "over the threshold of 100 events while growing)"
    )
    assert lag_check({0: 120}).passed, "shrinking: the consumer is catching up"
    assert lag_check({0: 90, 2: 0}).passed
    assert lag_check({0: 99}).passed, "growing, but within the threshold"
    statuses = pg.execute(
        "SELECT status FROM crypto_prices_quality_results WHERE check_name = %s ORDER BY checked_at",
        (checks.CONSUMER_LAG,),
    ).fetchall()
    assert [status for (status,) in statuses] == ["pass", "fail", "pass", "pass", "pass"]


def test_consumer_lag_is_measured_on_the_real_topic_and_clears_after_a_drain(
    pg: Any, broker: Any, database: Any, topic: str
) -> None:
    from confluent_kafka import Consumer

    from devtools.faults import DrainTarget, drain_once, make_feed
    from franz_ivan.drain import DrainLimits
    from franz_ivan.hooks.kafka import consumer_settings
    from franz_ivan.pending import pending_events
    from franz_ivan.publish import ensure_topic, produce
    from franz_ivan.store import PriceStore

    group = "crypto_prices_consumer"
    ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, 2, timeout=30)
    checks.prepare_tables(pg)
    config = parse_config('{"consumer_lag_max_events": 0}')
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, **consumer_settings(group)})
    store = PriceStore(pg, topic, group)
    store.prepare()
    # Committed before the drain below, whose schema step creates the same tables (the results table
    # among them): it would wait for ever on this open transaction's uncommitted ones.
    pg.commit()

    def lag_check() -> checks.CheckResult:
        result = checks.check_consumer_lag(pg, config, topic, pending_events(consumer, store))
        checks.record_results(pg, [result], "test")
        # As the quality task's does: an open insert into the results table would hold up the
        # drain's schema step (its CREATE INDEX IF NOT EXISTS takes a share lock on that table).
        pg.commit()
        return result

    try:
        produce({"bootstrap.servers": broker.bootstrap}, topic, make_feed(40, run="lag-1").messages)
        first = lag_check()
        produce({"bootstrap.servers": broker.bootstrap}, topic, make_feed(40, run="lag-2").messages)
        second = lag_check()
        target = DrainTarget(
            broker.bootstrap,
            f"host={database.host} port={database.port} user={database.user} dbname={database.database}",
            topic,
            group,
        )
        drain_once(target, DrainLimits(stall_seconds=10))
        drained = lag_check()
    finally:
        consumer.close()

    assert first.passed, "no earlier figure: not known to grow"
    assert first.observed is not None
    assert first.observed > 0
    assert not second.passed
    assert second.observed is not None
    assert second.observed > first.observed
    assert f"({first.observed} at the previous check; over the threshold of 0 events" in second.message
    assert drained.passed
    assert drained.observed == 0
