"""The quality checks as plain functions of a psycopg connection, and where their verdicts go.

Each check returns one :class:`CheckResult` per market (or pair, source, topic) it judged. The DAG
records them all in ``crypto_prices_quality_results`` and, if any failed, calls the notifier and
fails the task with a message naming each market, its figure and the threshold
(:func:`franz_ivan.quality.runner.run_check`). The checks read the clock only through ``as_of``,
so a test can judge an hour of stored prices as of any moment.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from psycopg import sql

from franz_ivan.events import Market
from franz_ivan.quality.config import QualityConfig
from franz_ivan.settings import read_sql
from franz_ivan.store import ALLOWANCE_TABLE, DEAD_LETTER_TABLE
from franz_ivan.store_schema import lock_schema

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

STALENESS: Final = "staleness"
SPIKE: Final = "spike"
DIVERGENCE: Final = "divergence"
ALLOWANCE: Final = "allowance"
DEAD_LETTERS: Final = "dead_letters"
CONSUMER_LAG: Final = "consumer_lag"
CHECKS: Final = (STALENESS, SPIKE, DIVERGENCE, ALLOWANCE, DEAD_LETTERS, CONSUMER_LAG)
OFFSETS_TABLE: Final = "crypto_prices_consumer_offsets"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on one market (or pair, source, topic).

    :param check: the check's name, one of :data:`CHECKS`.
    :param market: what was judged: ``source:exchange:pair``, a pair, a source or a topic.
    :param observed: the figure measured (None: nothing to measure, e.g. no price at all).
    :param threshold: the figure it was held against.
    :param passed: whether the figure was within the threshold.
    :param message: what was found, in words, naming market, figure and threshold.
    """

    check: str
    market: str
    observed: Decimal | None
    threshold: Decimal
    passed: bool
    message: str


def _figure(value: Any) -> Decimal:
    """``value`` to four decimals, trailing zeros dropped (``10``, not ``1E+1``)."""
    figure = Decimal(value).quantize(Decimal("0.0001"))
    return figure.quantize(Decimal(1)) if figure == figure.to_integral() else figure.normalize()


def _result(
    check: str, market: str, observed: Any, threshold: float, *, passed: bool, message: str
) -> CheckResult:
    figure = None if observed is None else _figure(observed)
    return CheckResult(check, market, figure, _figure(threshold), passed, message)


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def price_tables(conn: psycopg.Connection) -> list[str]:
    """The pair tables that exist now."""
    return [name for (name,) in conn.execute(read_sql("quality_price_tables")).fetchall()]


def _per_table(
    conn: psycopg.Connection, name: str, table: str, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    query = sql.SQL(read_sql(name)).format(table=sql.Identifier(table))
    return list(conn.execute(query, params).fetchall())


def check_staleness(
    conn: psycopg.Connection, config: QualityConfig, markets: Sequence[Market], as_of: datetime
) -> list[CheckResult]:
    """Each configured market: minutes without a new price (no row, or the same price) as of ``as_of``."""
    lookback = config.staleness_lookback_minutes
    tables = set(price_tables(conn))
    unchanged: dict[str, tuple[Any, Any]] = {}
    for pair in sorted({market.pair for market in markets} & tables):
        params = {"as_of": as_of, "lookback_minutes": lookback}
        for source, exchange, minutes, price, since, newest in _per_table(
            conn, "quality_staleness", pair, params
        ):
            unchanged[f"{source}:{exchange}:{pair}"] = (
                minutes,
                f"{price} since {_utc(since)}, newest row {_utc(newest)}",
            )
    results = []
    for market in markets:
        limit = config.for_market(market).stale_after_minutes
        minutes, detail = unchanged.get(market.key, (None, ""))
        if minutes is None:
            message = f"{market.key}: no price in the last {lookback} min (threshold {limit:g} min)"
            results.append(_result(STALENESS, market.key, None, limit, passed=False, message=message))
            continue
        passed = minutes <= limit
        message = (
            f"{market.key}: no new price for {minutes:.1f} min ({detail}) "
            f"({'within' if passed else 'over'} the threshold of {limit:g} min)"
        )
        results.append(_result(STALENESS, market.key, minutes, limit, passed=passed, message=message))
    return results


def check_spikes(conn: psycopg.Connection, config: QualityConfig, as_of: datetime) -> list[CheckResult]:
    """Each market with recent prices: the one farthest from the median of its rolling window."""
    params = {
        "as_of": as_of,
        "window_minutes": config.spike_window_minutes,
        "recent_minutes": config.recent_minutes,
    }
    results = []
    for pair in price_tables(conn):
        for source, exchange, percent, value, median, observed_at in _per_table(
            conn, "quality_spike", pair, params
        ):
            market = Market(source, exchange, pair)
            limit = config.for_market(market).spike_percent
            passed = percent is not None and percent <= limit
            message = (
                f"{market.key}: price {value} at {_utc(observed_at)} is {percent:.2f} % from "
                f"the {config.spike_window_minutes}-min median {median:.8g} "
                f"({'within' if passed else 'over'} the threshold of {limit:g} %)"
            )
            results.append(_result(SPIKE, market.key, percent, limit, passed=passed, message=message))
    return results


def check_divergence(conn: psycopg.Connection, config: QualityConfig, as_of: datetime) -> list[CheckResult]:
    """Each pair quoted by two markets or more in the same minutes: how far apart they are."""
    params = {"as_of": as_of, "recent_minutes": config.recent_minutes}
    results = []
    for pair in price_tables(conn):
        for median, minutes, farthest, newest in _per_table(conn, "quality_divergence", pair, params):
            limit = config.for_pair(pair).divergence_percent
            passed = median <= limit
            message = (
                f"{pair}: markets {median:.2f} % apart (median over {minutes} min of the last "
                f"{config.recent_minutes}; newest minute {newest:.2f} % apart, {farthest} farthest from "
                f"the others) ({'within' if passed else 'over'} the threshold of {limit:g} %)"
            )
            results.append(_result(DIVERGENCE, pair, median, limit, passed=passed, message=message))
    return results


def check_allowance(conn: psycopg.Connection, config: QualityConfig, as_of: datetime) -> list[CheckResult]:
    """Each source that reports an allowance: what remains, as a fraction of its highest figure."""
    params = {"as_of": as_of, "lookback_minutes": config.allowance_lookback_minutes}
    results = []
    for source, remaining, highest in conn.execute(read_sql("quality_allowance"), params).fetchall():
        limit = config.for_source(source).allowance_min_fraction
        fraction = remaining / highest if highest > 0 else Decimal(0)
        passed = fraction >= limit
        message = (
            f"{source}: allowance {remaining} left, {fraction:.1%} of the highest figure {highest} "
            f"({'above' if passed else 'below'} the threshold of {limit:.1%})"
        )
        results.append(_result(ALLOWANCE, source, fraction, limit, passed=passed, message=message))
    return results


def previous_figure(conn: psycopg.Connection, check: str, market: str) -> Decimal | None:
    """The figure ``check`` recorded for ``market`` the last time it ran, if it ever did."""
    row = conn.execute(
        read_sql("quality_previous_result"), {"check_name": check, "market": market}
    ).fetchone()
    return None if row is None else row[0]


def check_consumer_lag(
    conn: psycopg.Connection, config: QualityConfig, topic: str, pending: Mapping[int, int]
) -> CheckResult:
    """Events of ``topic`` not stored yet: fails above the threshold if more than at the last check.

    :param pending: per partition, the events between the stored position and the log's end.
    """
    lag = sum(pending.values())
    limit = config.consumer_lag_max_events
    before = previous_figure(conn, CONSUMER_LAG, topic)
    growing = before is not None and lag > before
    passed = lag <= limit or not growing
    trend = "no earlier check" if before is None else f"{before} at the previous check"
    message = (
        f"{topic}: {lag} events not stored yet ({trend}; "
        f"{'within' if passed else 'over'} the threshold of {limit} events while growing)"
    )
    return _result(CONSUMER_LAG, topic, lag, limit, passed=passed, message=message)


def tables_read(check: str, market: str) -> tuple[str, ...]:
    """The tables ``check`` read to judge ``market`` (what its lineage reports as inputs)."""
    if check in (STALENESS, SPIKE):
        return (market.rsplit(":", 1)[-1],)  # source:exchange:pair
    if check == DIVERGENCE:
        return (market,)  # the pair
    if check == ALLOWANCE:
        return (ALLOWANCE_TABLE,)
    if check == DEAD_LETTERS:
        return (DEAD_LETTER_TABLE,)
    if check == CONSUMER_LAG:
        return (OFFSETS_TABLE,)
    raise ValueError(f"unknown quality check {check!r}")


def record_results(conn: psycopg.Connection, results: Iterable[CheckResult], dag_run_id: str | None) -> None:
    """Add the verdicts to ``crypto_prices_quality_results``, in one transaction."""
    rows = [
        {
            "check_name": result.check,
            "market": result.market,
            "observed_value": result.observed,
            "threshold": result.threshold,
            "status": "pass" if result.passed else "fail",
            "message": result.message,
            "dag_run_id": dag_run_id,
        }
        for result in results
    ]
    if not rows:
        return
    with conn.transaction(), conn.cursor() as cursor:
        cursor.executemany(read_sql("quality_insert_result"), rows)


def failure_message(check: str, results: Sequence[CheckResult]) -> str | None:
    """One message naming every failed market with its figure and threshold; None if all passed."""
    failed = [result for result in results if not result.passed]
    if not failed:
        return None
    lines = "\n".join(f"- {result.message}" for result in failed)
    return f"Data quality check {check!r} failed for {len(failed)} of {len(results)}:\n{lines}"


def prepare_tables(conn: psycopg.Connection) -> None:
    """Create the pipeline's tables (if the consumer has not yet) and the results table."""

    with conn.transaction():
        lock_schema(conn)
        conn.execute(read_sql("create_schema"))
        conn.execute(read_sql("quality_create_results"))
