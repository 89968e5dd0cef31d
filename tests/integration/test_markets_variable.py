"""The markets Variable as ``make up`` and the deployment files keep it: seeded once into the
metadata database, never pinned in the environment, so an edit reaches the next producer run.

Airflow reads a Variable from the environment before the metadata database: one pinned there
(``AIRFLOW_VAR_CRYPTO_PRICES_MARKETS``) would hide every edit made in the UI or with the CLI.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from devtools.local_stack import Stack
from devtools.price_api import PriceApiServer
from franz_ivan.settings import MARKETS_VARIABLE

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PRODUCER = "crypto_prices_producer"
CONSUMER = "crypto_prices_consumer"
MARKETS_ENV = f"AIRFLOW_VAR_{MARKETS_VARIABLE.upper()}"


def fetched(price_api: PriceApiServer) -> list[str]:
    """The price paths the API was asked for since the last call; forgets them."""
    paths = sorted(request["path"] for request in price_api.state.requests)
    price_api.state.requests.clear()
    return paths


def stored_variable(stack: Stack) -> Any:
    return json.loads(stack.airflow("variables", "get", MARKETS_VARIABLE).stdout)


def test_an_edit_of_the_seeded_variable_changes_the_next_producer_run(
    airflow_stack: Stack,
    price_api: PriceApiServer,
    pg: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A metadata database of its own (a copy of the session's migrated one), as make up has.
    shutil.copy(airflow_stack.airflow_home / "airflow.db", tmp_path / "airflow.db")
    stack = replace(airflow_stack, airflow_home=tmp_path, pin_markets=False)
    # One left in the shell must not reach Airflow either.
    monkeypatch.setenv(MARKETS_ENV, json.dumps(["coinbase-pro:xrpusd"]))
    assert MARKETS_ENV not in stack.airflow_env()

    stack.seed_markets()
    assert stored_variable(stack) == stack.markets == ["coinbase-pro:btcusd"]
    stack.airflow("dags", "test", PRODUCER)
    assert fetched(price_api) == ["/markets/coinbase-pro/btcusd/price"]

    edited = ["coinbase-pro:ethusd", "coinbase-pro:ltcusd"]
    stack.airflow("variables", "set", MARKETS_VARIABLE, json.dumps(edited))
    stack.seed_markets()  # the next start of make up, or the compose init run again: the edit stays
    assert stored_variable(stack) == edited
    stack.airflow("dags", "test", PRODUCER)
    assert fetched(price_api) == [
        "/markets/coinbase-pro/ethusd/price",
        "/markets/coinbase-pro/ltcusd/price",
    ], "the run did not read the edited Variable"

    stack.airflow("dags", "test", CONSUMER)
    assert pg.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM ethusd").fetchone() == (1,)
    assert pg.execute("SELECT count(*) FROM ltcusd").fetchone() == (1,)
