"""The drain's stored positions: each partition's next offset to read, and why one was reset.

The next offsets are written in the same transaction as the batch they follow
(:meth:`franz_ivan.store.PriceStore.write`) and read back at the start of every drain, so after a
crash the drain resumes exactly after the last committed batch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from psycopg import errors

from franz_ivan.settings import read_sql
from franz_ivan.store_schema import lock_partitions
from franz_ivan.topic_lifecycle import StoredPosition

if TYPE_CHECKING:
    import psycopg

    from franz_ivan.topic_lifecycle import Resume, StoredPosition


class PositionStore:
    """Reads and writes one (consumer group, topic)'s positions through one connection.

    :param conn: an open psycopg connection (autocommit off), owned by the caller.
    :param topic: the topic whose positions are stored.
    :param consumer_group: names the stored positions (and the Kafka group they are mirrored to).
    """

    def __init__(self, conn: psycopg.Connection, topic: str, consumer_group: str) -> None:
        self.conn = conn
        self.topic = topic
        self.consumer_group = consumer_group
        self.topic_id: str | None = None
        """The id of the log being drained, stored with every position written (None: unknown)."""

    def lock_partitions(self, partitions: Iterable[int]) -> None:
        """Take a session lock on each partition, or fail if another drain is writing it."""
        lock_partitions(self.conn, self.consumer_group, self.topic, partitions)

    def stored_offsets(self) -> dict[int, int]:
        """Each partition's next offset to read, as last committed; partitions never drained are absent."""
        with self.conn.transaction():
            rows = self.conn.execute(
                read_sql("select_offsets"), {"consumer_group": self.consumer_group, "topic": self.topic}
            ).fetchall()
        return {partition: next_offset for partition, next_offset in rows}

    def stored_positions(self) -> dict[int, StoredPosition]:
        """Each partition's stored next offset with the id of its log; empty if nothing was ever stored.

        Only reads, so it serves the sensor's watcher, whose role may not create tables: a missing
        positions table means nothing is stored yet, and one without the ``topic_id`` column (made
        before this release; the next drain adds it) means the ids are unknown.
        """

        key = {"consumer_group": self.consumer_group, "topic": self.topic}
        try:
            with self.conn.transaction():
                rows = self.conn.execute(read_sql("select_positions"), key).fetchall()
        except errors.UndefinedTable:
            return {}
        except errors.UndefinedColumn:
            return {
                partition: StoredPosition(offset, None) for partition, offset in self.stored_offsets().items()
            }
        return {partition: StoredPosition(offset, topic_id) for partition, offset, topic_id in rows}

    def record_resumes(self, resumes: Iterable[Resume]) -> None:
        """Store the new positions of partitions not resumed where they stood, with why, in one transaction.

        Positions are reset to where reading resumes, with the topic's current id, so a drain
        that dies right after still re-reads from there; a gap lost to retention is recorded in
        ``crypto_prices_retention_gaps``; every reset in ``crypto_prices_position_resets``.
        """
        changed = [resume for resume in resumes if resume.rewrites_position]
        if not changed:
            return
        key = {"consumer_group": self.consumer_group, "topic": self.topic}
        with self.conn.transaction(), self.conn.cursor() as cursor:
            for resume in changed:
                stored = resume.stored
                if resume.rewrites_position:
                    cursor.execute(
                        read_sql("upsert_offset"),
                        {
                            **key,
                            "kafka_partition": resume.partition,
                            "next_offset": resume.offset,
                            "topic_id": resume.topic_id,
                        },
                    )
                gap = resume.gap
                if gap is not None:
                    cursor.execute(
                        read_sql("insert_retention_gap"),
                        {
                            **key,
                            "kafka_partition": resume.partition,
                            "from_offset": gap[0],
                            "to_offset": gap[1],
                            "topic_id": resume.topic_id,
                        },
                    )
                if resume.reason is not None:
                    cursor.execute(
                        read_sql("insert_position_reset"),
                        {
                            **key,
                            "kafka_partition": resume.partition,
                            "reason": str(resume.reason),
                            "detail": resume.detail,
                            "stored_offset": None if stored is None else stored.next_offset,
                            "stored_topic_id": None if stored is None else stored.topic_id,
                            "topic_id": resume.topic_id,
                            "log_start": resume.bounds.low,
                            "log_end": resume.bounds.high,
                            "resumed_at": resume.offset,
                        },
                    )

    def reset_offsets(self) -> None:
        """Forget the stored positions, so the next drain replays the topic from its beginning."""
        with self.conn.transaction():
            self.conn.execute(
                read_sql("reset_offsets"), {"consumer_group": self.consumer_group, "topic": self.topic}
            )

    def _write_offsets(self, next_offsets: dict[int, int]) -> None:
        """Store the partitions' next offsets; called inside the batch's transaction."""
        if not next_offsets:
            return
        with self.conn.cursor() as cursor:
            cursor.executemany(
                read_sql("upsert_offset"),
                [
                    {
                        "consumer_group": self.consumer_group,
                        "topic": self.topic,
                        "kafka_partition": partition,
                        "next_offset": next_offset,
                        "topic_id": self.topic_id,
                    }
                    for partition, next_offset in sorted(next_offsets.items())
                ],
            )
