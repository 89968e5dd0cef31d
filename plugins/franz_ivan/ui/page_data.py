"""What the "Crypto prices" page shows, read from the ``crypto_prices`` database (and the broker for lag).

Every function takes an open psycopg connection (the caller makes it read-only) and returns plain
JSON-ready values: times as epoch seconds or ISO 8601, prices as decimal strings so that no digit
is lost on the way to the browser. Nothing here writes; nothing secret (message bodies, connection
settings) is returned.
"""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from psycopg import sql

from franz_ivan.event_fields import EventError, validate_pair
from franz_ivan.hooks.kafka import PricesConsumerHook, PricesKafkaHook
from franz_ivan.pending import pending_events
from franz_ivan.settings import read_sql
from franz_ivan.store import PriceStore
from franz_ivan.topic_lifecycle import TopicIdentity
from franz_ivan.ui.page_params import MAX_PAIRS, ChartRange, max_rows

if TYPE_CHECKING:
    import psycopg
    from confluent_kafka import Consumer

BIN_ORIGIN: Final = datetime(1970, 1, 1, tzinfo=UTC)
"""Bins start at whole multiples of their width since the epoch, so a chart's points stay put."""
FRESHNESS_WINDOW: Final = timedelta(days=7)
"""How far back freshness looks: the longest chart range; a pair silent for longer shows as silent."""
ALLOWANCE_WINDOW: Final = timedelta(hours=24)
"""How far back the allowance looks: a budget figure older than a day says nothing about today's."""
DEAD_LETTER_WINDOW: Final = timedelta(hours=24)
MAX_DEAD_LETTERS_LISTED: Final = 20
MAX_ERROR_CHARS: Final = 300
MAX_FAILING_CHECKS: Final = 20
DEAD_LETTER_TABLE: Final = "crypto_prices_dead_letter"
ALLOWANCE_TABLE: Final = "cryptowatch_api_allowance"
OFFSETS_TABLE: Final = "crypto_prices_consumer_offsets"
QUALITY_TABLE: Final = "crypto_prices_quality_results"
LAG_WAIT_SECONDS: Final = 5.0
"""How long a lag request waits for another one's turn with the worker's Kafka clients."""
CANDLE_STAND_INS: Final = {
    "open": "NULL::numeric",
    "high": "NULL::numeric",
    "low": "NULL::numeric",
    "kind": "'tick'",
}
"""What the chart query reads where a price table predates the candle columns: every row a tick."""


class PageDataError(RuntimeError):
    """The database cannot answer what the page asks; the message names the table and the problem."""


class UnknownPairError(LookupError):
    """A valid pair that has no price table (yet)."""


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def table_exists(conn: psycopg.Connection, table: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
    return bool(row and row[0])


def price_tables(conn: psycopg.Connection) -> list[str]:
    """The pairs that have a price table, sorted; a table whose name is not a valid pair is skipped."""
    pairs = []
    for (name,) in conn.execute(read_sql("ui_price_tables"), {"max_pairs": MAX_PAIRS}):
        try:
            pairs.append(validate_pair(name))
        except EventError:
            continue  # a table of someone else's that happens to have these columns
    return pairs


def chart_window(chart_range: ChartRange, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` of a chart: from the start of the bin ``span`` ago to ``now``."""
    start = now - chart_range.span
    bins = math.floor((start - BIN_ORIGIN) / chart_range.bin)
    return BIN_ORIGIN + bins * chart_range.bin, now


def price_series(
    conn: psycopg.Connection, pair: str, chart_range: ChartRange, now: datetime
) -> dict[str, Any]:
    """One pair's chart: per source, exchange and kind a line of ``[bin start, open, high, low, close,
    rows]`` points, oldest first. ``truncated`` says the row bound cut lines short."""

    pair = validate_pair(pair)
    if not table_exists(conn, pair):
        raise UnknownPairError(f"pair {pair!r} has no price table: nothing was stored for it yet")
    since, until = chart_window(chart_range, now)
    limit = max_rows(chart_range)
    columns = {name for (name,) in conn.execute(read_sql("ui_price_columns"), {"table": pair})}
    candle_columns = {
        name: sql.Identifier(name) if name in columns else sql.SQL(stand_in)
        for name, stand_in in CANDLE_STAND_INS.items()
    }
    query = sql.SQL(read_sql("ui_prices")).format(table=sql.Identifier(pair), **candle_columns)
    params = {"bin": chart_range.bin, "origin": BIN_ORIGIN, "since": since, "until": until, "max_rows": limit}
    rows = conn.execute(query, params).fetchall()
    lines: dict[tuple[str, str, str], list[list[Any]]] = {}
    for bucket, source, exchange, kind, open_, high, low, close, samples in rows:
        lines.setdefault((source, exchange, kind), []).append(
            [
                int(bucket.timestamp()),
                decimal_text(open_),
                decimal_text(high),
                decimal_text(low),
                decimal_text(close),
                samples,
            ]
        )
    return {
        "pair": pair,
        "range": chart_range.name,
        "bin_seconds": int(chart_range.bin.total_seconds()),
        "since": int(since.timestamp()),
        "until": int(until.timestamp()),
        "truncated": len(rows) >= limit,
        "lines": [
            {"source": source, "exchange": exchange, "kind": kind, "points": points}
            for (source, exchange, kind), points in lines.items()
        ],
    }


def freshness(conn: psycopg.Connection, pairs: list[str], now: datetime) -> list[dict[str, Any]]:
    """Per market, the newest ``observed_at`` and its age in seconds; a pair silent for the whole
    window is listed once with ``null`` for both."""

    markets: list[dict[str, Any]] = []
    for pair in pairs:
        query = sql.SQL(read_sql("ui_freshness")).format(table=sql.Identifier(validate_pair(pair)))
        rows = conn.execute(query, {"now": now, "since": now - FRESHNESS_WINDOW}).fetchall()
        for source, exchange, newest, age in rows:
            markets.append(
                {
                    "pair": pair,
                    "source": source,
                    "exchange": exchange,
                    "newest_observed_at": newest.isoformat(),
                    "age_seconds": round(float(age), 3),
                }
            )
        if not rows:
            markets.append(
                {
                    "pair": pair,
                    "source": None,
                    "exchange": None,
                    "newest_observed_at": None,
                    "age_seconds": None,
                }
            )
    return markets


def allowance(conn: psycopg.Connection, now: datetime) -> list[dict[str, Any]]:
    """Per source, the newest allowance figure: what remains of its API budget, and when it was seen."""
    if not table_exists(conn, ALLOWANCE_TABLE):
        return []
    rows = conn.execute(read_sql("ui_allowance"), {"since": now - ALLOWANCE_WINDOW}).fetchall()
    return [
        {
            "source": source,
            "exchange": exchange,
            "pair": pair,
            "remaining": decimal_text(remaining),
            "cost": decimal_text(cost),
            "remaining_paid": decimal_text(remaining_paid),
            "observed_at": observed_at.isoformat(),
        }
        for source, exchange, pair, remaining, cost, remaining_paid, observed_at in rows
    ]


def dead_letters(conn: psycopg.Connection, now: datetime) -> dict[str, Any]:
    """How many messages became dead letters in the last 24 h, and the newest few (position and reason)."""
    if not table_exists(conn, DEAD_LETTER_TABLE):
        return {"count": 0, "latest": []}
    params = {
        "since": now - DEAD_LETTER_WINDOW,
        "max_rows": MAX_DEAD_LETTERS_LISTED,
        "max_error_chars": MAX_ERROR_CHARS,
    }
    rows = conn.execute(read_sql("ui_dead_letters"), params).fetchall()
    return {
        "count": rows[0][0] if rows else 0,
        "latest": [
            {
                "timestamp": recorded.isoformat(),
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "error": error,
            }
            for _, recorded, topic, partition, offset, error in rows
        ],
    }


def failing_checks(conn: psycopg.Connection) -> list[dict[str, Any]] | None:
    """The data-quality checks failing at their latest run; ``None`` where no checks are recorded
    (the consumer makes the table at its first drain, the quality DAG fills it)."""
    if not table_exists(conn, QUALITY_TABLE):
        return None
    recorded = conn.execute(read_sql("ui_quality_recorded")).fetchone()
    if not (recorded and recorded[0]):
        return None
    rows = conn.execute(read_sql("ui_failing_checks"), {"max_rows": MAX_FAILING_CHECKS}).fetchall()
    return [
        {
            "checked_at": checked_at.isoformat(),
            "check_name": check_name,
            "market": market,
            "observed_value": decimal_text(observed),
            "threshold": decimal_text(threshold),
            "message": message,
            "dag_run_id": dag_run_id,
        }
        for checked_at, check_name, market, observed, threshold, message, dag_run_id in rows
    ]


class LagReader:
    """The Kafka clients of ``/api/lag`` in one API-server worker: a consumer that reads watermarks
    and the admin client of :class:`~franz_ivan.topic_lifecycle.TopicIdentity`, made once and
    reused by every request, one request at a time (librdkafka clients are not shared between
    threads here), as the sensor's :class:`~franz_ivan.pending.PendingWatcher` reuses its own. The
    same :func:`~franz_ivan.pending.pending_events` with the topic's identity, so the page counts what
    the sensor counts, a re-created topic included.

    :param config: the Kafka connection's librdkafka settings.
    :param consumer_group: the drain's group (read nothing from it; no group is joined).
    """

    def __init__(self, config: dict[str, Any], consumer_group: str) -> None:
        self.config = config
        self.consumer_group = consumer_group
        self.consumer = self.new_consumer()
        self.identity = TopicIdentity(config)
        self.turn = threading.Lock()

    def new_consumer(self) -> Consumer:
        hook = PricesConsumerHook(consumer_group=self.consumer_group, config=self.config)
        consumer: Consumer = hook.get_conn
        return consumer

    def pending(self, conn: psycopg.Connection, topic: str) -> dict[int, int]:
        """Pending events per partition; waits at most :data:`LAG_WAIT_SECONDS` for its turn."""
        if not self.turn.acquire(timeout=LAG_WAIT_SECONDS):
            raise PageDataError(f"the lag is being read by another request for over {LAG_WAIT_SECONDS:g} s")
        try:
            # Where a fetch is needed a fresh consumer makes it, as for the sensor: librdkafka
            # crashes a consumer that had fetched from a topic when that topic is re-created.
            return pending_events(
                self.consumer, PriceStore(conn, topic, self.consumer_group), self.identity, self.new_consumer
            )
        finally:
            self.turn.release()

    def close(self) -> None:
        self.consumer.close()


_lag_readers: dict[tuple[str, str], LagReader] = {}
_lag_readers_lock = threading.Lock()


def lag_reader(kafka_conn_id: str, consumer_group: str) -> LagReader:
    """This worker's :class:`LagReader` for the connection's current settings (an edited connection
    gets new clients; the old ones are closed)."""
    config = {**PricesKafkaHook(kafka_conn_id).config(), "log_level": 4}
    key = (json.dumps(config, sort_keys=True, default=str), consumer_group)
    with _lag_readers_lock:
        reader = _lag_readers.get(key)
        if reader is None:
            for stale in [k for k in _lag_readers if k[1] == consumer_group]:
                _lag_readers.pop(stale).close()
            reader = _lag_readers[key] = LagReader(config, consumer_group)
        return reader


def consumer_lag(
    conn: psycopg.Connection, kafka_conn_id: str, topic: str, consumer_group: str
) -> dict[str, Any]:
    """Events of ``topic`` not stored yet, per partition: the broker's end offsets minus the positions
    stored with the rows, counted as the sensor counts them. Reads watermarks and the topic's id
    only, with this worker's reused clients (:func:`lag_reader`); joins no group, commits nothing."""

    if not table_exists(conn, OFFSETS_TABLE):
        raise PageDataError(f"table {OFFSETS_TABLE!r} does not exist: the consumer has not run yet")
    pending = lag_reader(kafka_conn_id, consumer_group).pending(conn, topic)
    return {
        "topic": topic,
        "consumer_group": consumer_group,
        "partitions": {str(partition): count for partition, count in sorted(pending.items())},
        "total": sum(pending.values()),
    }
