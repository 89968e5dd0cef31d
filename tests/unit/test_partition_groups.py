"""How the consumer splits the sensor's pending map over mapped drains."""

from __future__ import annotations

import pytest

from franz_ivan.groups import GroupLimits, partition_groups, pending_counts
from franz_ivan.settings import settings


def test_a_small_backlog_stays_one_drain() -> None:
    assert partition_groups({"0": 10, "1": 5, "2": 7}) == [[0, 1, 2]]


def test_one_group_per_pending_partition_up_to_the_cap() -> None:
    pending = {str(p): 200_000 for p in range(6)}
    assert partition_groups(pending, GroupLimits(max_groups=8)) == [[0], [1], [2], [3], [4], [5]]
    four = partition_groups(pending, GroupLimits(max_groups=4))
    assert len(four) == 4
    assert sorted(p for group in four for p in group) == [0, 1, 2, 3, 4, 5]


def test_the_backlog_decides_how_many_drains_are_worth_starting() -> None:
    pending = {"0": 60_000, "1": 60_000, "2": 60_000, "3": 60_000}
    assert len(partition_groups(pending, GroupLimits(max_groups=4, min_events_per_group=100_000))) == 2
    assert len(partition_groups(pending, GroupLimits(max_groups=4, min_events_per_group=1))) == 4


def test_groups_are_balanced_by_pending_events_not_by_partition_count() -> None:
    pending = {"0": 900, "1": 300, "2": 300, "3": 300}
    assert partition_groups(pending, GroupLimits(max_groups=2, min_events_per_group=1)) == [[0], [1, 2, 3]]


def test_every_pending_partition_is_in_exactly_one_group_and_idle_ones_in_none() -> None:
    pending = {"5": 3, "0": 0, "2": 8, "7": 1, "1": 4}
    groups = partition_groups(pending, GroupLimits(max_groups=3, min_events_per_group=1))
    flat = [p for group in groups for p in group]
    assert sorted(flat) == [1, 2, 5, 7]
    assert len(flat) == len(set(flat))


def test_nothing_pending_maps_no_drain() -> None:
    assert partition_groups({}) == []
    assert partition_groups({"0": 0}) == []


def test_integer_keys_are_accepted_too() -> None:
    assert pending_counts({0: 3, 2: 1}) == {0: 3, 2: 1}


@pytest.mark.parametrize("bad", [{"x": 3}, {"0": "many"}, {"-1": 3}, {"0": -2}])
def test_a_malformed_pending_map_is_refused_naming_the_entry(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="pending map entry"):
        pending_counts(bad)  # type: ignore[arg-type]


def test_limits_are_validated_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="max_groups"):
        GroupLimits(max_groups=0)
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_MAX_GROUPS", "8")
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS", "5000")
    assert settings().group_limits() == GroupLimits(max_groups=8, min_events_per_group=5000)
    monkeypatch.setenv("CRYPTO_PRICES_DRAIN_MAX_GROUPS", "zero")
    with pytest.raises(ValueError, match="CRYPTO_PRICES_DRAIN_MAX_GROUPS"):
        settings().group_limits()
