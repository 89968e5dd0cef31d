"""The one definition of which missing minutes are gaps: retention first, then a source's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from franz_ivan.reach import Unreachable, reachable_from, unreachable_reason
from franz_ivan.settings import Settings

NOW = datetime(2026, 12, 5, 12, 30, 42, tzinfo=UTC)
KRAKEN = timedelta(minutes=720)


def test_with_raw_rows_kept_forever_and_no_source_limit_every_minute_is_reachable() -> None:
    assert unreachable_reason(datetime(2020, 1, 1, tzinfo=UTC), NOW, retention_days=None) is None
    assert reachable_from(NOW, retention_days=None) is None


def test_a_minute_older_than_the_retention_is_not_a_gap_and_the_next_one_is() -> None:
    first_kept = datetime(2026, 11, 5, 12, 30, tzinfo=UTC)
    assert unreachable_reason(first_kept, NOW, retention_days=30) is None
    before = first_kept - timedelta(minutes=1)
    assert unreachable_reason(before, NOW, retention_days=30) is Unreachable.RETENTION
    assert reachable_from(NOW, retention_days=30) == first_kept


def test_krakens_720_minutes_count_the_open_minute() -> None:
    open_minute = datetime(2026, 12, 5, 12, 30, tzinfo=UTC)
    oldest = open_minute - timedelta(minutes=719)
    assert unreachable_reason(oldest, NOW, retention_days=None, history_limit=KRAKEN) is None
    assert (
        unreachable_reason(oldest - timedelta(minutes=1), NOW, retention_days=None, history_limit=KRAKEN)
        is Unreachable.SOURCE_HISTORY
    )
    assert reachable_from(NOW, retention_days=None, history_limit=KRAKEN) == oldest


def test_retention_is_named_before_the_sources_history_and_the_later_bound_wins() -> None:
    long_ago = datetime(2026, 1, 1, tzinfo=UTC)
    assert unreachable_reason(long_ago, NOW, retention_days=1, history_limit=KRAKEN) is Unreachable.RETENTION
    # One day of retention reaches further back than Kraken's 12 hours: Kraken's bound is the later.
    krakens_oldest = datetime(2026, 12, 5, 0, 31, tzinfo=UTC)
    assert reachable_from(NOW, retention_days=1, history_limit=KRAKEN) == krakens_oldest


@pytest.mark.parametrize(("raw", "days"), [("", None), ("forever", None), ("Forever", None), ("400", 400)])
def test_the_retention_setting_reads_days_or_forever(raw: str, days: int | None) -> None:
    assert Settings.from_env({"CRYPTO_PRICES_RAW_RETENTION_DAYS": raw}).raw_retention_days == days


@pytest.mark.parametrize("raw", ["0", "-3", "a year", "1.5"])
def test_a_bad_retention_names_its_variable_when_read(raw: str) -> None:
    parsed = Settings.from_env({"CRYPTO_PRICES_RAW_RETENTION_DAYS": raw})
    assert parsed.topic == "crypto_prices"  # the other settings stay usable
    with pytest.raises(ValueError, match="CRYPTO_PRICES_RAW_RETENTION_DAYS"):
        _ = parsed.raw_retention_days
