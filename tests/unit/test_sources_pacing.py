"""The pacing arithmetic of one source: Retry-After, backoff with jitter, attempts, budget, allowance floor.

The clock and sleep are a counter here, so every wait is checked exactly and nothing waits;
the same pacer against the real local API is in tests/integration/test_sources_limits.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from franz_ivan.events import Market
from franz_ivan.settings import settings
from franz_ivan.sources import Allowance, Quote, RateLimitedError, SourceError
from franz_ivan.sources.pacing import PacingSettings, SourcePacer

MARKET = Market("binance", "binance", "btcusdt")
OTHER = Market("binance", "binance", "ethusdt")
QUOTE = Quote(MARKET, Decimal("24000.5"), datetime(2026, 1, 1, tzinfo=UTC), Allowance(Decimal(5990)))


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def highest(low: float, high: float) -> float:
    return high


def lowest(low: float, high: float) -> float:
    return low


def pacer(
    fake: FakeTime,
    *,
    attempts: int = 4,
    base: float = 1.0,
    budget: float = 45.0,
    floor: Decimal = Decimal(0),
    jitter: Callable[[float, float], float] = highest,
) -> SourcePacer:
    return SourcePacer(
        "binance",
        PacingSettings(attempts=attempts, backoff_base=base, budget=budget),
        floor,
        clock=fake.clock,
        sleep=fake.sleep,
        jitter=jitter,
    )


def answers(*outcomes: Quote | SourceError) -> tuple[Callable[[], Quote], list[int]]:
    """A call that gives ``outcomes`` in turn, and a list that grows by one with every call."""
    pending = list(outcomes)
    calls: list[int] = []

    def call() -> Quote:
        calls.append(len(calls))
        outcome = pending.pop(0)
        if isinstance(outcome, SourceError):
            raise outcome
        return outcome

    return call, calls


def limited(retry_after: float | None = None, allowance: Allowance | None = None) -> RateLimitedError:
    return RateLimitedError(
        MARKET, "rate limited, HTTP 429: slow down", retry_after=retry_after, allowance=allowance
    )


@pytest.mark.parametrize(("jitter", "expected"), [(lowest, 2.0), (highest, 2.2)])
def test_retry_after_is_waited_plus_at_most_ten_percent(
    jitter: Callable[[float, float], float], expected: float
) -> None:
    fake = FakeTime()
    call, calls = answers(limited(retry_after=2.0), QUOTE)
    assert pacer(fake, jitter=jitter).fetch(MARKET, call) == QUOTE
    assert len(calls) == 2
    assert fake.sleeps == [pytest.approx(expected)]


@pytest.mark.parametrize(("jitter", "expected"), [(highest, [1.0, 2.0, 4.0]), (lowest, [0.5, 1.0, 2.0])])
def test_without_retry_after_the_backoff_doubles_with_jitter(
    jitter: Callable[[float, float], float], expected: list[float]
) -> None:
    fake = FakeTime()
    call, calls = answers(limited(), limited(), limited(), limited())
    with pytest.raises(SourceError) as raised:
        pacer(fake, jitter=jitter).fetch(MARKET, call)
    assert len(calls) == 4
    assert fake.sleeps == expected
    assert (
        str(raised.value) == "binance binance:btcusdt: rate limited, HTTP 429: slow down (after 4 attempts)"
    )
    assert not isinstance(raised.value, RateLimitedError)


def test_the_backoff_is_capped() -> None:
    fake = FakeTime()
    call, _ = answers(limited(), limited(), limited())
    with pytest.raises(SourceError):
        pacer(fake, attempts=3, base=20.0, budget=500.0).fetch(MARKET, call)
    assert fake.sleeps == [20.0, 30.0]


def test_a_wait_past_the_budget_is_not_started() -> None:
    fake = FakeTime()
    call, calls = answers(limited(retry_after=3600.0), QUOTE)
    with pytest.raises(SourceError, match=r"waiting 3\d{3}\.\d s more would overrun the 45 s fetch budget"):
        pacer(fake).fetch(MARKET, call)
    assert len(calls) == 1
    assert fake.sleeps == []


def test_the_budget_counts_from_the_start_of_fetching() -> None:
    fake = FakeTime()
    shared = pacer(fake, budget=10.0)
    fake.now += 8.0  # other markets took most of the budget
    call, calls = answers(limited(retry_after=3.0), QUOTE)
    with pytest.raises(SourceError, match="overrun the 10 s fetch budget"):
        shared.fetch(MARKET, call)
    assert len(calls) == 1


def test_a_pause_holds_back_every_market_of_the_source() -> None:
    fake = FakeTime()
    shared = pacer(fake, jitter=lowest)
    shared.pause(MARKET, limited(retry_after=5.0), attempt=1)
    call, calls = answers(QUOTE)
    shared.fetch(OTHER, call)
    assert fake.sleeps == [5.0]
    assert len(calls) == 1


def test_other_errors_are_not_retried() -> None:
    fake = FakeTime()
    call, calls = answers(SourceError(MARKET, "HTTP 502 with a non-JSON body"), QUOTE)
    with pytest.raises(SourceError, match="HTTP 502"):
        pacer(fake).fetch(MARKET, call)
    assert len(calls) == 1
    assert fake.sleeps == []


def test_the_latest_allowance_decides_the_shortfall() -> None:
    fake = FakeTime()
    shared = pacer(fake, floor=Decimal(600))
    assert shared.shortfall() is None
    shared.record(Allowance(Decimal(599)))
    assert shared.shortfall() == (
        "binance reports 599 allowance left, below the floor of 600 (CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR)"
    )
    shared.record(Allowance(Decimal(5998)))
    assert shared.shortfall() is None


def test_paid_allowance_counts_towards_the_floor() -> None:
    shared = pacer(FakeTime(), floor=Decimal("0.5"))
    shared.record(Allowance(Decimal("0.1"), remaining_paid=Decimal(100)))
    assert shared.shortfall() is None


def test_a_rate_limit_below_the_floor_is_not_retried() -> None:
    fake = FakeTime()
    call, calls = answers(limited(retry_after=1.0, allowance=Allowance(Decimal(0))), QUOTE)
    with pytest.raises(SourceError, match="below the floor of 600") as raised:
        pacer(fake, floor=Decimal(600)).fetch(MARKET, call)
    assert len(calls) == 1
    assert raised.value.allowance == Allowance(Decimal(0))


def test_errors_and_quotes_both_report_allowance() -> None:
    shared = pacer(FakeTime(), floor=Decimal(1))
    call, _ = answers(SourceError(MARKET, "HTTP 400: Invalid symbol.", allowance=Allowance(Decimal("0.5"))))
    with pytest.raises(SourceError):
        shared.fetch(MARKET, call)
    assert shared.shortfall() is not None


def test_allowance_floors_default_per_source(monkeypatch: pytest.MonkeyPatch) -> None:
    for source in ("cryptowatch", "binance", "kraken"):
        monkeypatch.delenv(f"CRYPTO_PRICES_{source.upper()}_ALLOWANCE_FLOOR", raising=False)
    assert settings().allowance_floor("cryptowatch") == Decimal("0.5")
    assert settings().allowance_floor("binance") == Decimal(600)
    assert settings().allowance_floor("kraken") == Decimal(0)


def test_allowance_floor_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR", "1500")
    assert settings().allowance_floor("binance") == Decimal(1500)
    monkeypatch.setenv("CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR", "-1")
    with pytest.raises(ValueError, match="CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR='-1' must be zero or more"):
        settings().allowance_floor("binance")
    monkeypatch.setenv("CRYPTO_PRICES_BINANCE_ALLOWANCE_FLOOR", "lots")
    with pytest.raises(ValueError, match="is not a number"):
        settings().allowance_floor("binance")


def test_pacing_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_FETCH_ATTEMPTS", "2")
    monkeypatch.setenv("CRYPTO_PRICES_BACKOFF_BASE", "0.25")
    monkeypatch.setenv("CRYPTO_PRICES_FETCH_BUDGET", "20")
    assert settings().pacing() == PacingSettings(attempts=2, backoff_base=0.25, budget=20.0)
