"""How the consumer splits one run's backlog over mapped drains: partition groups from the pending map.

The sensor hands on ``{str(partition): pending events}``. Each group becomes one mapped
``drain_events`` task, which locks its partitions and commits their rows and positions in one
transaction per batch, so exactly-once holds per partition however the partitions are grouped.
A partition is the unit: two drains never share one, so there are never more groups than
pending partitions.
"""

from __future__ import annotations

from collections.abc import Mapping

from franz_ivan.limits import GroupLimits


def pending_counts(pending: Mapping[str, int] | Mapping[int, int]) -> dict[int, int]:
    """The sensor's XCom (``{"0": 1200, ...}``) as ``{0: 1200, ...}``; raises naming a bad entry."""
    counts: dict[int, int] = {}
    for key, value in pending.items():
        try:
            partition, count = int(key), int(value)
        except (TypeError, ValueError):
            raise ValueError(f"pending map entry {key!r}: {value!r} is not partition: count") from None
        if partition < 0 or count < 0:
            raise ValueError(f"pending map entry {key!r}: {value!r} is negative")
        if count:
            counts[partition] = count
    return counts


def partition_groups(
    pending: Mapping[str, int] | Mapping[int, int], limits: GroupLimits | None = None
) -> list[list[int]]:
    """Split the pending partitions into balanced groups, one per mapped drain.

    The number of groups is the smallest of: the pending partitions, ``max_groups``, and one per
    ``min_events_per_group`` pending events (at least one). Partitions go, largest backlog first,
    to the group with the fewest pending events, so the drains finish at about the same time.
    Nothing pending gives no group.

    :param pending: pending events per partition, as the sensor returns them.
    :param limits: the cap and the smallest backlog worth a drain of its own.
    """
    limits = limits or GroupLimits()
    counts = pending_counts(pending)
    if not counts:
        return []
    wanted = max(1, sum(counts.values()) // limits.min_events_per_group)
    size = min(len(counts), limits.max_groups, wanted)
    groups: list[list[int]] = [[] for _ in range(size)]
    loads = [0] * size
    for partition in sorted(counts, key=lambda p: (-counts[p], p)):
        lightest = loads.index(min(loads))
        groups[lightest].append(partition)
        loads[lightest] += counts[partition]
    return sorted(sorted(group) for group in groups)
