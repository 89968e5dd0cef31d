"""The alerts notifier against a real local webhook, in-process: what it sends, and that a failing
webhook is logged without raising and without the URL (which often holds a token)."""

from __future__ import annotations

import logging
import socket
from types import SimpleNamespace

import pytest

from franz_ivan.notifications import WebhookNotifier
from tests.helpers import use_connection, webhook_receiver

pytestmark = pytest.mark.integration

FAILED = {
    "ti": SimpleNamespace(
        dag_id="crypto_prices_consumer", task_id="drain_events", try_number=3, state="failed"
    ),
    "run_id": "scheduled__1",
    "exception": RuntimeError("broker down"),
}


def notify(caplog: pytest.LogCaptureFixture) -> str:
    """Run the notifier on :data:`FAILED` as a callback does; return what it logged."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        WebhookNotifier()(FAILED)
    return caplog.text


def test_the_body_reaches_the_webhook_and_the_url_is_masked(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow.providers.common.compat.sdk import redact

    with webhook_receiver() as (url, received):
        use_connection(monkeypatch, "crypto_prices_alerts", "http", host=url)
        logged = notify(caplog)
    assert [alert["body"] for alert in received] == [
        {
            "dag_id": "crypto_prices_consumer",
            "task_id": "drain_events",
            "run_id": "scheduled__1",
            "try_number": 3,
            "state": "failed",
            "message": "RuntimeError: broker down",
        }
    ]
    assert "Alert sent to webhook crypto_prices_alerts" in logged
    # Registered with the secrets masker: any log line holding the URL or its path shows *** instead.
    assert "token-in-path" not in str(redact(f"POST {url} failed; path /alerts/token-in-path"))


def test_an_error_answer_is_logged_with_its_status_and_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with webhook_receiver(status=500) as (url, received):
        use_connection(monkeypatch, "crypto_prices_alerts", "http", host=url)
        logged = notify(caplog)
    assert len(received) == 1
    assert "Alert webhook crypto_prices_alerts: the POST failed (500:Internal Server Error)" in logged
    assert "token-in-path" not in logged


def test_an_unreachable_webhook_is_logged_by_kind_and_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    use_connection(
        monkeypatch, "crypto_prices_alerts", "http", host=f"http://127.0.0.1:{port}/alerts/token-in-path"
    )
    logged = notify(caplog)
    assert "Alert webhook crypto_prices_alerts: the POST failed (ConnectionError)" in logged
    assert "token-in-path" not in logged


def test_without_the_connection_nothing_is_sent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_CRYPTO_PRICES_ALERTS", raising=False)
    assert "No connection crypto_prices_alerts: alert not sent" in notify(caplog)
