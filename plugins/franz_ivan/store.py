"""PostgreSQL side of the pipeline: tables, the stored drain positions, and batched writes.

A batch (price rows, allowance rows, dead letters and the partitions' next offsets) is written
in **one transaction**. The next offsets are read back at the start of every drain, so after a
crash the drain resumes exactly after the last committed batch: nothing is stored twice and
nothing is skipped. Event ids are primary keys as well, so an event the producer sent twice
(a retried task) is stored once.
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar

import msgspec
from psycopg import errors, sql

from franz_ivan.events import AllowanceEvent, PriceEvent, validate_pair
from franz_ivan.settings import read_sql

if TYPE_CHECKING:
    import psycopg
    from psycopg import Copy

    from franz_ivan.topic_lifecycle import Resume, StoredPosition

log = logging.getLogger(__name__)

SCHEMA_LOCK_KEY = 0x46524E5A
"""Advisory lock that serializes DDL between concurrent drains ("FRNZ")."""


class PartitionBusyError(RuntimeError):
    """Another drain holds the partition; two drains must never write the same partition."""


EventT = TypeVar("EventT", PriceEvent, AllowanceEvent)


class Located(msgspec.Struct, Generic[EventT], frozen=True):
    """An event with the topic position it was read from (a ``msgspec.Struct``: one per message)."""

    event: EventT
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str


@dataclass(slots=True)
class Batch:
    prices: list[Located[PriceEvent]] = field(default_factory=list)
    candles: list[Located[PriceEvent]] = field(default_factory=list)
    """Price events that carry a candle (a backfill); stored through :meth:`PriceStore._write_candles`."""
    allowances: list[Located[AllowanceEvent]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    price_rows: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    """Pair -> COPY lines (value, source, exchange, observed_at, event_id, partition, offset, with
    the newline) of price events read exactly as encoded: the drain's fast path, no event built
    (:func:`franz_ivan.events.encoded_price_row`). Stored as ``prices`` are."""

    def __len__(self) -> int:
        return self.price_count + len(self.candles) + len(self.allowances) + len(self.dead_letters)

    @property
    def price_count(self) -> int:
        return len(self.prices) + sum(map(len, self.price_rows.values()))


@dataclass(frozen=True, slots=True)
class BatchCounts:
    prices: int
    """Rows stored in the pair tables: live ticks and candles."""
    allowances: int
    dead_letters: int
    duplicates: int
    """Events whose id was already stored (sent twice by the producer) and were skipped."""


def _partition_lock_key(consumer_group: str, topic: str) -> int:
    # pg_advisory_lock(int, int): the first int names the (group, topic), the second the partition.
    return zlib.crc32(f"{consumer_group}\x1f{topic}".encode()) - 2**31


class PriceStore:
    """Writes drained events into the ``crypto_prices`` database through one connection.

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
        self._price_tables: set[str] = set()
        self._insert_prices = read_sql("insert_prices_from_staging")
        self._copy_prices = read_sql("copy_price_table")
        self._create_price_table = read_sql("create_price_table")
        self._insert_candle = read_sql("insert_candle")

    def prepare(self) -> None:
        """Create the shared tables and this session's staging table if they are missing."""
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            self.conn.execute(read_sql("create_schema"))
            self.conn.execute(read_sql("create_topic_lifecycle"))
            self.conn.execute(read_sql("create_price_staging"))

    def lock_partitions(self, partitions: Iterable[int]) -> None:
        """Take a session lock on each partition, or fail if another drain is writing it."""
        key = _partition_lock_key(self.consumer_group, self.topic)
        with self.conn.transaction():
            for partition in partitions:
                row = self.conn.execute("SELECT pg_try_advisory_lock(%s, %s)", (key, partition)).fetchone()
                if not row or not row[0]:
                    raise PartitionBusyError(
                        f"partition {partition} of topic {self.topic!r} is being drained by another "
                        f"session of consumer group {self.consumer_group!r}"
                    )

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
        from franz_ivan.topic_lifecycle import StoredPosition

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

    def write(self, batch: Batch) -> BatchCounts:
        """Store ``batch`` and advance the stored offsets, all in one transaction."""
        known_tables = set(self._price_tables)
        try:
            with self.conn.transaction():
                price_rows = self._write_prices(batch.prices, batch.price_rows) + self._write_candles(
                    batch.candles
                )
                allowance_rows = self._write_allowances(batch.allowances)
                self._write_dead_letters(batch.dead_letters)
                self._write_offsets(batch.next_offsets)
        except BaseException:
            # Tables created in the rolled-back transaction are gone again.
            self._price_tables = known_tables
            raise
        stored = price_rows + allowance_rows
        return BatchCounts(
            prices=price_rows,
            allowances=allowance_rows,
            dead_letters=len(batch.dead_letters),
            duplicates=batch.price_count + len(batch.candles) + len(batch.allowances) - stored,
        )

    def _ensure_price_table(self, pair: str) -> sql.Identifier:
        table = sql.Identifier(validate_pair(pair))
        if pair not in self._price_tables:
            kind_check = sql.Identifier(f"{pair}_kind_check")
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            self.conn.execute(
                sql.SQL(self._create_price_table).format(
                    table=table,
                    observed_at_index=sql.Identifier(f"{pair}_observed_at_idx"),
                    kind_check=kind_check,
                )
            )
            # A table made before candles gains their columns; ALTER TABLE would lock out every
            # reader each time, so it runs only when a column is missing.
            lacks = self.conn.execute(
                read_sql("price_table_lacks_candle_columns"), {"table": pair}
            ).fetchone()
            if lacks and lacks[0]:
                self.conn.execute(
                    sql.SQL(read_sql("add_candle_columns")).format(table=table, kind_check=kind_check)
                )
            self._price_tables.add(pair)
        return table

    def _write_prices(self, prices: list[Located[PriceEvent]], rows: dict[str, list[str]]) -> int:
        """Store the price rows (events and preformatted COPY lines); return how many were new.

        A batch of events never stored before (the usual case) is COPYed straight into the pair
        tables, at PostgreSQL's loading speed. If any of its event ids is stored already (a
        producer retry, a replay) that attempt is rolled back to its savepoint, and the batch
        goes through the staging table, whose INSERT skips the stored ids.
        """
        located: dict[str, list[Located[PriceEvent]]] = defaultdict(list)
        for item in prices:
            located[item.event.market.pair].append(item)
        pairs = sorted({*located, *(pair for pair, lines in rows.items() if lines)})
        if not pairs:
            return 0
        tables = {pair: self._ensure_price_table(pair) for pair in pairs}
        try:
            with self.conn.transaction(), self.conn.cursor() as cursor:
                for pair, table in tables.items():
                    with cursor.copy(sql.SQL(self._copy_prices).format(table=table)) as copy:
                        if pair in rows:
                            copy.write("".join(rows[pair]))
                        if pair in located:
                            copy_price_rows(copy, located[pair])
        except errors.UniqueViolation:
            log.info("Batch holds events stored before; storing only the new ones")
            return self._insert_new_prices(tables, located, rows)
        return len(prices) + sum(map(len, rows.values()))

    def _insert_new_prices(
        self,
        tables: dict[str, sql.Identifier],
        located: dict[str, list[Located[PriceEvent]]],
        rows: dict[str, list[str]],
    ) -> int:
        """Stage the rows, then insert each pair's into its table, skipping stored event ids."""
        with self.conn.cursor().copy(read_sql("copy_price_staging")) as copy:
            for pair, lines in rows.items():
                copy.write("".join([f"{pair}\t{line}" for line in lines]))
            for pair, items in located.items():
                copy_price_rows(copy, items, pair=pair)
        stored = 0
        for pair, table in tables.items():
            cursor = self.conn.execute(sql.SQL(self._insert_prices).format(table=table), {"pair": pair})
            stored += cursor.rowcount
        return stored

    def _write_candles(self, candles: list[Located[PriceEvent]]) -> int:
        """Store the candle rows (few: one per market and minute of a backfill); return how many were new.

        Apart from the COPY path of live ticks, in the same transaction: an event id stored before
        (the same minute backfilled again, a replay) is skipped by ``ON CONFLICT``.
        """
        if not candles:
            return 0
        stored = 0
        by_pair: dict[str, list[Located[PriceEvent]]] = defaultdict(list)
        for item in candles:
            by_pair[item.event.market.pair].append(item)
        for pair in sorted(by_pair):
            table = self._ensure_price_table(pair)
            rows = []
            for item in by_pair[pair]:
                event, candle = item.event, item.event.candle
                if candle is None:
                    raise ValueError(f"event {event.event_id} of {event.market} is not a candle")
                rows.append(
                    {
                        "close": event.price,
                        "open": candle.open,
                        "high": candle.high,
                        "low": candle.low,
                        "volume": candle.volume,
                        "source": event.market.source,
                        "exchange": event.market.exchange,
                        "observed_at": event.observed_at,
                        "event_id": event.event_id,
                        "kafka_partition": item.partition,
                        "kafka_offset": item.offset,
                    }
                )
            with self.conn.cursor() as cursor:
                cursor.executemany(sql.SQL(self._insert_candle).format(table=table), rows, returning=False)
                stored += cursor.rowcount
        return stored

    def _write_allowances(self, allowances: list[Located[AllowanceEvent]]) -> int:
        if not allowances:
            return 0
        rows = []
        for item in allowances:
            event = item.event
            rows.append(
                {
                    "remaining": event.remaining,
                    "cost": event.cost,
                    "remaining_paid": event.remaining_paid,
                    "source": event.market.source,
                    "exchange": event.market.exchange,
                    "pair": event.market.pair,
                    "observed_at": event.observed_at,
                    "event_id": event.event_id,
                    "kafka_partition": item.partition,
                    "kafka_offset": item.offset,
                }
            )
        with self.conn.cursor() as cursor:
            cursor.executemany(read_sql("insert_allowance"), rows, returning=False)
            # executemany's rowcount is the total over all rows; conflicts count as 0.
            return cursor.rowcount

    def _write_dead_letters(self, dead_letters: list[DeadLetter]) -> None:
        if not dead_letters:
            return
        for letter in dead_letters:
            log.warning(
                "Dead letter at %s[%d]@%d: %s", self.topic, letter.partition, letter.offset, letter.error
            )
        with self.conn.cursor() as cursor:
            cursor.executemany(
                read_sql("insert_dead_letter"),
                [
                    {
                        "topic": self.topic,
                        "kafka_partition": letter.partition,
                        "kafka_offset": letter.offset,
                        "message_key": letter.key,
                        "message_value": letter.value,
                        "error": letter.error,
                    }
                    for letter in dead_letters
                ],
            )

    def _write_offsets(self, next_offsets: dict[int, int]) -> None:
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


COPY_NEEDS_CARE: Final = ("\\", "\r", "sNaN")
"""In COPY's text format a backslash starts an escape and CR ends a row; psycopg writes the
decimal sNaN as ``NaN``. Tabs and newlines inside a value are caught by counting them."""


def _price_row(item: Located[PriceEvent]) -> tuple[Any, ...]:
    event = item.event
    market = event.market
    return (
        event.price,
        market.source,
        market.exchange,
        event.observed_at,
        event.event_id,
        item.partition,
        item.offset,
    )


def copy_price_rows(copy: Copy, items: list[Located[PriceEvent]], pair: str | None = None) -> None:
    """Send the rows of ``items`` (each after ``pair``, for the staging table) into ``copy``.

    ``copy.write_row`` spends ~3 µs a row in Python, so the rows are formatted here as one text,
    each value the way psycopg's text dumpers write it (``str`` of the Decimal, datetime, string
    or int). That text goes out as it is only if no value holds a tab, newline, CR or backslash,
    which would mean something else to COPY (exactly one newline per row and one tab between
    columns prove it for the first two); otherwise ``write_row`` escapes every value.
    """
    head = "" if pair is None else f"{pair}\t"
    text = "".join(
        [
            f"{head}{item.event.price}\t{item.event.market.source}\t{item.event.market.exchange}\t"
            f"{item.event.observed_at}\t{item.event.event_id}\t{item.partition}\t{item.offset}\n"
            for item in items
        ]
    )
    tabs_per_row = 6 if pair is None else 7
    if (
        text.count("\n") == len(items)
        and text.count("\t") == tabs_per_row * len(items)
        and not any(care in text for care in COPY_NEEDS_CARE)
    ):
        copy.write(text)
        return
    for item in items:
        row = _price_row(item)
        copy.write_row(row if pair is None else (pair, *row))
