"""The Asset URIs and the alert body: pure functions, no services."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from franz_ivan.lineage import (
    kafka_server,
    postgres_server,
    table_asset,
    tables_alias,
    topic_alias,
    topic_asset,
)
from franz_ivan.notifications import MAX_MESSAGE_CHARS, WebhookNotifier, alert_body
from franz_ivan.operators import published_extra, table_extras
from tests.helpers import use_connection


def test_assets_name_the_real_servers_in_the_providers_schemes() -> None:
    server = kafka_server({"bootstrap.servers": "kafka-eu.example.com:9093, kafka-eu-2.example.com:9093"})
    assert server == "kafka-eu.example.com:9093", "the first bootstrap server names the cluster"
    assert topic_asset(server, "prices_eu").uri == "kafka://kafka-eu.example.com:9093/prices_eu"
    assert kafka_server({"bootstrap.servers": "SSL://k.example.com:9094"}) == "k.example.com:9094"
    # The postgres provider's normalizer keeps the port; the default one is filled in by the helper.
    pg = postgres_server("pg-eu.example.com", None)
    assert pg == "pg-eu.example.com:5432"
    assert table_asset(pg, "crypto_prices", "btcusd").uri == (
        "postgres://pg-eu.example.com:5432/crypto_prices/public/btcusd"
    )
    assert table_asset(pg, "crypto_prices", "btcusd") == table_asset(pg, "crypto_prices", "btcusd")


def test_a_runs_asset_events_sum_what_its_mapped_tasks_returned() -> None:
    """One event per table a drain stored rows in, its rows and the counts summed over the drains."""
    drains = [
        {"events": 5, "prices": 3, "allowances": 2, "dead_letters": 0, "duplicates": 1,
         "tables": {"btcusd": 3, "cryptowatch_api_allowance": 2, "crypto_prices_dead_letter": 0}},
        {"events": 4, "prices": 2, "allowances": 1, "dead_letters": 1, "duplicates": 0,
         "tables": {"btcusd": 1, "ethusd": 1, "cryptowatch_api_allowance": 1,
                    "crypto_prices_dead_letter": 1}},
    ]  # fmt: skip
    counts = {"events": 9, "prices": 5, "allowances": 3, "dead_letters": 1, "duplicates": 1}
    assert table_extras(drains) == {
        "btcusd": {"rows": 4, **counts},
        "crypto_prices_dead_letter": {"rows": 1, **counts},
        "cryptowatch_api_allowance": {"rows": 3, **counts},
        "ethusd": {"rows": 1, **counts},
    }
    assert table_extras(drains[:1])["btcusd"]["rows"] == 3
    assert "crypto_prices_dead_letter" not in table_extras(drains[:1]), "a table with no new row has no event"
    assert table_extras([]) == {}
    published = [
        {"source": "kraken", "prices": 2, "events": 2, "markets": 2},
        {"source": "cryptowatch", "prices": 1, "events": 2, "markets": 1},
    ]
    assert published_extra(published) == {"prices": 3, "events": 4, "sources": ["cryptowatch", "kraken"]}


def test_the_dags_declare_aliases_whose_names_never_change() -> None:
    """The aliases are what the DAG files hold: the same in every DAG, free of any server name."""
    assert (topic_alias().name, tables_alias().name) == ("crypto_prices_topic", "crypto_prices_tables")
    assert topic_alias() == topic_alias()


@pytest.mark.parametrize("config", [{}, {"bootstrap.servers": ""}, {"bootstrap.servers": "user@host:9092"}])
def test_a_kafka_configuration_without_a_host_port_is_refused(config: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"bootstrap\.servers"):
        kafka_server(config)


def test_a_topic_with_a_slash_or_a_connection_without_host_names_no_asset() -> None:
    with pytest.raises(ValueError, match="topics have no '/'"):
        topic_asset("k:9092", "a/b")
    with pytest.raises(ValueError, match="no host"):
        postgres_server(None, 5432)


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
