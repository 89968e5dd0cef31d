"""The fault matrix with mapped drains: the consumer's partition groups drained by parallel
processes, one of them (or the services under all of them) failing at each point. Every event is
stored exactly once after the next planned run, because each drain locks its own partitions and
commits their rows and positions in one transaction."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest

from devtools.faults import DrainOutcome, DrainTarget, Feed, planned_groups, run_mapped_drains
from devtools.local_stack import Broker
from devtools.pg_cluster import PostgresCluster
from devtools.processes import frozen
from franz_ivan.drain import DrainLimits
from franz_ivan.groups import GroupLimits
from tests.helpers import (
    PARTITIONS,
    assert_exactly_once,
    batches_committed,
    produce_feed,
    state_of,
    wait_for_stored_positions,
)

pytestmark = pytest.mark.integration

LIMITS = DrainLimits(batch_size=150, stall_seconds=20, max_seconds=120)
ONE_PER_PARTITION = GroupLimits(max_groups=PARTITIONS, min_events_per_group=1)


def retry_failed(
    target: DrainTarget, limits: DrainLimits, groups: list[list[int]], outcomes: list[DrainOutcome]
) -> None:
    """Airflow retries each failed mapped task instance with its own partitions (``retries``: 2)."""
    failed = [group for group, found in zip(groups, outcomes, strict=True) if found.returncode != 0]
    for _ in range(2):
        if not failed:
            return
        again = run_mapped_drains(target, limits, failed)
        failed = [group for group, found in zip(failed, again, strict=True) if found.returncode != 0]
    assert not failed, f"groups {failed} failed three times"


def test_the_plan_maps_one_drain_per_pending_partition_and_they_store_everything_once(
    target: DrainTarget, pg: Any
) -> None:
    feed = produce_feed(target, 1800, run="mapped", resend_every=40, malformed_every=97)

    groups = planned_groups(target, ONE_PER_PARTITION)
    assert groups == [[p] for p in range(PARTITIONS)]
    assert planned_groups(target, GroupLimits()) == [list(range(PARTITIONS))], "a small backlog: one drain"
    outcomes = run_mapped_drains(target, LIMITS, groups)

    assert [o.returncode for o in outcomes] == [0] * PARTITIONS, outcomes[0].output[-3000:]
    assert sum(o.result["events"] for o in outcomes if o.result) == len(feed.messages)
    assert_exactly_once(pg, target, feed)
    assert planned_groups(target, ONE_PER_PARTITION) == []


@pytest.mark.parametrize("on_batch", [1, 2])
def test_a_killed_mapped_drain_leaves_the_others_whole_and_the_next_run_finishes_its_partitions(
    target: DrainTarget, pg: Any, kill_at: str, on_batch: int
) -> None:
    feed = produce_feed(target, 1800, run=f"mapped-{kill_at}-{on_batch}", resend_every=40, malformed_every=97)
    groups = planned_groups(target, ONE_PER_PARTITION)
    assert len(groups) == PARTITIONS

    outcomes = run_mapped_drains(target, LIMITS, groups, kill={0: (kill_at, on_batch)})

    assert outcomes[0].killed, outcomes[0].output[-3000:]
    assert all(o.returncode == 0 for o in outcomes[1:]), [o.output[-2000:] for o in outcomes[1:]]
    after_kill = state_of(pg, target)
    committed = batches_committed(kill_at, on_batch)
    assert after_kill.next_offsets.get(0, 0) == committed * LIMITS.batch_size
    assert after_kill.duplicates == 0
    assert all(after_kill.next_offsets[p] > 0 for p in range(1, PARTITIONS))

    (again,) = run_mapped_drains(target, LIMITS, groups[:1])
    assert again.returncode == 0, again.output[-3000:]
    assert again.result is not None
    final = assert_exactly_once(pg, target, feed)
    assert again.result["events"] == final.next_offsets[0] - after_kill.next_offsets.get(0, 0)


OUTAGE_LIMITS = DrainLimits(batch_size=200, stall_seconds=8, max_seconds=300)


def start_mapped(target: DrainTarget, limits: DrainLimits) -> tuple[list[list[int]], Any]:
    """Start the planned mapped drains in the background: their groups, and a future of their outcomes."""
    from concurrent.futures import ThreadPoolExecutor

    groups = planned_groups(target, ONE_PER_PARTITION)
    assert len(groups) == PARTITIONS
    pool = ThreadPoolExecutor(max_workers=1)
    running = pool.submit(run_mapped_drains, target, limits, groups)
    pool.shutdown(wait=False)
    return groups, running


def test_broker_unreachable_briefly_the_mapped_drains_wait_and_complete(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    _, running = start_mapped(target, DrainLimits(batch_size=200, stall_seconds=30, max_seconds=300))
    wait_for_stored_positions(target.dsn)
    with frozen(own_broker):
        time.sleep(4)
    outcomes = running.result(timeout=180)
    assert [o.returncode for o in outcomes] == [0] * PARTITIONS, [o.output[-2000:] for o in outcomes]
    assert_exactly_once(pg, target, feed)


def test_broker_unreachable_too_long_the_mapped_drains_fail_and_the_next_run_completes(
    own_broker: Broker, loaded_target: tuple[DrainTarget, Any], pg: Any
) -> None:
    target, feed = loaded_target
    groups, running = start_mapped(target, OUTAGE_LIMITS)
    wait_for_stored_positions(target.dsn)
    with frozen(own_broker):
        outcomes = running.result(timeout=120)
    failed = [o for o in outcomes if o.returncode != 0]
    assert failed, "the broker stayed away longer than stall_seconds, yet every drain finished"
    # Mid-drain the stall bound ends a drain. One that starts while the broker is away (on a loaded
    # machine a drain process can take seconds to start) fails at the first of its bounded requests
    # for metadata: the partitions, the topic's id, the ends of its partitions (seen once in CI).
    bounded = (
        "Kafka gave neither events nor end-of-partition",
        "Kafka did not answer within",
        "Kafka did not describe topic",
        "cannot describe topic",
        "Kafka reported no end for",
        "cannot read the end offsets of",
    )
    assert all(any(b in o.output for b in bounded) for o in failed), "\n---\n".join(
        o.output[-1500:] for o in failed
    )

    retry_failed(target, OUTAGE_LIMITS, groups, outcomes)
    assert_exactly_once(pg, target, feed)


def test_postgres_restart_under_mapped_drains_fails_them_and_the_next_run_completes(
    crashable_target: tuple[PostgresCluster, DrainTarget, Feed],
) -> None:
    cluster, target, feed = crashable_target
    groups, running = start_mapped(target, OUTAGE_LIMITS)
    wait_for_stored_positions(cluster.dsn())
    cluster.crash()
    cluster.start()
    outcomes = running.result(timeout=180)
    failed = [o for o in outcomes if o.returncode != 0]
    assert failed, "PostgreSQL restarted mid-drain, yet every drain finished"
    assert all("OperationalError" in o.output or "terminating connection" in o.output for o in failed)

    retry_failed(target, OUTAGE_LIMITS, groups, outcomes)
    with psycopg.connect(cluster.dsn()) as conn:
        assert_exactly_once(conn, target, feed)
