"""One source's markets turned into events: fetch them all, publish what came, then report what failed.

The producer DAG runs :func:`publish_source` once per source and run. The source's markets are
fetched concurrently (``CRYPTO_PRICES_FETCH_CONCURRENCY`` at a time, default 20) over one HTTP
session, at the pace :mod:`franz_ivan.sources.pacing` sets. A source that reports its allowance
and has a floor above zero is asked for its first market alone, so that an allowance below the
floor spares the others; every other source's markets go out at once.

Every event id is derived from (run, market, kind), so a retried task re-sends the same ids and
the consumer stores each observation once.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from franz_ivan.events import AllowanceEvent, Event, Market, PriceEvent, event_id_for
from franz_ivan.settings import env_float
from franz_ivan.sources import SOURCES, Endpoint, PriceSource, SourceError, fetch_quote
from franz_ivan.sources.base import USER_AGENT, Allowance
from franz_ivan.sources.pacing import PacingSettings, SourcePacer, allowance_floor

if TYPE_CHECKING:
    from datetime import datetime

    import requests

log = logging.getLogger(__name__)


class SourceFetchError(RuntimeError):
    """Some markets of a source gave no price this run; the message names each market and problem."""


@dataclass(frozen=True, slots=True)
class Observation:
    """What asking one market gave: events to publish, and the error or the reason it was skipped."""

    market: Market
    events: list[tuple[str, Event]]
    error: SourceError | None = None
    skipped: str | None = None


def fetch_concurrency() -> int:
    """Markets of one source fetched at once (``CRYPTO_PRICES_FETCH_CONCURRENCY``, default 20)."""
    return int(env_float("CRYPTO_PRICES_FETCH_CONCURRENCY", 20))


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
    from datetime import UTC, datetime

    shortfall = pacer.shortfall()
    if shortfall is not None:
        log.warning("%s: skipped this run: %s", market, shortfall)
        return Observation(market, [], skipped=shortfall)
    try:
        quote = pacer.fetch(market, lambda: fetch_quote(session, endpoint, market))
    except SourceError as error:
        log.error("%s", error)
        events: list[tuple[str, Event]] = []
        if error.allowance is not None:
            events.append((market.key, allowance_event(run_key, market, datetime.now(UTC), error.allowance)))
        return Observation(market, events, error)
    price = PriceEvent(
        event_id=event_id_for(run_key, market.key, PriceEvent.type),
        market=market,
        observed_at=quote.observed_at,
        price=quote.price,
    )
    events = [(market.key, price)]
    if quote.allowance is not None:
        events.append((market.key, allowance_event(run_key, market, quote.observed_at, quote.allowance)))
    log.info("%s: price %s at %s", market, quote.price, quote.observed_at.isoformat())
    return Observation(market, events)


def new_session(pool_size: int) -> requests.Session:
    """An HTTP session whose connection pool fits ``pool_size`` concurrent fetches."""
    import requests
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    for scheme in ("http://", "https://"):
        session.mount(scheme, HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size))
    return session


def observe_source(
    source: PriceSource, endpoint: Endpoint, markets: list[Market], run_key: str, pacer: SourcePacer
) -> list[Observation]:
    """Observe ``markets`` concurrently; first one alone when an allowance floor could spare the rest."""
    concurrency = fetch_concurrency()
    first = markets[:1] if source.reports_allowance and pacer.floor > 0 else []
    rest = markets[len(first) :]
    with new_session(concurrency) as session:
        observations = [observe(session, endpoint, market, run_key, pacer) for market in first]
        if rest:
            workers = min(concurrency, len(rest))
            with ThreadPoolExecutor(workers, thread_name_prefix=source.name) as pool:
                observations += pool.map(
                    lambda market: observe(session, endpoint, market, run_key, pacer), rest
                )
    return observations


def publish_source(source_name: str, market_keys: list[str], run_key: str) -> dict[str, object]:
    """Fetch one source's markets, publish every event they gave, then raise if any price failed.

    :param market_keys: :attr:`Market.key` values, all of source ``source_name``.
    :param run_key: names the DAG run; event ids derive from it.
    :raises SourceFetchError: naming each failed market and its problem, after publishing the rest.
    """
    from franz_ivan.clients import source_endpoint
    from franz_ivan.hooks.kafka import PricesKafkaHook
    from franz_ivan.markets import parse_market
    from franz_ivan.publish import delivery_timeout_seconds, ensure_topic, publish
    from franz_ivan.settings import topic, topic_partitions

    source = SOURCES[source_name]
    markets = [parse_market(key) for key in market_keys]
    strangers = [market.key for market in markets if market.source != source_name]
    if strangers:
        raise ValueError(f"markets {strangers} are not {source_name} markets")
    pacer = SourcePacer(source_name, PacingSettings.from_env(), allowance_floor(source_name))
    observations = observe_source(source, source_endpoint(source), markets, run_key, pacer)
    events = [event for observation in observations for event in observation.events]
    if events:
        config = PricesKafkaHook().config()
        timeout = delivery_timeout_seconds()
        ensure_topic(config, topic(), topic_partitions(), timeout)
        publish(config, topic(), events, timeout)
    failures = [observation.error for observation in observations if observation.error is not None]
    if failures:
        raise SourceFetchError(
            f"{len(failures)} of {len(markets)} {source_name} markets gave no price: "
            + "; ".join(str(error) for error in failures)
        )
    return {
        "source": source_name,
        "prices": sum(isinstance(event, PriceEvent) for _, event in events),
        "events": len(events),
        "skipped": [observation.market.key for observation in observations if observation.skipped],
    }
