"""The distribution's provider metadata: what Airflow's ProvidersManager, the UI's connection forms and
its Test button read from the ``apache_airflow_provider`` entry point; no broker, no database."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import airflow
import jsonschema
import pytest
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
from airflow.sdk import BaseHook

from franz_ivan.get_provider_info import KAFKA_CONNECTION_TYPE, get_provider_info
from franz_ivan.hooks.checks import CONNECTION_TYPE as POSTGRES_CONNECTION_TYPE
from franz_ivan.hooks.checks import on_kafka_error
from franz_ivan.hooks.kafka import PricesKafkaHook
from franz_ivan.hooks.postgres import PricesPostgresHook
from tests.helpers import use_connection

PEM_FIELDS = {
    KAFKA_CONNECTION_TYPE: {"ssl_ca_pem", "ssl_certificate_pem", "ssl_key_pem"},
    POSTGRES_CONNECTION_TYPE: {"sslrootcert_pem", "sslcert_pem", "sslkey_pem"},
}


def connection_types() -> dict[str, dict[str, Any]]:
    return {item["connection-type"]: item for item in get_provider_info()["connection-types"]}


def test_the_provider_info_follows_airflows_schema() -> None:
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_the_installed_distribution_declares_the_provider_and_the_plugin() -> None:
    (provider,) = [ep for ep in entry_points(group="apache_airflow_provider") if ep.dist.name == "franz-ivan"]
    (plugin,) = [ep for ep in entry_points(group="airflow.plugins") if ep.dist.name == "franz-ivan"]
    assert provider.load() is get_provider_info
    assert plugin.load().name == "crypto_prices_ui"
    (listed,) = get_provider_info()["plugins"]
    assert listed["plugin-class"] == f"{plugin.module}.{plugin.attr}"


def test_every_named_class_and_module_imports_and_fits_its_connection_type() -> None:
    info = get_provider_info()
    for conn_type, item in connection_types().items():
        module, _, name = item["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn_type, f"{hook.__name__} answers for {conn_type}"
        assert hook.hook_name == item["hook-name"]
    modules = [
        m
        for kind in ("hooks", "operators", "triggers", "sensors")
        for entry in info[kind]
        for m in entry["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for dotted in info["notifications"]:
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


@pytest.mark.parametrize("conn_type", sorted(PEM_FIELDS))
def test_every_pem_and_key_is_a_password_field_of_the_ui_form(conn_type: str) -> None:
    """What the api-server's ``/ui/connections/hook_meta`` answers, which the connection form draws."""
    (meta,) = [hook for hook in HookMetaService.hook_meta_data() if hook.connection_type == conn_type]
    fields = meta.extra_fields or {}
    secret = {name for name, field in fields.items() if field["schema"].get("format") == "password"}
    assert secret == PEM_FIELDS[conn_type]
    for name in PEM_FIELDS[conn_type]:
        assert fields[name]["schema"]["title"], f"{name} has a label"


def test_the_kafka_forms_fields_become_librdkafka_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    use_connection(
        monkeypatch,
        "crypto_prices_kafka",
        KAFKA_CONNECTION_TYPE,
        host="kafka.example.com:12345",
        extra={"security_protocol": "SSL", "ssl_ca_pem": "", "client.id": "prices"},
    )
    config = PricesKafkaHook().config()
    assert config == {
        "error_cb": on_kafka_error,
        "bootstrap.servers": "kafka.example.com:12345",
        "security.protocol": "SSL",
        "client.id": "prices",
    }, "the host is the bootstrap servers, an empty PEM field sets nothing, other extras pass through"


def test_both_connection_types_reach_the_projects_hooks_and_test_buttons(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``Connection.test_connection`` (the UI's Test button) asks the hook the type is bound to."""
    use_connection(monkeypatch, "kafka_form", KAFKA_CONNECTION_TYPE, extra={"security_protocol": "SSL"})
    use_connection(monkeypatch, "pg_form", POSTGRES_CONNECTION_TYPE, extra={"sslkey_pem": "x"})

    kafka = BaseHook.get_connection("kafka_form")
    postgres = BaseHook.get_connection("pg_form")

    assert type(kafka.get_hook()) is PricesKafkaHook
    assert type(postgres.get_hook()) is PricesPostgresHook
    assert kafka.test_connection() == (
        False,
        "Kafka connection 'kafka_form' has no 'bootstrap.servers' in its extra (expected e.g. "
        '{"bootstrap.servers": "kafka.example.com:9092"}, or the host field of a franz_ivan_kafka one)',
    )
    assert postgres.test_connection() == (False, "PostgreSQL connection 'pg_form' has no host")
