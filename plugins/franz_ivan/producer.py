"""One market's observation turned into events: fetch, then build the price and allowance events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from franz_ivan.events import AllowanceEvent, Event, Market, PriceEvent, event_id_for
from franz_ivan.sources import Endpoint, SourceError, fetch_quote
from franz_ivan.sources.base import USER_AGENT, Allowance

if TYPE_CHECKING:
    from datetime import datetime

    import requests

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Observation:
    """What one fetch produced: the events to publish, and the error if the price failed."""

    events: list[tuple[str, Event]]
    error: SourceError | None


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


def observe(session: requests.Session, endpoint: Endpoint, market: Market, run_key: str) -> Observation:
    """Fetch ``market`` once. ``run_key`` names the run, so a retried task re-sends the same ids."""
    from datetime import UTC, datetime

    try:
        quote = fetch_quote(session, endpoint, market)
    except SourceError as error:
        events: list[tuple[str, Event]] = []
        if error.allowance is not None:
            events.append((market.key, allowance_event(run_key, market, datetime.now(UTC), error.allowance)))
        return Observation(events, error)
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
    return Observation(events, None)


def new_session() -> requests.Session:
    import requests

    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


def publish_market(market_entry: str, run_key: str) -> dict[str, object]:
    """Fetch one market and publish its events; raise if the price failed or a send was not acknowledged.

    The allowance event is published even when the price call failed, then the failure is raised.
    """
    from franz_ivan.clients import kafka_config, source_endpoint
    from franz_ivan.markets import parse_market
    from franz_ivan.publish import delivery_timeout_seconds, ensure_topic, publish
    from franz_ivan.settings import topic, topic_partitions
    from franz_ivan.sources import SOURCES

    market = parse_market(market_entry)
    with new_session() as session:
        observation = observe(session, source_endpoint(SOURCES[market.source]), market, run_key)
    if observation.events:
        config = kafka_config()
        timeout = delivery_timeout_seconds()
        ensure_topic(config, topic(), topic_partitions(), timeout)
        publish(config, topic(), observation.events, timeout)
    if observation.error is not None:
        raise observation.error
    return {"market": market.key, "events": len(observation.events)}
