"""The hooks' configuration, built from connections in the environment; no broker, no database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import BaseHook

from franz_ivan.hooks.checks import CredentialsError, on_kafka_error
from franz_ivan.hooks.kafka import PricesAdminHook, PricesConsumerHook, PricesProducerHook
from franz_ivan.hooks.postgres import PricesPostgresHook


def use_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch, "crypto_prices_kafka", {"conn_type": "kafka", "extra": {"bootstrap.servers": "k:9"}}
    )


def test_each_kafka_hook_is_the_providers_with_its_settings(kafka: None) -> None:
    producer = PricesProducerHook(delivery_timeout=7).config()
    consumer = PricesConsumerHook(consumer_group="g").config()
    admin = PricesAdminHook().config()

    assert isinstance(PricesProducerHook(delivery_timeout=7), KafkaProducerHook)
    assert isinstance(PricesConsumerHook(consumer_group="g"), KafkaConsumerHook)
    assert isinstance(PricesAdminHook(), KafkaAdminClientHook)
    assert {key: producer[key] for key in ("enable.idempotence", "acks", "message.timeout.ms")} == {
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 7000,
    }
    assert {key: consumer[key] for key in ("group.id", "enable.auto.commit", "isolation.level")} == {
        "group.id": "g",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    }
    assert admin == {"error_cb": on_kafka_error, "bootstrap.servers": "k:9"}
    assert producer["error_cb"] is consumer["error_cb"] is on_kafka_error


def test_a_given_configuration_replaces_the_connection() -> None:
    """No connection exists here: ``config=`` needs none."""
    assert PricesAdminHook(config={"bootstrap.servers": "b:1"}).config() == {
        "error_cb": on_kafka_error,
        "bootstrap.servers": "b:1",
    }


def test_the_postgres_hook_is_what_get_hook_returns_for_the_inline_pem_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The provider/ entry point registers it; the stock type keeps the stock hook."""
    use_connection(monkeypatch, "inline", {"conn_type": "franz_ivan_postgres", "host": "db"})
    use_connection(monkeypatch, "stock", {"conn_type": "postgres", "host": "db"})

    inline = BaseHook.get_connection("inline").get_hook()
    stock = BaseHook.get_connection("stock").get_hook()

    assert type(inline) is PricesPostgresHook
    assert type(stock) is PostgresHook


def test_the_postgres_hook_fills_in_the_projects_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch,
        "crypto_prices_postgres",
        {"conn_type": "postgres", "host": "db", "login": "u", "extra": {"sslrootcert": "/ca.pem"}},
    )

    settings = PricesPostgresHook().connect_kwargs()

    assert {
        key: settings[key] for key in ("host", "port", "user", "dbname", "sslmode", "connect_timeout")
    } == {
        "host": "db",
        "port": 5432,
        "user": "u",
        "dbname": "crypto_prices",
        "sslmode": "verify-full",
        "connect_timeout": 10,
    }
    assert settings["keepalives"] == 1


def test_the_old_form_is_refused_before_libpq_sees_it(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch,
        "crypto_prices_postgres",
        {
            "conn_type": "postgres",
            "host": "db",
            "extra": {"sslrootcert_pem": "-----BEGIN CERTIFICATE-----\nx\n"},
        },
    )

    with pytest.raises(
        CredentialsError, match=r"conn_type 'postgres'.*python -m devtools\.aiven_connections convert"
    ):
        PricesPostgresHook().get_conn()
