"""What the quality DAG's tasks do: read the settings, run one check, record it, alarm, fail.

A failing check records its verdicts first, then fails its task with :class:`DataQualityError`,
which Airflow does not retry: the data will not change by asking again. The DAG's
``on_failure_callback`` (``WebhookNotifier`` on the ``crypto_prices_alerts`` connection, a logged
no-op without it) sends the error's text, so a check that fails and a check that could not run
(database down) alert the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import Variable
from airflow.sdk.exceptions import AirflowFailException

from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.markets import parse_market, parse_markets
from franz_ivan.pending import pending_now
from franz_ivan.pending_query import PendingQuery
from franz_ivan.quality.checks import (
    ALLOWANCE,
    CONSUMER_LAG,
    DIVERGENCE,
    SPIKE,
    STALENESS,
    CheckResult,
    check_allowance,
    check_consumer_lag,
    check_divergence,
    check_spikes,
    check_staleness,
    failure_message,
    prepare_tables,
    record_results,
)
from franz_ivan.quality.config import QUALITY_VARIABLE, QualityConfig, parse_config
from franz_ivan.settings import (
    CONSUMER_GROUP,
    DEFAULT_MARKETS,
    KAFKA_CONN_ID,
    MARKETS_VARIABLE,
    POSTGRES_CONN_ID,
    settings,
)

log = logging.getLogger(__name__)


class DataQualityError(AirflowFailException):
    """A quality check failed; the message names each market, its figure and the threshold."""


def load_settings() -> dict[str, Any]:
    """Create the tables if missing; the settings and market keys the checks run with (small XCom)."""

    config = parse_config(Variable.get(QUALITY_VARIABLE, default=None))
    markets = parse_markets(Variable.get(MARKETS_VARIABLE, default=json.dumps(DEFAULT_MARKETS)))
    with PricesPostgresHook(POSTGRES_CONN_ID).get_conn() as conn:
        prepare_tables(conn)
    return {
        "config": config.as_json(),
        "markets": [market.key for market in markets],
        "topic": settings().topic,
        "dead_letters_max": config.dead_letters_max,
    }


def judge(
    check: str,
    conn: Any,
    config: QualityConfig,
    markets: Sequence[str],
    topic: str,
    *,
    as_of: datetime | None = None,
) -> list[CheckResult]:
    """The verdicts of ``check`` on the data as of ``as_of`` (by default now), nothing recorded.

    :param markets: the market keys of the markets Variable (staleness judges each).
    :param topic: the topic whose consumer lag is judged.
    """

    as_of = as_of or datetime.now(UTC)
    if check == STALENESS:
        return check_staleness(conn, config, [parse_market(key) for key in markets], as_of)
    if check == SPIKE:
        return check_spikes(conn, config, as_of)
    if check == DIVERGENCE:
        return check_divergence(conn, config, as_of)
    if check == ALLOWANCE:
        return check_allowance(conn, config, as_of)
    if check == CONSUMER_LAG:
        return [check_consumer_lag(conn, config, topic, _pending_events(topic))]
    raise ValueError(f"unknown quality check {check!r}")


def _pending_events(topic: str) -> dict[int, int]:

    return pending_now(PendingQuery(topic, CONSUMER_GROUP, KAFKA_CONN_ID, POSTGRES_CONN_ID))


def judge_and_record(check: str, settings: Mapping[str, Any], run_id: str | None) -> list[CheckResult]:
    """Run ``check`` and record its verdicts; return them (the caller fails on a failed one).

    :param check: one of the check names of :mod:`franz_ivan.quality.checks`.
    :param settings: what :func:`load_settings` returned.
    :param run_id: the DAG run the verdicts are recorded under.
    """

    config = parse_config(settings["config"])
    with PricesPostgresHook(POSTGRES_CONN_ID).get_conn() as conn:
        results = judge(check, conn, config, settings["markets"], settings["topic"])
        record_results(conn, results, run_id)
    for result in results:
        log.info("%s %s: %s", check, "pass" if result.passed else "FAIL", result.message)
    return results


def fail_if_any_failed(check: str, results: Sequence[CheckResult]) -> None:
    """Raise :class:`DataQualityError` if any of ``results`` failed."""
    message = failure_message(check, results)
    if message is not None:
        raise DataQualityError(message)
