"""The bounds the settings give the services: one drain, one run's fan-out, asking one source.

Plain values at the bottom of the package, beside :mod:`franz_ivan.settings`, which builds them
from the environment (:meth:`~franz_ivan.settings.Settings.drain_limits` ...); the services take
them as arguments, and tests make their own.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DrainLimits:
    """Bounds on one drain.

    :param batch_size: events per transaction; memory is bounded by this (two batches: one being
        written, one being read), not by the backlog. 20,000 rather than 5,000 cuts the statements
        and round trips per event by four: ~1.35x the events/s with the writer thread (BENCHMARKS.md).
    :param max_seconds: stop (successfully) after this long even if more is pending.
    :param stall_seconds: fail if the broker yields neither data nor end-of-partition this long.
    :param poll_seconds: one poll's wait.
    """

    batch_size: int = 20_000
    max_seconds: float = 600.0
    stall_seconds: float = 30.0
    poll_seconds: float = 0.5


@dataclass(frozen=True, slots=True)
class GroupLimits:
    """How far one run fans out.

    :param max_groups: the most drains one run maps (the cap); at most the topic's partitions count.
    :param min_events_per_group: a drain is started only for this many pending events, so a small
        backlog stays one task (a mapped task costs seconds of scheduling, a drain ~50k events/s).
    """

    max_groups: int = 4
    min_events_per_group: int = 100_000

    def __post_init__(self) -> None:
        if self.max_groups < 1:
            raise ValueError(f"max_groups must be at least 1, got {self.max_groups}")
        if self.min_events_per_group < 1:
            raise ValueError(f"min_events_per_group must be at least 1, got {self.min_events_per_group}")


@dataclass(frozen=True, slots=True)
class PacingSettings:
    """Bounds on asking one source: attempts per market, first backoff, total time for fetching
    (from the environment: :meth:`franz_ivan.settings.Settings.pacing`)."""

    attempts: int
    backoff_base: float
    budget: float
