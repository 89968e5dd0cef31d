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

PRODUCER = "crypto_prices_producer"

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
            "reason": None,
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


def test_a_run_that_fails_without_a_failed_task_posts_once_and_a_task_failure_is_left_to_the_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The DAGs' on_failure_callback, as the dag-processor calls it: a timed-out run posts its DAG,
    run and reason; a run failed by a task posts nothing more (the task's own alert did)."""
    from franz_ivan.dag_defaults import alert_on_dag_failure

    dag = SimpleNamespace(dag_id="crypto_prices_producer")
    with webhook_receiver() as (url, received):
        use_connection(monkeypatch, "crypto_prices_alerts", "http", host=url)
        alert_on_dag_failure({"dag": dag, "run_id": "scheduled__2", "reason": "timed_out"})
        alert_on_dag_failure({"dag": dag, "run_id": "scheduled__3", "reason": "task_failure"})
    [body] = [alert["body"] for alert in received]
    assert body == {
        "dag_id": "crypto_prices_producer",
        "task_id": None,
        "run_id": "scheduled__2",
        "try_number": None,
        "state": "failed",
        "reason": "timed_out",
        "message": "the run failed with no failed task: the run passed its dagrun_timeout; "
        "Airflow skipped its unfinished tasks",
    }


def test_a_missed_deadline_posts_the_run_and_a_backfill_run_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The producer's deadline callback with the context Airflow gives it (the run as the REST API
    shows it, the deadline), awaited as the triggerer does."""
    import asyncio

    from franz_ivan.dag_defaults import alert_on_deadline_miss

    def context(run_id: str, run_type: str) -> dict[str, object]:
        run = {"dag_id": PRODUCER, "dag_run_id": run_id, "run_type": run_type, "state": "running"}
        return {"dag_run": run, "deadline": {"id": "d1", "deadline_time": "2026-12-04T12:04:00+00:00"}}

    with webhook_receiver() as (url, received):
        use_connection(monkeypatch, "crypto_prices_alerts", "http", host=url)
        asyncio.run(alert_on_deadline_miss(context("scheduled__4", "scheduled"), 180.0))
        asyncio.run(alert_on_deadline_miss(context("backfill__5", "backfill"), 180.0))
    [body] = [alert["body"] for alert in received]
    assert body == {
        "dag_id": "crypto_prices_producer",
        "task_id": None,
        "run_id": "scheduled__4",
        "try_number": None,
        "state": "running",
        "reason": "deadline_missed",
        "message": "the run was not finished 180 s after it was queued (deadline 2026-12-04T12:04:00+00:00)",
    }
