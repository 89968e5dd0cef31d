"""The pipeline running by itself under the real Airflow services, as ``make up`` starts them.

One stack for the module (Tansu, a fresh PostgreSQL database, the local price API, and Airflow's
scheduler, triggerer, dag-processor and api-server): first nobody touches it and the scheduled
producer runs must end up stored exactly once by the sensor-triggered consumer; then a user
triggers the producer through the REST API, and through the UI in a real browser.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from devtools.airflow_services import (
    ADMIN,
    CONSUMER,
    PRODUCER,
    QUALITY,
    Airflow,
    airflow_services,
    metadata_database,
)
from devtools.freshness import TopicEvent, stored_event_ids, wait_until_drained
from devtools.local_stack import drop_database, free_port, running_stack, wait_until
from devtools.price_api import PriceApiServer, serve
from tests.helpers import ARTIFACTS, browser_page, sign_in

# alone: the browser misses Playwright's bounds when the machine is shared with the parallel run
# (seen: the Assets graph not drawn within 5 s); slow: one stack of four Airflow components.
pytestmark = [pytest.mark.e2e, pytest.mark.alone, pytest.mark.slow]

MARKETS = ["coinbase-pro:btcusd", "coinbase-pro:ethusd"]
PAIRS = ["btcusd", "ethusd"]
RUN_SECONDS = 180.0
ASSETS_LISTED_SECONDS = 90.0
"""Airflow lists an Asset made by an alias event within ``[scheduler] parsing_cleanup_interval`` (60 s)."""
"""Bound on one producer run going from created to finished, the first one after start-up included."""


@dataclass
class Live:
    airflow: Airflow
    price_api: PriceApiServer


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    database = f"franz_e2e_{uuid.uuid4().hex[:10]}"
    home = tmp_path_factory.mktemp("airflow_up")
    with (
        serve() as price_api,
        running_stack(home, database, price_api.url, MARKETS, pin_markets=False) as stack,
    ):
        try:
            stack.create_topic()
            with airflow_services(stack, free_port()) as airflow:
                yield Live(airflow, price_api)
        finally:
            drop_database(stack.postgres, database)
            drop_database(stack.postgres, metadata_database(home))


def finished_run(live: Live, run_id: str) -> dict[str, Any]:
    """Wait for producer run ``run_id`` to end; return it."""

    def finished() -> dict[str, Any] | None:
        live.airflow.check_alive()
        run = live.airflow.api.dag_run(PRODUCER, run_id)
        return run if run["state"] in {"success", "failed"} else None

    return wait_until(finished, RUN_SECONDS, f"producer run {run_id} to finish", interval=2)


def served_prices(price_api: PriceApiServer) -> dict[str, list[Decimal]]:
    """Per pair, every price the API answered with."""
    assert {answer["status"] for answer in price_api.state.served} == {200}, "the price API answered an error"
    prices: dict[str, list[Decimal]] = {pair: [] for pair in PAIRS}
    for answer in price_api.state.served:
        pair = answer["path"].split("/")[3]
        prices[pair].append(Decimal(repr(answer["body"]["result"]["price"])))
    return prices


def stored_values(live: Live, pair: str) -> list[Decimal]:
    from psycopg import sql

    with live.airflow.stack.postgres.connect() as conn:
        return [row[0] for row in conn.execute(sql.SQL("SELECT value FROM {}").format(sql.Identifier(pair)))]


def assert_stored_exactly_once(live: Live, events: list[TopicEvent]) -> None:
    """Every event of the topic is stored once, and the rows hold exactly what the API served."""
    stored = stored_event_ids(live.airflow.stack.postgres, PAIRS)
    served = served_prices(live.price_api)
    for pair in PAIRS:
        published = {event.event_id for event in events if event.type == "price" and event.pair == pair}
        assert published, f"nothing was published for {pair}"
        assert sorted(stored[pair]) == sorted(published), f"{pair}: stored ids differ from the topic's"
        assert Counter(stored_values(live, pair)) == Counter(served[pair]), (
            f"{pair}: rows differ from answers"
        )
    allowances = {event.event_id for event in events if event.type == "allowance"}
    assert sorted(stored["cryptowatch_api_allowance"]) == sorted(allowances)
    assert len(allowances) == len(live.price_api.state.served)
    with live.airflow.stack.postgres.connect() as conn:
        assert conn.execute("SELECT count(*) FROM crypto_prices_dead_letter").fetchone() == (0,)


def test_scheduled_runs_are_stored_exactly_once_by_the_sensor_triggered_consumer(live: Live) -> None:
    api = live.airflow.api

    def two_scheduled_runs() -> list[dict[str, Any]] | None:
        live.airflow.check_alive()
        runs = [run for run in api.dag_runs(PRODUCER) if run["state"] == "success"]
        return runs if len(runs) >= 2 else None

    wait_until(two_scheduled_runs, 2 * RUN_SECONDS, "two successful scheduled producer runs", interval=3)
    events = wait_until_drained(live.airflow, timeout=RUN_SECONDS)

    producer_runs = api.dag_runs(PRODUCER)
    assert {run["run_type"] for run in producer_runs} == {"scheduled"}, "someone triggered the producer"
    assert sum(run["state"] == "success" for run in producer_runs) >= 2
    assert_stored_exactly_once(live, events)

    consumer_runs = api.dag_runs(CONSUMER)
    assert {run["run_type"] for run in consumer_runs} == {"scheduled"}, "someone triggered the consumer"

    def task_states(run_id: str) -> dict[str, set[str]]:
        """Each task's states in the run (a mapped drain has one task instance per partition group)."""
        states: dict[str, set[str]] = {}
        for ti in api.task_instances(CONSUMER, run_id):
            states.setdefault(ti["task_id"], set()).add(ti["state"])
        return states

    fired = [
        run
        for run in consumer_runs
        if task_states(run["dag_run_id"])
        == {
            "wait_for_events": {"success"},
            "plan_drains": {"success"},
            "drain_events": {"success"},
            "record_tables": {"success"},
        }
    ]
    assert fired, (
        "no consumer run had its sensor fire, its drains planned, every drain succeed and its tables recorded"
    )


def test_trigger_through_the_rest_api_runs_the_producer_and_its_rows_arrive(live: Live) -> None:
    served_before = len(live.price_api.state.served)
    run = live.airflow.api.trigger(PRODUCER)
    assert run["run_type"] == "manual"

    assert finished_run(live, run["dag_run_id"])["state"] == "success"
    assert len(live.price_api.state.served) > served_before
    assert_stored_exactly_once(live, wait_until_drained(live.airflow, timeout=RUN_SECONDS))


def test_trigger_in_the_browser_runs_the_producer_and_its_rows_arrive(live: Live) -> None:
    from playwright.sync_api import expect

    screenshot = ARTIFACTS / "ui-producer-run-success.png"
    airflow = live.airflow
    manual_before = {
        run["dag_run_id"] for run in airflow.api.dag_runs(PRODUCER) if run["run_type"] == "manual"
    }

    with browser_page(1400, 900, screenshot=screenshot) as page:
        sign_in(page, f"{airflow.url}/dags/{PRODUCER}", airflow.password)
        page.wait_for_url(f"{airflow.url}/dags/{PRODUCER}")

        page.get_by_role("button", name="Trigger Dag").click()
        page.get_by_role("dialog").get_by_role("button", name="Trigger", exact=True).click()
        page.wait_for_url(f"{airflow.url}/dags/{PRODUCER}/runs/manual__*")
        run_id = unquote(page.url.rsplit("/runs/", 1)[1])
        state = (
            page.get_by_role("heading", name=run_id, exact=True).locator("..").get_by_test_id("state-badge")
        )
        expect(state).to_have_text("Success", timeout=RUN_SECONDS * 1000)

    run = airflow.api.dag_run(PRODUCER, run_id)
    assert run_id not in manual_before
    assert (run["run_type"], run["state"], run["triggering_user_name"]) == ("manual", "success", ADMIN)
    assert_stored_exactly_once(live, wait_until_drained(airflow, timeout=RUN_SECONDS))
    assert Path(screenshot).stat().st_size > 0


def test_the_quality_dag_judges_the_running_pipeline_without_a_false_alarm(live: Live) -> None:
    """Unpaused like the others; triggered here so the test need not wait for its 5-minute slot."""
    api = live.airflow.api

    def a_successful_producer_run() -> bool | None:
        live.airflow.check_alive()
        return True if any(run["state"] == "success" for run in api.dag_runs(PRODUCER)) else None

    wait_until(a_successful_producer_run, 2 * RUN_SECONDS, "a successful producer run", interval=3)
    wait_until_drained(live.airflow, timeout=RUN_SECONDS)
    run_id = api.trigger(QUALITY)["dag_run_id"]

    def finished() -> dict[str, Any] | None:
        live.airflow.check_alive()
        run = api.dag_run(QUALITY, run_id)
        return run if run["state"] in {"success", "failed"} else None

    run = wait_until(finished, 2 * RUN_SECONDS, f"quality run {run_id} to finish", interval=2)
    with live.airflow.stack.postgres.connect() as conn:
        verdicts = conn.execute(
            "SELECT check_name, market, status, message FROM crypto_prices_quality_results"
            " WHERE dag_run_id = %s",
            (run_id,),
        ).fetchall()
    assert [row for row in verdicts if row[2] != "pass"] == []
    assert run["state"] == "success"
    judged = {(check, market) for check, market, _, _ in verdicts}
    assert {("staleness", f"cryptowatch:{market}") for market in MARKETS} <= judged
    assert {check for check, _ in judged} == {
        "staleness",
        "spike",
        "allowance",
        "consumer_lag",
        "dead_letters",
    }  # no divergence: each pair has one market here


def test_assets_view_shows_producer_topic_drain_each_pair_table(live: Live) -> None:
    """Producer -> topic -> drain -> each pair table, as the REST API and the Assets view show it.

    The DAGs declare aliases; the tasks attach the real Assets at run time, named after the servers
    of the connections: the topic ``kafka://<bootstrap>/crypto_prices`` and one table Asset per pair,
    ``postgres://<host>:<port>/<database>/public/<pair>``, each with Asset events from the tasks
    that wrote it. Screenshots: the list, a pair table's page, the topic's page. (Airflow 3.3's *Task
    Dependencies* view draws only Assets that tasks declare, so it is empty for these.)
    """
    from playwright.sync_api import expect

    from franz_ivan.lineage import TABLES_ALIAS, TOPIC_ALIAS

    airflow = live.airflow
    stack = airflow.stack
    api = airflow.api
    aliases = {
        alias["name"] for alias in api.call("GET", "/assets/aliases", params={"limit": 100})["asset_aliases"]
    }
    assert {TOPIC_ALIAS, TABLES_ALIAS} <= aliases
    topic_uri = f"kafka://{stack.broker.bootstrap}/{stack.topic}"
    tables = f"postgres://{stack.postgres.host}:{stack.postgres.port}/{stack.postgres.database}/public"
    table_uris = [f"{tables}/{pair}" for pair in PAIRS]

    def listed() -> dict[str, dict[str, Any]] | None:
        found = {asset["uri"]: asset for asset in api.call("GET", "/assets", params={"limit": 100})["assets"]}
        return found if {topic_uri, *table_uris} <= set(found) else None

    # An Asset first named by an alias event is listed (active) once the scheduler's orphan check has
    # run: every [scheduler] parsing_cleanup_interval, 60 s by default (an empty list seen once in CI).
    assets = wait_until(
        listed, ASSETS_LISTED_SECONDS, f"the Assets {topic_uri} and {table_uris} to be listed", 2
    )

    def writers(uri: str) -> set[tuple[str, str]]:
        events = api.call("GET", "/assets/events", params={"asset_id": assets[uri]["id"], "limit": 100})
        return {(event["source_dag_id"], event["source_task_id"]) for event in events["asset_events"]}

    assert writers(topic_uri) == {(PRODUCER, "record_topic")}
    for uri in table_uris:
        assert writers(uri) == {(CONSUMER, "record_tables")}, uri

    shots = [
        ARTIFACTS / name for name in ("ui-assets-list.png", "ui-assets-graph.png", "ui-assets-tasks.png")
    ]
    with browser_page(1600, 900, screenshot=shots[2]) as page:
        sign_in(page, f"{airflow.url}/assets", airflow.password)
        page.wait_for_url(f"{airflow.url}/assets")
        for uri in (topic_uri, *table_uris):
            # The list loads after the page's translations; the shared machine can take its time.
            expect(page.get_by_text(assets[uri]["name"], exact=True)).to_be_visible(timeout=30_000)
        page.screenshot(path=str(shots[0]))

        # A pair table's page: drawn from the consumer through the drain's alias. (The quality DAG reads
        # the tables every 5 minutes rather than being scheduled on them: docs/operations.md.)
        page.goto(f"{airflow.url}/assets/{assets[table_uris[0]]['id']}")
        graph = page.locator(".react-flow")
        expect(graph.get_by_text(CONSUMER).first).to_be_visible(timeout=30_000)  # a larger graph to lay out
        page.wait_for_timeout(1000)  # let the graph's layout settle before the picture
        page.screenshot(path=str(shots[1]))

        page.goto(f"{airflow.url}/assets/{assets[topic_uri]['id']}")
        expect(graph.get_by_text(PRODUCER).first).to_be_visible(timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(shots[2]))

    assert all(shot.stat().st_size > 0 for shot in shots)
