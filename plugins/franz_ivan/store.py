"""PostgreSQL side of the pipeline: batched writes of drained events.

A batch (price rows, allowance rows, dead letters and the partitions' next offsets) is written
in **one transaction**. The next offsets are read back at the start of every drain, so after a
crash the drain resumes exactly after the last committed batch: nothing is stored twice and
nothing is skipped. Event ids are primary keys as well, so an event the producer sent twice
(a retried task) is stored once. The tables and advisory locks are made in
:mod:`franz_ivan.store_schema`, the positions read and written in :mod:`franz_ivan.positions`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from psycopg import errors, sql

from franz_ivan.copy_rows import copy_price_rows
from franz_ivan.event_fields import validate_pair
from franz_ivan.events import AllowanceEvent, Located, PriceEvent
from franz_ivan.positions import PositionStore
from franz_ivan.settings import read_sql
from franz_ivan.store_schema import create_price_table, prepare_schema

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

ALLOWANCE_TABLE: Final = "cryptowatch_api_allowance"
DEAD_LETTER_TABLE: Final = "crypto_prices_dead_letter"


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
    (:func:`franz_ivan.encoded_price.encoded_price_row`). Stored as ``prices`` are."""

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
    tables: dict[str, int] = field(default_factory=dict)
    """Rows stored per table that got any: each pair table, the allowance and dead-letter tables
    (what the consumer DAG reports as lineage)."""


class PriceStore(PositionStore):
    """Writes drained events, with the positions they advance, into the ``crypto_prices`` database.

    :param conn: an open psycopg connection (autocommit off), owned by the caller.
    :param topic: the topic whose positions are stored.
    :param consumer_group: names the stored positions (and the Kafka group they are mirrored to).
    """

    def __init__(self, conn: psycopg.Connection, topic: str, consumer_group: str) -> None:
        super().__init__(conn, topic, consumer_group)
        self._price_tables: set[str] = set()
        self._insert_prices = read_sql("insert_prices_from_staging")
        self._copy_prices = read_sql("copy_price_table")
        self._insert_candle = read_sql("insert_candle")

    def prepare(self) -> None:
        """Create the shared tables and this session's staging table if they are missing."""
        prepare_schema(self.conn)

    def write(self, batch: Batch) -> BatchCounts:
        """Store ``batch`` and advance the stored offsets, all in one transaction."""
        known_tables = set(self._price_tables)
        try:
            with self.conn.transaction():
                tables = self._write_prices(batch.prices, batch.price_rows)
                for pair, stored_rows in self._write_candles(batch.candles).items():
                    tables[pair] = tables.get(pair, 0) + stored_rows
                price_rows = sum(tables.values())
                tables[ALLOWANCE_TABLE] = allowance_rows = self._write_allowances(batch.allowances)
                self._write_dead_letters(batch.dead_letters)
                tables[DEAD_LETTER_TABLE] = len(batch.dead_letters)
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
            tables={table: rows for table, rows in tables.items() if rows},
        )

    def _ensure_price_table(self, pair: str) -> sql.Identifier:
        if pair not in self._price_tables:
            table = create_price_table(self.conn, pair)
            self._price_tables.add(pair)
            return table
        return sql.Identifier(validate_pair(pair))

    def _write_prices(self, prices: list[Located[PriceEvent]], rows: dict[str, list[str]]) -> dict[str, int]:
        """Store the price rows (events and preformatted COPY lines); return how many were new per pair.

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
            return {}
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
        return {pair: len(located.get(pair, ())) + len(rows.get(pair, ())) for pair in pairs}

    def _insert_new_prices(
        self,
        tables: dict[str, sql.Identifier],
        located: dict[str, list[Located[PriceEvent]]],
        rows: dict[str, list[str]],
    ) -> dict[str, int]:
        """Stage the rows, then insert each pair's into its table, skipping stored event ids."""
        with self.conn.cursor().copy(read_sql("copy_price_staging")) as copy:
            for pair, lines in rows.items():
                copy.write("".join([f"{pair}\t{line}" for line in lines]))
            for pair, items in located.items():
                copy_price_rows(copy, items, pair=pair)
        stored = {}
        for pair, table in tables.items():
            cursor = self.conn.execute(sql.SQL(self._insert_prices).format(table=table), {"pair": pair})
            stored[pair] = cursor.rowcount
        return stored

    def _write_candles(self, candles: list[Located[PriceEvent]]) -> dict[str, int]:
        """Store the candle rows (few: one per market and minute of a backfill); how many were new per pair.

        Apart from the COPY path of live ticks, in the same transaction: an event id stored before
        (the same minute backfilled again, a replay) is skipped by ``ON CONFLICT``.
        """
        stored: dict[str, int] = {}
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
                stored[pair] = cursor.rowcount
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
