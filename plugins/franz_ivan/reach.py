"""Which missing minutes can still be had: one definition for every part that looks for gaps.

A minute with no stored row is a gap only while it can still be filled and kept. It is not one
when it is older than the raw retention (``CRYPTO_PRICES_RAW_RETENTION_DAYS``: its raw rows are
dropped on purpose, the rollups keep its summary) or older than what a source's candle history
serves (Kraken: its 720 most recent minutes). The gap finder, the quality checks, the backfill
and the gap healing all ask :func:`unreachable_reason`, so they never disagree on a minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

MINUTE = timedelta(minutes=1)


class Unreachable(StrEnum):
    """Why a missing minute is not a gap to fill."""

    RETENTION = "older than the raw retention"
    SOURCE_HISTORY = "older than the source's candle history"


def floor_minute(moment: datetime) -> datetime:
    """``moment`` with its seconds dropped."""
    return moment.replace(second=0, microsecond=0)


def retained_from(now: datetime, retention_days: int | None) -> datetime | None:
    """The first minute whose raw rows are kept at ``now``; ``None`` when they are kept forever."""
    if retention_days is None:
        return None
    return floor_minute(now - timedelta(days=retention_days))


def history_from(now: datetime, history_limit: timedelta | None) -> datetime | None:
    """The first minute a source with ``history_limit`` still serves at ``now`` (the open minute
    counts); ``None`` when it serves all of its history."""
    if history_limit is None:
        return None
    return floor_minute(now) - history_limit + MINUTE


def unreachable_reason(
    minute: datetime,
    now: datetime,
    *,
    retention_days: int | None,
    history_limit: timedelta | None = None,
) -> Unreachable | None:
    """Why ``minute`` cannot be filled at ``now``, or ``None`` if it can.

    Retention comes first: a minute past it would be dropped again even if a source served it.
    """
    retained = retained_from(now, retention_days)
    if retained is not None and minute < retained:
        return Unreachable.RETENTION
    served = history_from(now, history_limit)
    if served is not None and minute < served:
        return Unreachable.SOURCE_HISTORY
    return None


def reachable_from(
    now: datetime, *, retention_days: int | None, history_limit: timedelta | None = None
) -> datetime | None:
    """The first minute :func:`unreachable_reason` accepts at ``now``; ``None``: no bound."""
    bounds = [
        bound
        for bound in (retained_from(now, retention_days), history_from(now, history_limit))
        if bound is not None
    ]
    return max(bounds) if bounds else None
