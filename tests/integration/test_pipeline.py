"""The pipeline as a user runs it: ``airflow dags test`` of both DAGs against real services."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.local_stack import VENV_BIN, Stack, start_broker
from devtools.price_api import PriceApiServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})
POKING_SENSOR_POLICY = """
def task_policy(task):
    if task.task_id == "wait_for_events":
        task.deferrable = False
"""
"""An Airflow cluster policy (airflow_local_settings.py) that turns the consumer's sensor to poking."""


def served_prices(price_api: PriceApiServer) -> list[Decimal]:
    return [
        Decimal(repr(answer["body"]["result"]["price"]))
        for answer in price_api.state.served
        if answer["status"] == 200
    ]


def test_producer_then_consumer_store_what_the_api_served(
    airflow_stack: Stack, price_api: PriceApiServer, pg: object
) -> None:
    airflow_stack.airflow("dags", "test", "crypto_prices_producer")
    airflow_stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    [(value, source, exchange)] = pg.execute("SELECT value, source, exchange FROM btcusd").fetchall()
    assert [value] == served_prices(price_api)
    assert (source, exchange) == ("cryptowatch", "coinbase-pro")
    served_allowance = price_api.state.served[0]["body"]["allowance"]
    [(allowance, cost)] = pg.execute("SELECT allowance, cost FROM cryptowatch_api_allowance").fetchall()
    assert (allowance, cost) == (
        Decimal(repr(served_allowance["remaining"])),
        Decimal(repr(served_allowance["cost"])),
    )
    request = price_api.state.requests[0]
    assert request["path"] == "/markets/coinbase-pro/btcusd/price"

    # Running the consumer again finds nothing pending: the sensor skips, no row is added.
    started = time.monotonic()
    again = airflow_stack.airflow(
        "dags", "test", "crypto_prices_consumer", "--conf", json.dumps({"max_wait_seconds": 3})
    )
    assert time.monotonic() - started < 60
    assert "no new events" in again.stdout + again.stderr
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM cryptowatch_api_allowance").fetchone() == (1,)


def test_producer_fails_clearly_when_the_broker_is_down(airflow_stack: Stack) -> None:
    dead = start_broker(airflow_stack.airflow_home / "logs")
    dead.stop()
    stack = Stack(dead, airflow_stack.postgres, airflow_stack.api_url, airflow_stack.airflow_home)
    completed = stack.airflow(
        "dags",
        "test",
        "crypto_prices_producer",
        check=False,
        timeout=240,
        env={"CRYPTO_PRICES_DELIVERY_TIMEOUT": "3"},
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode != 0
    assert f"Kafka at {dead.bootstrap} did not answer" in output


def consumer_woken_by_the_producer(
    stack: Stack, env: dict[str, str], folder: Path, ready: Callable[[str], bool], what: str
) -> str:
    """Start ``airflow dags test`` of the consumer (a 120 s wait) in ``env``; once its log is ``ready``
    (``what`` is the failure if it is not within 120 s), run the producer once; return the consumer's
    log after it ended successfully."""
    output = folder / "consumer.log"
    with output.open("w") as log:
        consumer = subprocess.Popen(
            [str(VENV_BIN / "airflow"), "dags", "test", "crypto_prices_consumer",
             "--conf", json.dumps({"max_wait_seconds": 120})],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while not ready(output.read_text()):
                assert consumer.poll() is None, output.read_text()[-3000:]
                assert time.monotonic() < deadline, what
                time.sleep(0.5)
            stack.airflow("dags", "test", "crypto_prices_producer")
            assert consumer.wait(timeout=180) == 0, output.read_text()[-3000:]
        finally:
            consumer.kill()
            consumer.wait()
    return output.read_text()


def test_a_waiting_consumer_wakes_up_when_the_producer_publishes(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any, tmp_path: Path
) -> None:
    """The deferred path: the consumer's trigger is already waiting when the events arrive."""
    output = consumer_woken_by_the_producer(
        airflow_stack,
        airflow_stack.airflow_env(),
        tmp_path,
        ready=lambda log: "running trigger in line" in log,
        what="the consumer never deferred",
    )

    assert "Trigger completed" in output
    assert [value for (value,) in pg.execute("SELECT value FROM btcusd")] == served_prices(price_api)


def poking_sensor(stack: Stack, folder: Path) -> dict[str, str]:
    """The environment of ``stack`` with :data:`POKING_SENSOR_POLICY` on the path: the consumer DAG
    file as it is, its sensor made non-deferrable the way a deployment's cluster policy would."""
    (folder / "airflow_local_settings.py").write_text(POKING_SENSOR_POLICY)
    env = stack.airflow_env()
    return {**env, "PYTHONPATH": os.pathsep.join([str(folder), env["PYTHONPATH"]])}


def test_a_poking_sensor_hands_the_drains_the_pending_map_and_skips_when_idle(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any, tmp_path: Path
) -> None:
    """The non-deferrable path: the sensor pokes until the events arrive, returns the pending map to
    ``plan_drains`` as the deferred path does, and with nothing pending skips at its bound."""
    env = poking_sensor(airflow_stack, tmp_path)
    drained = consumer_woken_by_the_producer(
        airflow_stack,
        env,
        tmp_path,
        ready=lambda log: log.count("Pending events per partition: {}") >= 2,
        what="the sensor never poked twice",
    )
    assert "Waiting up to 120 s for events on" in drained
    assert "(poking every 2 s)" in drained
    assert "running trigger in line" not in drained, "the sensor deferred"
    assert [value for (value,) in pg.execute("SELECT value FROM btcusd")] == served_prices(price_api)
    assert pg.execute("SELECT count(*) FROM cryptowatch_api_allowance").fetchone() == (1,)

    started = time.monotonic()
    idle = subprocess.run(
        [str(VENV_BIN / "airflow"), "dags", "test", "crypto_prices_consumer",
         "--conf", json.dumps({"max_wait_seconds": 3})],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert "(poking every 2 s)" in idle.stdout + idle.stderr
    assert "no new events on" in idle.stdout + idle.stderr
    assert "within 3 s: nothing to drain" in idle.stdout + idle.stderr
    assert elapsed < 60, f"an idle poking consumer took {elapsed:.0f} s"
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
