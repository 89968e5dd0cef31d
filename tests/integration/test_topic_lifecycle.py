"""The topic-lifecycle parts below the DAGs, against a real Tansu broker and a real PostgreSQL.

- the topic id Tansu gives (it changes when the topic is re-created) and the true end a fetch
  reports where Tansu's ListOffsets lags;
- retention: Tansu cannot delete records (no DeleteRecords, no retention), so a first retained
  offset past a stored position cannot happen here. The decision is unit-tested with numbers
  (``tests/unit/test_topic_lifecycle.py``); here its record is written to and read back from a real
  PostgreSQL, the drain then resuming where the record put it;
- the sensor's watcher and the drain each with a PostgreSQL role holding only their documented
  grants (``docs/topic-lifecycle.md``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from devtools.faults import make_feed, recreate_topic, stored_state
from devtools.local_stack import Broker, Postgres
from franz_ivan.drain import DrainLimits
from franz_ivan.drain_runner import run_drain
from franz_ivan.kafka_topics import TopicMissingError
from franz_ivan.pending import PendingWatcher
from franz_ivan.pending_query import PendingQuery
from franz_ivan.publish import ensure_topic, produce
from franz_ivan.settings import settings
from franz_ivan.store import PriceStore
from franz_ivan.topic_lifecycle import LogBounds, Reason, StoredPosition, TopicIdentity, decide, fetched_ends
from tests.helpers import use_test_connections

pytestmark = pytest.mark.integration

GROUP = "crypto_prices_consumer"
LIMITS = DrainLimits(batch_size=500, stall_seconds=20, max_seconds=120)


@pytest.fixture
def kafka(broker: Broker) -> dict[str, Any]:
    return {"bootstrap.servers": broker.bootstrap}


Connect = Callable[[str | None], None]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch, kafka: dict[str, Any], database: Postgres) -> Connect:
    """Sets the Airflow connections ``test_kafka`` and ``test_postgres`` in the environment, the
    latter logging in as the given role (None: the superuser)."""

    def as_role(login: str | None) -> None:
        use_test_connections(monkeypatch, kafka, database, login)

    return as_role


def test_tansu_gives_a_topic_id_that_changes_when_the_topic_is_re_created(
    kafka: dict[str, Any], topic: str
) -> None:
    identity = TopicIdentity(kafka)
    with pytest.raises(TopicMissingError, match="does not exist"):
        identity.topic_id(topic)
    ensure_topic({"bootstrap.servers": kafka["bootstrap.servers"]}, topic, 2, timeout=30)
    first = identity.topic_id(topic)
    assert first
    assert first == identity.topic_id(topic)
    recreate_topic(kafka["bootstrap.servers"], topic, 2)
    second = identity.topic_id(topic)
    assert second
    assert second != first
    print(f"topic id {first} -> {second} after delete + create")


def test_a_fetch_reports_the_true_end_where_list_offsets_lags(
    kafka: dict[str, Any], consumer: Consumer, topic: str
) -> None:
    ensure_topic({"bootstrap.servers": kafka["bootstrap.servers"]}, topic, 1, timeout=30)
    feed = make_feed(200, run="true-end", pairs=["btcusd"])
    produce({"bootstrap.servers": kafka["bootstrap.servers"]}, topic, feed.messages)
    low, listed_high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert fetched_ends(consumer, topic, {0: 150}) == {0: 200}
    assert fetched_ends(consumer, topic, {0: 500}) == {0: 200}
    assert (low, listed_high <= 200) == (0, True)
    print(f"200 events: ListOffsets says the log ends at {listed_high}, a fetch says 200")

    # The same consumer asked again after the log grew: not the watermark of its earlier fetch.
    produce(
        {"bootstrap.servers": kafka["bootstrap.servers"]},
        topic,
        make_feed(100, run="more", pairs=["btcusd"]).messages,
    )
    assert fetched_ends(consumer, topic, {0: 500}) == {0: 300}
    assert fetched_ends(consumer, topic, {0: 300}) == {0: 300}


def test_a_retention_gap_is_recorded_with_the_position_it_moves_and_the_drain_goes_on_from_there(
    kafka: dict[str, Any],
    consumer: Consumer,
    pg: Any,
    topic: str,
    connect: Connect,
) -> None:
    ensure_topic({"bootstrap.servers": kafka["bootstrap.servers"]}, topic, 1, timeout=30)
    feed = make_feed(30, run="retention", pairs=["btcusd"], allowance_every=0)
    produce({"bootstrap.servers": kafka["bootstrap.servers"]}, topic, feed.messages)
    topic_id = TopicIdentity(kafka).topic_id(topic)
    store = PriceStore(pg, topic, GROUP)
    store.prepare()
    [end] = fetched_ends(consumer, topic, {0: 0}).values()
    # As if the broker had deleted offsets 0-19 while the stored position stood at 10.
    resume = decide(0, StoredPosition(10, topic_id), topic_id, LogBounds(20, end), topic_has_positions=True)
    assert resume.reason is Reason.RETENTION
    store.record_resumes([resume])

    gaps = pg.execute(
        "SELECT topic, kafka_partition, from_offset, to_offset, consumer_group, topic_id, "
        "detected_at IS NOT NULL FROM crypto_prices_retention_gaps"
    ).fetchall()
    assert gaps == [(topic, 0, 10, 19, GROUP, topic_id, True)]
    assert pg.execute(
        "SELECT kafka_partition, next_offset, topic_id FROM crypto_prices_consumer_offsets"
    ).fetchall() == [(0, 20, topic_id)]
    [(reason, detail)] = pg.execute("SELECT reason, detail FROM crypto_prices_position_resets").fetchall()
    assert (reason, "events 10 to 19 were deleted (retention)" in detail) == ("retention", True)
    pg.commit()

    connect(None)
    result = run_drain("test_kafka", "test_postgres", topic, GROUP, LIMITS)
    assert (result.events, result.next_offsets) == (10, {0: 30})


@pytest.fixture
def roles(database: Postgres, pg: Any) -> Iterator[tuple[str, str]]:
    """A drain role and a watcher role with exactly the grants docs/topic-lifecycle.md lists."""
    suffix = uuid.uuid4().hex[:8]
    drain, watcher = f"franz_drain_{suffix}", f"franz_watch_{suffix}"
    with database.connect(autocommit=True) as admin:
        for role in (drain, watcher):
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        grants = (settings().sql_dir.parent.parent / "docs" / "topic-lifecycle.md").read_text()
        assert "GRANT USAGE, CREATE ON SCHEMA public TO crypto_prices_drain" in grants
        assert "GRANT SELECT ON crypto_prices_consumer_offsets TO crypto_prices_watcher" in grants
        admin.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        admin.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database.database))
        )
        admin.execute(
            sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                sql.Identifier(database.database), sql.Identifier(drain)
            )
        )
        admin.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(drain)))
        admin.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database.database), sql.Identifier(watcher)
            )
        )
        admin.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(watcher)))
    yield drain, watcher
    pg.rollback()  # the test's reads hold locks that DROP OWNED would wait for
    with database.connect(autocommit=True) as admin:
        for role in (watcher, drain):
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def watch(connect: Connect, role: str, topic: str) -> dict[int, int]:
    connect(role)
    watcher = PendingWatcher(PendingQuery(topic, GROUP, "test_kafka", "test_postgres"))
    try:
        return watcher.pending()
    finally:
        watcher.close()


def test_the_watcher_needs_only_select_on_the_positions_and_the_drain_only_its_schema(
    kafka: dict[str, Any],
    pg: Any,
    topic: str,
    roles: tuple[str, str],
    connect: Connect,
) -> None:
    drain_role, watcher_role = roles
    bootstrap = kafka["bootstrap.servers"]
    ensure_topic({"bootstrap.servers": bootstrap}, topic, 3, timeout=30)
    first = make_feed(60, run="grants-1")
    produce({"bootstrap.servers": bootstrap}, topic, first.messages)

    # Nothing stored yet, no table at all: the watcher counts the whole log and creates nothing.
    assert sum(watch(connect, watcher_role, topic).values()) > 0
    assert pg.execute("SELECT to_regclass('crypto_prices_consumer_offsets')").fetchone() == (None,)
    pg.rollback()

    # The drain role creates the tables (so it owns them) and grants the watcher its one SELECT.
    connect(drain_role)
    assert run_drain("test_kafka", "test_postgres", topic, GROUP, LIMITS).events == 60
    with psycopg.connect(pg.info.dsn, user=drain_role, autocommit=True) as owner:
        owner.execute(
            sql.SQL("GRANT SELECT ON crypto_prices_consumer_offsets TO {}").format(
                sql.Identifier(watcher_role)
            )
        )
    assert watch(connect, watcher_role, topic) == {}

    # Re-created with fewer events than stored: the watcher reports them, the drain re-reads.
    recreate_topic(bootstrap, topic, 3)
    second = make_feed(12, run="grants-2")
    produce({"bootstrap.servers": bootstrap}, topic, second.messages)
    pending = watch(connect, watcher_role, topic)
    assert pending
    assert all(count > 0 for count in pending.values())
    connect(drain_role)
    assert run_drain("test_kafka", "test_postgres", topic, GROUP, LIMITS).events == 12
    assert watch(connect, watcher_role, topic) == {}

    state = stored_state(pg, topic, GROUP)
    assert (state.duplicates, set(state.event_ids)) == (0, first.event_ids | second.event_ids)
    privileges = pg.execute(
        "SELECT has_table_privilege(%(r)s, 'crypto_prices_consumer_offsets', 'SELECT'), "
        "has_table_privilege(%(r)s, 'crypto_prices_consumer_offsets', 'INSERT, UPDATE, DELETE'), "
        "has_schema_privilege(%(r)s, 'public', 'CREATE'), has_table_privilege(%(r)s, 'btceur', 'SELECT')",
        {"r": watcher_role},
    ).fetchone()
    assert privileges == (True, False, False, False)
    reasons = pg.execute("SELECT DISTINCT reason FROM crypto_prices_position_resets").fetchall()
    assert reasons == [("topic_recreated",)]


def test_a_watcher_polling_across_a_re_creation_reports_the_new_log(
    kafka: dict[str, Any], pg: Any, topic: str, connect: Connect
) -> None:
    """The trigger keeps one watcher for all its polls: what it learnt of the old log must not stick."""
    bootstrap = kafka["bootstrap.servers"]
    ensure_topic({"bootstrap.servers": bootstrap}, topic, 2, timeout=30)
    first = make_feed(50, run="long-1")
    produce({"bootstrap.servers": bootstrap}, topic, first.messages)
    connect(None)
    watcher = PendingWatcher(PendingQuery(topic, GROUP, "test_kafka", "test_postgres"))
    try:
        assert sum(watcher.pending().values()) > 0
        run_drain("test_kafka", "test_postgres", topic, GROUP, LIMITS)
        assert watcher.pending() == {}
        assert watcher.pending() == {}

        recreate_topic(bootstrap, topic, 2)
        assert watcher.pending() == {}  # re-created, still empty: nothing to read yet
        second = make_feed(6, run="long-2")
        produce({"bootstrap.servers": bootstrap}, topic, second.messages)
        pending = watcher.pending()
        assert pending
        assert all(count > 0 for count in pending.values())
    finally:
        watcher.close()
    assert run_drain("test_kafka", "test_postgres", topic, GROUP, LIMITS).events == 6
    state = stored_state(pg, topic, GROUP)
    assert (state.duplicates, set(state.event_ids)) == (0, first.event_ids | second.event_ids)
