"""Rows for the "Crypto prices" page: the pipeline's tables, filled directly for tests and the benchmark.

The tables are created with the pipeline's own SQL (``create_schema``, ``create_price_table``,
``quality_create_results``); a table "made before candles" is one whose candle columns are dropped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

DROP_CANDLE_COLUMNS = (
    "ALTER TABLE {table} DROP COLUMN open, DROP COLUMN high, DROP COLUMN low, DROP COLUMN volume, "
    "DROP COLUMN kind"
)


@dataclass(frozen=True)
class PriceRow:
    """One row of a pair's table; for a candle (``kind='candle'``) ``value`` is the close and
    ``observed_at`` the minute's start."""

    observed_at: datetime
    value: Decimal
    source: str = "coinbase-pro"
    exchange: str = "coinbase-pro"
    kind: str = "tick"
    open: Decimal | None = None
    high: Decimal | None = None
    low: Decimal | None = None


def create_tables(conn: Any, pairs: Iterable[str], *, candle_columns: bool = True) -> None:
    """The shared tables and one price table per pair; without candle columns, as made before candles."""
    from psycopg import sql

    from franz_ivan.event_fields import validate_pair
    from franz_ivan.settings import read_sql

    conn.execute(read_sql("create_schema"))
    for pair in pairs:
        table = sql.Identifier(validate_pair(pair))
        index = sql.Identifier(f"{pair}_observed_at_idx")
        kind_check = sql.Identifier(f"{pair}_kind_check")
        conn.execute(
            sql.SQL(read_sql("create_price_table")).format(
                table=table, observed_at_index=index, kind_check=kind_check
            )
        )
        if not candle_columns:
            conn.execute(sql.SQL(DROP_CANDLE_COLUMNS).format(table=table))
    conn.commit()


def insert_prices(conn: Any, pair: str, rows: Iterable[PriceRow]) -> int:
    """COPY ``rows`` into the pair's table (each with a new event id); returns how many."""
    from psycopg import sql

    from franz_ivan.event_fields import validate_pair

    copy = sql.SQL(
        "COPY {} (value, source, exchange, observed_at, event_id, kafka_partition, kafka_offset, "
        "kind, open, high, low) FROM STDIN"
    ).format(sql.Identifier(validate_pair(pair)))
    count = 0
    with conn.cursor() as cursor, cursor.copy(copy) as out:
        for row in rows:
            out.write_row(
                (
                    row.value,
                    row.source,
                    row.exchange,
                    row.observed_at,
                    uuid.uuid4(),
                    0,
                    count,
                    row.kind,
                    row.open,
                    row.high,
                    row.low,
                )
            )
            count += 1
    conn.commit()
    return count


def insert_allowance(
    conn: Any, *, source: str, exchange: str, pair: str, remaining: Decimal, at: datetime
) -> None:
    """One allowance row, as the consumer stores an allowance event."""
    from franz_ivan.settings import read_sql

    conn.execute(
        read_sql("insert_allowance"),
        {
            "remaining": remaining,
            "cost": Decimal("0.005"),
            "remaining_paid": None,
            "source": source,
            "exchange": exchange,
            "pair": pair,
            "observed_at": at,
            "event_id": uuid.uuid4(),
            "kafka_partition": 0,
            "kafka_offset": 0,
        },
    )
    conn.commit()


def create_quality_results(conn: Any) -> None:
    """The data-quality results table, as the quality DAG creates it."""
    from franz_ivan.settings import read_sql

    conn.execute(read_sql("quality_create_results"))
