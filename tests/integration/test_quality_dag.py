"""The quality DAG as a user runs it: ``airflow dags test`` against real PostgreSQL and a real webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devtools.local_stack import Stack
from devtools.quality_seed import NORMAL_MARKETS, Observation, moving_prices, store
from franz_ivan.events import Market
from franz_ivan.store import Batch, DeadLetter, PriceStore

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

COINBASE_BTC = Market("coinbase", "coinbase", "btcusd")
CHECKS = {"staleness", "spike", "divergence", "allowance", "consumer_lag", "dead_letters"}


class Webhook(ThreadingHTTPServer):
    """A local alert receiver: keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), WebhookHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/alerts"


class WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.server.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = Webhook()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def results_of_newest_run(pg: Any) -> dict[tuple[str, str], tuple[str, str]]:
    with pg.transaction():
        rows = pg.execute(
            "SELECT check_name, market, status, message FROM crypto_prices_quality_results"
            " WHERE dag_run_id = (SELECT dag_run_id FROM crypto_prices_quality_results"
            "                     ORDER BY checked_at DESC LIMIT 1)"
        ).fetchall()
    return {(check, market): (status, message) for check, market, status, message in rows}


def test_quality_dag_passes_on_normal_prices_then_catches_a_spike_and_a_dead_letter(
    airflow_stack: Stack, pg: Any, webhook: Webhook
) -> None:
    stack = replace(airflow_stack, markets=[market.key for market in NORMAL_MARKETS])
    alerts = {"AIRFLOW_CONN_CRYPTO_PRICES_ALERTS": json.dumps({"conn_type": "http", "host": webhook.url})}
    now = datetime.now(UTC)
    store(pg, moving_prices(now, 60), topic=stack.topic)

    stack.airflow("dags", "test", "crypto_prices_quality", env=alerts)

    normal = results_of_newest_run(pg)
    assert {check for check, _ in normal} == CHECKS
    assert {key: status for key, (status, _) in normal.items() if status != "pass"} == {}
    assert len(normal) == 6 + 6 + 1 + 1 + 1 + 1  # staleness and spike per market; one each else
    assert webhook.bodies == []

    spiked = Observation(
        COINBASE_BTC, datetime.now(UTC) - timedelta(seconds=20), moving_prices(now, 1)[1].price * 10
    )
    store(pg, [spiked], topic=stack.topic)
    PriceStore(pg, stack.topic, "crypto_prices_consumer").write(
        Batch(dead_letters=[DeadLetter(0, 10_000, b"key", b"\xff not json", "message is not UTF-8 JSON")])
    )

    failed = stack.airflow("dags", "test", "crypto_prices_quality", env=alerts, check=False)

    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, "a failed check fails the run"
    faulty = results_of_newest_run(pg)
    assert {key for key, (status, _) in faulty.items() if status == "fail"} == {
        ("spike", "coinbase:coinbase:btcusd"),
        ("dead_letters", stack.topic),
    }
    spike_message = faulty["spike", "coinbase:coinbase:btcusd"][1]
    assert "% from the 60-min median" in spike_message
    assert "over the threshold of 10 %" in spike_message
    assert faulty["dead_letters", stack.topic][1] == (
        f"{stack.topic}: 1 dead letters appeared since the previous check (outside the thresholds 0 to 0)"
    )
    assert spike_message in output, "the failed task's error names market, figure and threshold"
    alerted = {body["task_id"]: body for body in webhook.bodies}
    assert set(alerted) == {"spike", "dead_letters"}
    assert spike_message in alerted["spike"]["message"]
    assert alerted["spike"]["dag_id"] == "crypto_prices_quality"
    assert "1 dead letters appeared" in alerted["dead_letters"]["message"]
