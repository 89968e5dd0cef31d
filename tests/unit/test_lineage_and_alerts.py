"""The Asset URIs and the alert body: pure functions, no services."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from franz_ivan.lineage import database_asset, topic_asset
from franz_ivan.notifications import MAX_MESSAGE_CHARS, WebhookNotifier, alert_body
from tests.helpers import use_connection


def test_assets_name_the_cluster_and_the_topic_in_the_providers_schemes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_TOPIC", "prices_eu")
    monkeypatch.setenv("CRYPTO_PRICES_KAFKA_CLUSTER", "kafka-eu.example.com:9093")
    monkeypatch.setenv("CRYPTO_PRICES_POSTGRES_SERVER", "pg-eu.example.com")
    assert topic_asset().uri == "kafka://kafka-eu.example.com:9093/prices_eu"
    assert topic_asset("other").uri == "kafka://kafka-eu.example.com:9093/other"
    # The postgres provider's normalizer adds the default port.
    assert database_asset().uri == "postgres://pg-eu.example.com:5432/crypto_prices/public/*"
    assert topic_asset() == topic_asset(), "the same settings must give the same Asset in every DAG"


def test_defaults_without_any_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRYPTO_PRICES_TOPIC", "CRYPTO_PRICES_KAFKA_CLUSTER", "CRYPTO_PRICES_POSTGRES_SERVER"):
        monkeypatch.delenv(name, raising=False)
    assert topic_asset().uri == "kafka://crypto-prices-kafka/crypto_prices"
    assert database_asset().uri == "postgres://crypto-prices-postgres:5432/crypto_prices/public/*"


@pytest.mark.parametrize("value", ["kafka://host:9092", "user@host", "host/path", "a b"])
def test_a_server_setting_that_is_not_host_port_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CRYPTO_PRICES_KAFKA_CLUSTER", value)
    with pytest.raises(ValueError, match="CRYPTO_PRICES_KAFKA_CLUSTER"):
        topic_asset()


@pytest.mark.parametrize(
    ("fields", "url"),
    [
        (
            {"host": "https://hooks.example.com/services/T0/B0/x"},
            "https://hooks.example.com/services/T0/B0/x",
        ),
        ({"host": "alerts.internal", "port": 8443, "schema": "https"}, "https://alerts.internal:8443"),
        ({"host": "alerts.internal"}, "http://alerts.internal"),
    ],
)
def test_the_webhook_url_is_the_http_providers_reading_of_the_connection(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, object], url: str
) -> None:
    use_connection(monkeypatch, "crypto_prices_alerts", "http", **fields)
    notifier = WebhookNotifier()
    assert notifier.hook.url_from_endpoint(notifier.endpoint) == url
    assert notifier.hook.method == "POST"
    assert notifier.extra_options == {"timeout": 10.0}


def test_alert_body_of_a_failure_callback_and_of_a_task_alert() -> None:
    ti = SimpleNamespace(
        dag_id="crypto_prices_consumer", task_id="drain_events", try_number=3, state="failed"
    )
    failure = {"ti": ti, "run_id": "scheduled__1", "exception": RuntimeError("broker down\n" + "x" * 5000)}
    body = alert_body(failure, None, "task_failure")
    assert body == {
        "dag_id": "crypto_prices_consumer",
        "task_id": "drain_events",
        "run_id": "scheduled__1",
        "try_number": 3,
        "state": "failed",
        "reason": "task_failure",
        "message": ("RuntimeError: broker down\n" + "x" * 5000)[:MAX_MESSAGE_CHARS],
    }
    running = SimpleNamespace(dag_id="crypto_prices_quality", task_id="check", try_number=1, state="running")
    alert = alert_body({"ti": running, "run_id": "manual__2"}, "3 pairs are stale")
    assert (alert["state"], alert["message"]) == ("running", "3 pairs are stale")


def test_the_notifier_needs_a_connection_id() -> None:
    assert WebhookNotifier().conn_id == "crypto_prices_alerts"
    assert "message" in WebhookNotifier(message="m").template_fields
    with pytest.raises(ValueError, match="connection id"):
        WebhookNotifier(conn_id="")
