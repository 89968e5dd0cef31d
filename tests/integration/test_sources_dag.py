"""The producer DAG over all five sources, then the consumer: ``airflow dags test`` against the local API."""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal
from typing import Any

import pytest

from devtools.local_stack import Stack
from devtools.price_api import Fault, PriceApiServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})


def served_price(answer: dict[str, Any]) -> Decimal:
    """The price in one served body, read the way each source writes it."""
    body = answer["body"]
    if answer["source"] == "cryptowatch":
        return Decimal(repr(body["result"]["price"]))
    if answer["source"] == "kraken":
        [ticker] = body["result"].values()
        return Decimal(ticker["c"][0])
    return Decimal(body["last"] if answer["source"] == "bitstamp" else body["price"])


def served_prices(price_api: PriceApiServer) -> set[tuple[str, str, Decimal]]:
    """``(pair, source, price)`` of every price the API served."""
    return {
        (answer["pair"], answer["source"], served_price(answer))
        for answer in price_api.state.served
        if answer["status"] == 200 and not answer["body"].get("error")
    }


def stored_prices(pg: Any, pairs: list[str]) -> set[tuple[str, str, Decimal]]:
    from psycopg import sql

    rows = set()
    for pair in pairs:
        query = sql.SQL("SELECT source, value FROM {}").format(sql.Identifier(pair))
        rows |= {(pair, source, value) for source, value in pg.execute(query).fetchall()}
    return rows


def mapped_task_names(stack: Stack, output: str) -> dict[str, str]:
    """The producer run's mapped tasks as the UI names them (map_index_template), with their states."""
    [run_id] = set(re.findall(r"run_id=(manual__[^,\s]+)", output))
    with sqlite3.connect(stack.airflow_home / "airflow.db") as metadata:
        rows = metadata.execute(
            "SELECT rendered_map_index, state FROM task_instance "
            "WHERE dag_id = 'crypto_prices_producer' AND run_id = ? AND task_id = 'publish_prices'",
            (run_id,),
        ).fetchall()
    return dict(rows)


def test_one_run_over_all_five_sources_stores_every_price_in_its_pair_table(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any
) -> None:
    airflow_stack.markets = [
        "kraken:xbtusd",
        "coinbase:btc-usd",
        "binance:btcusdt",
        "bitstamp:ethusd",
        "coinbase-pro:btcusd",
    ]
    produced = airflow_stack.airflow("dags", "test", "crypto_prices_producer")
    airflow_stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    assert {request["source"] for request in price_api.state.requests} == {
        "kraken",
        "coinbase",
        "binance",
        "bitstamp",
        "cryptowatch",
    }
    assert len(price_api.state.requests) == 5
    assert stored_prices(pg, ["btcusd", "btcusdt", "ethusd"]) == served_prices(price_api)
    assert sorted(pg.execute("SELECT source, exchange FROM btcusd").fetchall()) == [
        ("coinbase", "coinbase"),
        ("cryptowatch", "coinbase-pro"),
        ("kraken", "kraken"),
    ]
    assert pg.execute("SELECT source, exchange FROM btcusdt").fetchall() == [("binance", "binance")]
    assert pg.execute("SELECT source, exchange FROM ethusd").fetchall() == [("bitstamp", "bitstamp")]
    # Allowance is recorded from the two sources that report it, and invented for none.
    allowances = dict(pg.execute("SELECT source, allowance FROM cryptowatch_api_allowance").fetchall())
    assert allowances == {
        "cryptowatch": Decimal(repr(float(price_api.state.allowance_remaining))),
        "binance": Decimal(6000 - price_api.state.binance_weight_used),
    }
    assert mapped_task_names(airflow_stack, produced.stdout + produced.stderr) == {
        "kraken": "success",
        "coinbase": "success",
        "binance": "success",
        "bitstamp": "success",
        "cryptowatch": "success",
    }


def test_a_failing_market_fails_its_source_task_while_every_other_price_is_stored(
    airflow_stack: Stack, price_api: PriceApiServer, pg: Any
) -> None:
    airflow_stack.markets = ["kraken:btcusd", "kraken:ethusd", "coinbase:btcusd", "bitstamp:btcusd"]
    price_api.state.faults["kraken:ethusd"] = Fault("server-error")
    produced = airflow_stack.airflow("dags", "test", "crypto_prices_producer", check=False)
    airflow_stack.airflow("dags", "test", "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    output = produced.stdout + produced.stderr
    assert (
        "1 of 2 kraken markets gave no price: kraken kraken:ethusd: HTTP 502 with a non-JSON body" in output
    )
    assert sorted(pg.execute("SELECT source FROM btcusd").fetchall()) == [
        ("bitstamp",),
        ("coinbase",),
        ("kraken",),
    ]
    assert pg.execute("SELECT to_regclass('ethusd')").fetchone() == (None,)
    kraken_btcusd = [r for r in price_api.state.requests if r["source"] == "kraken" and r["pair"] == "btcusd"]
    coinbase = [r for r in price_api.state.requests if r["source"] == "coinbase"]
    # Only the failing source's task is retried, and its good price is stored once all the same.
    assert len(coinbase) == 1
    assert len(kraken_btcusd) >= 2
