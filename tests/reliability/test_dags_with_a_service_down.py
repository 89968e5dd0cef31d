"""``airflow dags test`` of either DAG ends, with a clear failure, when the broker or PostgreSQL is down."""

from __future__ import annotations

import json

import pytest

from devtools.local_stack import Stack, free_port, start_broker

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# Generous bound on the whole command: retries included; a hang would blow it.
RUN_TIMEOUT = 400
QUICK = {"CRYPTO_PRICES_DELIVERY_TIMEOUT": "3"}


def with_broker_down(stack: Stack) -> Stack:
    dead = start_broker(stack.airflow_home / "logs")
    dead.stop()
    return Stack(dead, stack.postgres, stack.api_url, stack.airflow_home, topic=stack.topic)


def postgres_at_closed_port(stack: Stack) -> dict[str, str]:
    connection = {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": free_port(),
        "login": "postgres",
        "schema": stack.postgres.database,
    }
    return {"AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES": json.dumps(connection)}


def failed(output: str) -> bool:
    return "state=failed" in output or "failed" in output.lower()


def test_consumer_with_the_broker_down_fails_naming_kafka(airflow_stack: Stack) -> None:
    stack = with_broker_down(airflow_stack)
    run = stack.airflow(
        "dags", "test", "crypto_prices_consumer", "--conf", json.dumps({"max_wait_seconds": 5}),
        check=False, timeout=RUN_TIMEOUT,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert failed(output), output[-3000:]
    assert "Kafka did not answer" in output
    assert "no new events" not in output


def test_consumer_with_postgres_unreachable_fails_naming_postgres(airflow_stack: Stack) -> None:
    run = airflow_stack.airflow(
        "dags", "test", "crypto_prices_consumer", "--conf", json.dumps({"max_wait_seconds": 5}),
        check=False, timeout=RUN_TIMEOUT, env=postgres_at_closed_port(airflow_stack),
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert failed(output), output[-3000:]
    assert "cannot connect to PostgreSQL of connection 'crypto_prices_postgres'" in output


def test_producer_with_the_broker_down_fails_naming_kafka(airflow_stack: Stack) -> None:
    stack = with_broker_down(airflow_stack)
    run = stack.airflow("dags", "test", "crypto_prices_producer", check=False, timeout=RUN_TIMEOUT, env=QUICK)
    output = run.stdout + run.stderr
    assert failed(output), output[-3000:]
    assert f"Kafka at {stack.broker.bootstrap} did not answer within 3 s" in output


def test_producer_does_not_need_postgres(airflow_stack: Stack) -> None:
    run = airflow_stack.airflow(
        "dags", "test", "crypto_prices_producer", check=False, timeout=RUN_TIMEOUT,
        env={**QUICK, **postgres_at_closed_port(airflow_stack)},
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    assert "Published b'cryptowatch:coinbase-pro:btcusd'" in output
