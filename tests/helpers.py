"""Helpers shared by test modules: test modules never import each other, and fixtures live in
conftest.py; what several test modules use that is not a fixture lives here."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from devtools.faults import DrainTarget, Feed, StoredState, make_feed, stored_state
from devtools.local_stack import ROOT, Postgres
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import AllowanceEvent, Event, Market, PriceEvent
from franz_ivan.publish import produce
from franz_ivan.store import Located

if TYPE_CHECKING:
    from playwright.sync_api import Page

# --- events and drains -------------------------------------------------------------------------

GROUP = "crypto_prices_consumer"
"""The consumer group the fault-injection tests drain as (the DAG's default)."""
PARTITIONS = 3
BACKFILL_MARKETS = [
    "kraken:btcusd",
    "coinbase:btcusd",
    "binance:btcusdt",
    "bitstamp:ethusd",
    "coinbase-pro:btcusd",
]
"""One market of each source that serves candles from its history."""
BACKFILL_TABLES = [
    ("btcusd", "kraken"),
    ("btcusd", "coinbase"),
    ("btcusdt", "binance"),
    ("ethusd", "bitstamp"),
    ("btcusd", "cryptowatch"),
]
"""(pair table, source) where the candles of each of :data:`BACKFILL_MARKETS` are stored, in order."""
START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BTC = Market("cryptowatch", "coinbase-pro", "btcusd")
MARKETS = [BTC, Market("cryptowatch", "kraken", "etheur")]


def price_events(run: int, markets: list[Market] = MARKETS) -> list[tuple[str, Event]]:
    """A price and an allowance per market, with ids and values of ``run`` (the same run: the same ids)."""
    events: list[tuple[str, Event]] = []
    for index, market in enumerate(markets):
        observed = START + timedelta(minutes=run)
        events.append(
            (
                market.key,
                PriceEvent(
                    event_id_for(f"run{run}", market.key, "price"),
                    market,
                    observed,
                    Decimal(f"{100 + run}.{index}"),
                ),
            )
        )
        events.append(
            (
                market.key,
                AllowanceEvent(
                    event_id_for(f"run{run}", market.key, "allowance"),
                    market,
                    observed,
                    Decimal("9.5") - Decimal(run) / 100,
                    cost=Decimal("0.005"),
                ),
            )
        )
    return events


def price_at(
    index: int, market: Market, offset: int, *, same_id_as: int | None = None
) -> Located[PriceEvent]:
    """Price event ``index`` of ``market`` (with the id of ``same_id_as`` if given) at ``offset`` of
    partition 0."""
    event_id = event_id_for("store-test", str(index if same_id_as is None else same_id_as))
    event = PriceEvent(event_id, market, START + timedelta(seconds=index), Decimal(f"{1000 + index}.25"))
    return Located(event, partition=0, offset=offset)


# --- Airflow connections ------------------------------------------------------------------------


def use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn_type: str, **fields: Any) -> None:
    """Define the Airflow connection ``conn_id`` for this test, through its environment variable."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": conn_type, **fields}))


def use_kafka_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> None:
    use_connection(monkeypatch, "crypto_prices_kafka", "kafka", extra=extra)


def use_test_connections(
    monkeypatch: pytest.MonkeyPatch, kafka: dict[str, Any], database: Postgres, login: str | None = None
) -> None:
    """The connections ``test_kafka`` (librdkafka settings ``kafka``) and ``test_postgres`` (``database``,
    signing in as ``login``, by default as the database's own user)."""
    use_connection(monkeypatch, "test_kafka", "kafka", extra=kafka)
    use_connection(
        monkeypatch,
        "test_postgres",
        "postgres",
        host=database.host,
        port=database.port,
        login=login or database.user,
        schema=database.database,
    )


@contextmanager
def webhook_receiver(status: int = 204) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP server that records the JSON bodies POSTed to it and answers ``status``; yields
    its URL (with a path standing for a token) and the bodies."""
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
            self.send_response(status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/alerts/token-in-path", received
    finally:
        server.shutdown()
        server.server_close()


# --- the fault-injection drains -----------------------------------------------------------------


def dsn(postgres: Postgres) -> str:
    """The libpq connection string of ``postgres``, as the drains of :mod:`devtools.faults` take it."""
    return f"host={postgres.host} port={postgres.port} user={postgres.user} dbname={postgres.database}"


def produce_feed(target: DrainTarget, count: int, *, run: str, **shape: int) -> Feed:
    """``count`` messages made by :func:`devtools.faults.make_feed` (``shape``: its options), produced
    to the target's topic."""
    feed = make_feed(count, run=run, **shape)
    produce({"bootstrap.servers": target.bootstrap}, target.topic, feed.messages)
    return feed


def state_of(pg: Any, target: DrainTarget) -> StoredState:
    """What the database holds for the target's topic and group."""
    return stored_state(pg, target.topic, target.group)


def assert_exactly_once(conn: Any, target: DrainTarget, feed: Feed) -> StoredState:
    """What ``conn`` holds for the target's topic and group (returned): every good event of ``feed``
    stored once, every bad message dead-lettered once, every position passed."""
    state = state_of(conn, target)
    assert state.duplicates == 0
    missing = feed.event_ids - set(state.event_ids)
    unexpected = set(state.event_ids) - feed.event_ids
    assert not missing, f"{len(missing)} events lost"
    assert not unexpected, f"{len(unexpected)} rows that were never produced"
    assert len(state.dead_letters) == feed.malformed
    assert sum(state.next_offsets.values()) == len(feed.messages)
    return state


def batches_committed(kill_at: str, on_batch: int) -> int:
    """How many whole batches a drain killed at ``kill_at`` (one of :data:`devtools.faults.KILL_POINTS`)
    of its batch ``on_batch`` (from 1) left committed in PostgreSQL."""
    return on_batch if kill_at == "committed" else on_batch - 1


def wait_for_stored_positions(dsn: str, at_least: int = 1, timeout: float = 60) -> int:
    """Wait until the drain has committed ``at_least`` positions; return how many it has."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            exists = conn.execute("SELECT to_regclass('crypto_prices_consumer_offsets')").fetchone()
            if exists and exists[0]:
                row = conn.execute("SELECT coalesce(sum(next_offset), 0) FROM crypto_prices_consumer_offsets")
                stored = int(row.fetchone()[0])
                if stored >= at_least:
                    return stored
        time.sleep(0.05)
    raise AssertionError(f"the drain stored fewer than {at_least} positions within {timeout:g} s")


# --- the browser ---------------------------------------------------------------------------------

ARTIFACTS = ROOT / "test-artifacts"
"""Where the end-to-end tests leave their screenshots (the docs show them)."""
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
"""The Debian package chromium; make test installs it when missing (devtools/test_prerequisites.sh)."""
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    # Without these Chromium phones home, and on a closed network its connections are refused.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextmanager
def browser_page(
    width: int,
    height: int,
    *,
    timeout_ms: float = 30_000,
    screenshot: Path | None = None,
    full_page: bool = False,
) -> Iterator[Page]:
    """A page of a headless Chromium; ``screenshot`` is taken when the block ends, also when it failed."""
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(timeout_ms)
            try:
                yield page
            finally:
                if screenshot is not None:
                    page.screenshot(path=str(screenshot), full_page=full_page)
        finally:
            browser.close()


def sign_in(page: Page, url: str, password: str) -> None:
    """Open ``url`` and sign in on Airflow's login form as the admin user."""
    from devtools.airflow_services import ADMIN

    page.goto(url)
    page.get_by_label("Username").fill(ADMIN)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
