"""Find the minutes a market's table is missing, and print the backfill command that fills them.

Run it where the Airflow connections are defined (a scheduler or worker container)::

    python -m franz_ivan.gaps --from 2026-12-01T08:00 --to 2026-12-01T11:00 --market kraken:btcusd

Without ``--market`` every market found in the pair tables is checked. A minute counts as filled
when the market has any row in it, live tick or candle (``include/sql/find_gaps.sql``). The
ranges the drain recorded as lost to the topic's retention (``crypto_prices_retention_gaps``,
when that table exists) are listed too: their minutes show up among the missing ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg import sql

from franz_ivan.event_fields import validate_pair
from franz_ivan.events import Market
from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.markets import parse_market
from franz_ivan.settings import POSTGRES_CONN_ID, read_sql, settings

if TYPE_CHECKING:
    import psycopg

PRODUCER_DAG_ID = "crypto_prices_producer"
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Gap:
    """Minutes ``[start, end)`` in which ``market`` has no row."""

    market: Market
    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / MINUTE)


def table_exists(conn: psycopg.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", (sql.Identifier(name).as_string(conn),)
    ).fetchone()
    return bool(row and row[0])


def find_gaps(conn: psycopg.Connection, market: Market, start: datetime, end: datetime) -> list[Gap]:
    """The runs of minutes in ``[start, end)`` (whole minutes) with no row of ``market``."""
    if start.second or start.microsecond or end.second or end.microsecond:
        raise ValueError(
            f"the window {start.isoformat()} to {end.isoformat()} must start and end on whole minutes"
        )
    if end <= start:
        raise ValueError(f"the window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    pair = validate_pair(market.pair)
    if not table_exists(conn, pair):
        return [Gap(market, start, end)]
    rows = conn.execute(
        sql.SQL(read_sql("find_gaps")).format(table=sql.Identifier(pair)),
        {"start": start, "end": end, "source": market.source, "exchange": market.exchange},
    ).fetchall()
    return [Gap(market, first.astimezone(UTC), after.astimezone(UTC)) for first, after, _ in rows]


def stored_markets(conn: psycopg.Connection) -> list[Market]:
    """Every market with rows in a pair table (a table with the price columns and ``event_id``)."""
    tables = conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'kafka_offset' AND table_name NOT IN "
        "('cryptowatch_api_allowance', 'crypto_prices_dead_letter') ORDER BY table_name"
    ).fetchall()
    markets = []
    for (name,) in tables:
        query = sql.SQL("SELECT DISTINCT source, exchange FROM {} ORDER BY 1, 2").format(sql.Identifier(name))
        markets += [Market(source, exchange, name) for source, exchange in conn.execute(query).fetchall()]
    return markets


def retention_gaps(conn: psycopg.Connection, topic_name: str, start: datetime) -> list[tuple[Any, ...]]:
    """The retention losses of ``topic_name`` detected since ``start``; none when nothing records them."""
    if not table_exists(conn, "crypto_prices_retention_gaps"):
        return []
    return conn.execute(read_sql("select_retention_gaps"), {"topic": topic_name, "start": start}).fetchall()


def backfill_command(gap: Gap) -> str:
    """The ``airflow backfill create`` that fills ``gap``: one producer run per minute of it.

    A run's logical date is the start of the minute it covers, and ``--to-date`` is inclusive,
    so the last run is the one for the gap's last minute. Runs that exist already (a failed
    scheduled run) are run again as backfill runs.
    """
    last = gap.end - MINUTE
    return (
        f"airflow backfill create --dag-id {PRODUCER_DAG_ID} --from-date {gap.start:%Y-%m-%dT%H:%M:%S}+00:00 "
        f"--to-date {last:%Y-%m-%dT%H:%M:%S}+00:00 --reprocess-behavior completed"
    )


def report(gaps: list[Gap], lost: list[tuple[Any, ...]]) -> str:
    """What the command prints: the missing ranges per market, the retention losses, the backfills."""
    lines = []
    for market in dict.fromkeys(gap.market for gap in gaps):
        mine = [gap for gap in gaps if gap.market == market]
        total = sum(gap.minutes for gap in mine)
        lines.append(f"{market}: {total} missing minutes in {len(mine)} ranges")
        lines += [
            f"  {gap.start:%Y-%m-%d %H:%M} to {gap.end:%Y-%m-%d %H:%M} UTC ({gap.minutes} minutes)"
            for gap in mine
        ]
    if not gaps:
        lines.append("No missing minutes.")
    for topic_name, partition, from_offset, to_offset, detected_at in lost:
        lines.append(
            f"retention loss: {topic_name}[{partition}] offsets {from_offset} to {to_offset}, "
            f"detected {detected_at:%Y-%m-%d %H:%M:%S} UTC"
        )
    ranges = sorted({(gap.start, gap.end) for gap in gaps})
    if ranges:
        lines.append("To fill them:")
        lines += [f"  {backfill_command(Gap(gaps[0].market, start, end))}" for start, end in ranges]
    return "\n".join(lines)


def parse_minute(text: str) -> datetime:
    """An ISO 8601 time, UTC when it names no zone, cut to the minute."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time such as 2026-12-01T08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def main(argv: Sequence[str] | None = None) -> int:

    parser = argparse.ArgumentParser(
        prog="python -m franz_ivan.gaps",
        description="List each market's missing minutes in a window and the backfill that fills them.",
    )
    parser.add_argument("--from", dest="start", type=parse_minute, required=True, help="window start (UTC)")
    parser.add_argument("--to", dest="end", type=parse_minute, help="window end, exclusive (default: now)")
    parser.add_argument(
        "--market",
        action="append",
        type=parse_market,
        help="e.g. kraken:btcusd (repeatable; default: all stored)",
    )
    parser.add_argument(
        "--topic", default=settings().topic, help="for the retention losses (default: CRYPTO_PRICES_TOPIC)"
    )
    parser.add_argument("--postgres-conn-id", default=POSTGRES_CONN_ID)
    args = parser.parse_args(argv)
    end = args.end or parse_minute(datetime.now(UTC).isoformat())
    with PricesPostgresHook(args.postgres_conn_id).get_conn() as conn:
        markets = args.market or stored_markets(conn)
        gaps = [gap for market in markets for gap in find_gaps(conn, market, args.start, end)]
        lost = retention_gaps(conn, args.topic, args.start)
    print(report(gaps, lost))
    return 0


if __name__ == "__main__":
    sys.exit(main())
