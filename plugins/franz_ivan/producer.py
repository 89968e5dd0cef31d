"""One source's markets turned into events: fetch them all, publish what came, then report what failed.

The producer DAG runs :func:`publish_source` once per source and run. The source's markets are
fetched concurrently (``CRYPTO_PRICES_FETCH_CONCURRENCY`` at a time, default 20) over one HTTP
session, at the pace :mod:`franz_ivan.sources.pacing` sets. A source that reports its allowance
and has a floor above zero is asked for its first market alone, so that an allowance below the
floor spares the others; every other source's markets go out at once.

Every event id is derived from (run, market, kind), so a retried task re-sends the same ids and
the consumer stores each observation once.

A run whose data interval ended at least ``CRYPTO_PRICES_HISTORY_AFTER`` seconds ago (default
300: a backfill, ``airflow dags test`` of a past date, a run the scheduler started late) asks
each market's history instead of its ticker (:mod:`franz_ivan.sources.history`): one candle
event per ended minute of the interval, its id derived from (market, minute) alone, so that
backfilling the same minutes again stores nothing new.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import requests
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException
from requests.adapters import HTTPAdapter

from franz_ivan.event_fields import event_id_for, format_time
from franz_ivan.events import AllowanceEvent, Event, Market, PriceEvent
from franz_ivan.hooks.kafka import PricesKafkaHook
from franz_ivan.markets import parse_market
from franz_ivan.publish import ensure_topic, publish
from franz_ivan.settings import api_conn_id, settings
from franz_ivan.sources import SOURCES, Endpoint, PriceSource, SourceError, fetch_quote
from franz_ivan.sources.base import USER_AGENT, Allowance
from franz_ivan.sources.history import fetch_history
from franz_ivan.sources.pacing import SourcePacer

if TYPE_CHECKING:
    from collections.abc import Callable

    import requests

    from franz_ivan.sources.history import History

log = logging.getLogger(__name__)


def source_endpoint(source: PriceSource) -> Endpoint:
    """Base URL and API key of ``source`` from its connection ``<source>_api``, or its public URL.

    The connection is optional: host = base URL (``https://`` unless it names a scheme, ``schema``
    picks another), password = API key.
    """
    try:
        conn = BaseHook.get_connection(api_conn_id(source.name))
    except AirflowNotFoundException:
        return Endpoint(source.default_base_url)
    if not conn.host:
        base_url = source.default_base_url
    elif "://" in conn.host:
        base_url = conn.host
    else:
        base_url = f"{conn.schema or 'https'}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    return Endpoint(base_url, conn.password or None)


class SourceFetchError(RuntimeError):
    """Some markets of a source gave no price this run; the message names each market and problem."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What asking one market gave: events to publish, and the error or the reason it was skipped."""

    market: Market
    events: list[tuple[str, Event]]
    error: SourceError | None = None
    skipped: str | None = None


def past_window(
    start: datetime | None, end: datetime | None, now: datetime | None = None
) -> tuple[datetime, datetime] | None:
    """The run's data interval if it lies in the past (fetch history), else None (fetch tickers).

    A live run starts seconds after its interval ends; one whose interval ended
    :attr:`Settings.history_after_seconds` (``CRYPTO_PRICES_HISTORY_AFTER``) ago or more is a
    backfill or a late run, and its minutes are history.
    """
    if start is None or end is None or end <= start:
        return None
    # Airflow hands pendulum times; the window is kept in plain datetimes (timedelta arithmetic).
    start, end = (datetime.fromtimestamp(moment.timestamp(), UTC) for moment in (start, end))
    if end > (now or datetime.now(UTC)) - timedelta(seconds=settings().history_after_seconds):
        return None
    return start, end


def candle_event_id(market: Market, minute: datetime) -> str:
    """The same id for the same market and minute whichever run fetched it."""
    return event_id_for("candle", market.key, format_time(minute))


def allowance_event(
    run_key: str, market: Market, observed_at: datetime, allowance: Allowance
) -> AllowanceEvent:
    return AllowanceEvent(
        event_id=event_id_for(run_key, market.key, AllowanceEvent.type),
        market=market,
        observed_at=observed_at,
        remaining=allowance.remaining,
        cost=allowance.cost,
        remaining_paid=allowance.remaining_paid,
    )


def observe(
    session: requests.Session, endpoint: Endpoint, market: Market, run_key: str, pacer: SourcePacer
) -> Observation:
    """Ask for ``market``'s price unless its source's allowance is below the floor; never raises."""

    def price() -> Observation:
        quote = pacer.fetch(market, lambda: fetch_quote(session, endpoint, market))
        price = PriceEvent(
            event_id=event_id_for(run_key, market.key, PriceEvent.type),
            market=market,
            observed_at=quote.observed_at,
            price=quote.price,
        )
        events: list[tuple[str, Event]] = [(market.key, price)]
        if quote.allowance is not None:
            events.append((market.key, allowance_event(run_key, market, quote.observed_at, quote.allowance)))
        log.info("%s: price %s at %s", market, quote.price, quote.observed_at.isoformat())
        return Observation(market, events)

    return ask_unless_short(market, run_key, pacer, price)


def observe_history(
    session: requests.Session,
    endpoint: Endpoint,
    market: Market,
    run_key: str,
    pacer: SourcePacer,
    *,
    window: tuple[datetime, datetime],
) -> Observation:
    """The candle events of ``market`` in ``window``; what failed, or lay beyond reach, as the error."""

    def candles() -> Observation:
        history: History = fetch_history(session, endpoint, market, window, pacer)
        events: list[tuple[str, Event]] = [
            (
                market.key,
                PriceEvent(
                    event_id=candle_event_id(market, candle.minute),
                    market=market,
                    observed_at=candle.minute,
                    price=candle.close,
                    candle=candle.candle,
                ),
            )
            for candle in history.candles
        ]
        if history.allowance is not None:
            events.append(
                (market.key, allowance_event(run_key, market, datetime.now(UTC), history.allowance))
            )
        log.info(
            "%s: %d candles for %s to %s",
            market,
            len(history.candles),
            window[0].isoformat(),
            window[1].isoformat(),
        )
        beyond = None if history.beyond_reach is None else SourceError(market, history.beyond_reach)
        return Observation(market, events, beyond)

    return ask_unless_short(market, run_key, pacer, candles)


def ask_unless_short(
    market: Market, run_key: str, pacer: SourcePacer, ask: Callable[[], Observation]
) -> Observation:
    """What ``ask`` observes, unless the source's allowance is below its floor; never raises.

    A :class:`SourceError` is logged and observed as the market's error, with an allowance event
    when the failed answer still reported the allowance.
    """
    shortfall = pacer.shortfall()
    if shortfall is not None:
        log.warning("%s: skipped this run: %s", market, shortfall)
        return Observation(market, [], skipped=shortfall)
    try:
        return ask()
    except SourceError as error:
        log.error("%s", error)
        events: list[tuple[str, Event]] = []
        if error.allowance is not None:
            events.append((market.key, allowance_event(run_key, market, datetime.now(UTC), error.allowance)))
        return Observation(market, events, error)


def new_session(pool_size: int) -> requests.Session:
    """An HTTP session whose connection pool fits ``pool_size`` concurrent fetches."""

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size))
    return session


def observe_source(
    source: PriceSource,
    endpoint: Endpoint,
    markets: list[Market],
    run_key: str,
    pacer: SourcePacer,
    *,
    window: tuple[datetime, datetime] | None = None,
) -> list[Observation]:
    """Observe ``markets`` concurrently; first one alone when an allowance floor could spare the rest.

    :param window: a past data interval: fetch its candles rather than the tickers.
    """
    concurrency = settings().fetch_concurrency
    first = markets[:1] if source.reports_allowance and pacer.floor > 0 else []
    rest = markets[len(first) :]

    def observe_one(session: requests.Session, market: Market) -> Observation:
        if window is None:
            return observe(session, endpoint, market, run_key, pacer)
        return observe_history(session, endpoint, market, run_key, pacer, window=window)

    with new_session(concurrency) as session:
        observations = [observe_one(session, market) for market in first]
        if rest:
            workers = min(concurrency, len(rest))
            with ThreadPoolExecutor(workers, thread_name_prefix=source.name) as pool:
                observations += pool.map(lambda market: observe_one(session, market), rest)
    return observations


def publish_source(
    source_name: str,
    market_keys: list[str],
    run_key: str,
    window: tuple[datetime, datetime] | None = None,
) -> dict[str, object]:
    """Fetch one source's markets, publish every event they gave, then raise if any price failed.

    :param market_keys: :attr:`Market.key` values, all of source ``source_name``.
    :param run_key: names the DAG run; event ids derive from it.
    :param window: a past data interval (see :func:`past_window`): publish its one-minute candles
        instead of the current prices; a window beyond the source's reach fails after publishing
        what could be had.
    :raises SourceFetchError: naming each failed market and its problem, after publishing the rest.
    """

    source = SOURCES[source_name]
    markets = [parse_market(key) for key in market_keys]
    strangers = [market.key for market in markets if market.source != source_name]
    if strangers:
        raise ValueError(f"markets {strangers} are not {source_name} markets")
    config = settings()
    pacer = SourcePacer(source_name, config.pacing(), config.allowance_floor(source_name))
    observations = observe_source(source, source_endpoint(source), markets, run_key, pacer, window=window)
    events = [event for observation in observations for event in observation.events]
    if events:
        cluster = PricesKafkaHook().config()
        timeout = config.delivery_timeout_seconds
        ensure_topic(cluster, config.topic, config.topic_partition_count, timeout)
        publish(cluster, config.topic, events, timeout)
    failures = [observation.error for observation in observations if observation.error is not None]
    if failures:
        what = "gave no price" if window is None else "were not filled from history"
        raise SourceFetchError(
            f"{len(failures)} of {len(markets)} {source_name} markets {what}: "
            + "; ".join(str(error) for error in failures)
        )
    return {
        "source": source_name,
        "window": None if window is None else [format_time(window[0]), format_time(window[1])],
        "prices": sum(isinstance(event, PriceEvent) for _, event in events),
        "events": len(events),
        "skipped": [observation.market.key for observation in observations if observation.skipped],
    }
