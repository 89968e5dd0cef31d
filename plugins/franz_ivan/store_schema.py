"""The store's schema and its advisory locks: what exists before any row is written.

DDL is serialized between concurrent drains (and the quality DAG) by one transaction-level
advisory lock, :data:`SCHEMA_LOCK_KEY`; each partition is written by one drain only, which a
session-level advisory lock per partition enforces (:func:`lock_partitions`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import TYPE_CHECKING

from psycopg import sql

from franz_ivan.event_fields import validate_pair
from franz_ivan.settings import read_sql

if TYPE_CHECKING:
    import psycopg

SCHEMA_LOCK_KEY = 0x46524E5A
"""Advisory lock that serializes DDL between concurrent drains ("FRNZ")."""


class PartitionBusyError(RuntimeError):
    """Another drain holds the partition; two drains must never write the same partition."""


def lock_schema(conn: psycopg.Connection) -> None:
    """Hold the DDL lock until the current transaction ends."""
    conn.execute(read_sql("lock_schema"), {"key": SCHEMA_LOCK_KEY})


def prepare_schema(conn: psycopg.Connection) -> None:
    """Create the shared tables and this session's staging table if they are missing."""
    with conn.transaction():
        lock_schema(conn)
        conn.execute(read_sql("create_schema"))
        # The quality DAG's table too: Grafana and the UI page read it from the first drain on.
        conn.execute(read_sql("quality_create_results"))
        conn.execute(read_sql("create_topic_lifecycle"))
        conn.execute(read_sql("create_rollups"))
        conn.execute(read_sql("create_price_staging"))


def partition_lock_key(consumer_group: str, topic: str) -> int:
    """A partition lock's first int, naming the (group, topic); the second is the partition."""
    return zlib.crc32(f"{consumer_group}\x1f{topic}".encode()) - 2**31


def lock_partitions(
    conn: psycopg.Connection, consumer_group: str, topic: str, partitions: Iterable[int]
) -> None:
    """Take a session lock on each partition; :class:`PartitionBusyError` if another drain writes one."""
    key = partition_lock_key(consumer_group, topic)
    with conn.transaction():
        for partition in partitions:
            row = conn.execute(
                read_sql("try_lock_partition"), {"key": key, "kafka_partition": partition}
            ).fetchone()
            if not row or not row[0]:
                raise PartitionBusyError(
                    f"partition {partition} of topic {topic!r} is being drained by another "
                    f"session of consumer group {consumer_group!r}"
                )


def create_price_table(conn: psycopg.Connection, pair: str) -> sql.Identifier:
    """Create ``pair``'s price table if it is missing (inside the caller's transaction); return its name."""
    table = sql.Identifier(validate_pair(pair))
    kind_check = sql.Identifier(f"{pair}_kind_check")
    lock_schema(conn)
    conn.execute(
        sql.SQL(read_sql("create_price_table")).format(
            table=table,
            observed_at_index=sql.Identifier(f"{pair}_observed_at_idx"),
            kind_check=kind_check,
        )
    )
    # A table made before candles gains their columns; ALTER TABLE would lock out every
    # reader each time, so it runs only when a column is missing.
    lacks = conn.execute(read_sql("price_table_lacks_candle_columns"), {"table": pair}).fetchone()
    if lacks and lacks[0]:
        conn.execute(sql.SQL(read_sql("add_candle_columns")).format(table=table, kind_check=kind_check))
    return table
