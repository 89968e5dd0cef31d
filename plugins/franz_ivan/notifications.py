"""Tell someone when a run fails, or when a task has something to say: a JSON POST to a webhook.

The webhook's URL lives in an Airflow connection (default ``crypto_prices_alerts``), an http
connection whose ``host`` is the whole URL (``https://hooks.example.com/services/T0/B0/xyz``) or
``host``, ``port`` and ``schema`` (``http``/``https``) as the http provider reads them; a ``login``
and ``password`` are sent as basic auth. Without that connection the notifier logs one line and does
nothing, so a deployment without alerts loses nothing.

The body is small and holds no secret: ``dag_id``, ``task_id``, ``run_id``, ``try_number``,
``state``, ``message`` (the notifier's message, else the exception's text, redacted by Airflow's
secrets masker and cut to :data:`MAX_MESSAGE_CHARS`). The URL (which often holds a token) is
never logged.

As a callback: ``default_args={"on_failure_callback": WebhookNotifier()}``. From a task, for an
alert that is not a failure: ``WebhookNotifier(message="...").notify(get_current_context())``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from airflow.sdk import BaseNotifier

log = logging.getLogger(__name__)

ALERTS_CONN_ID: Final = "crypto_prices_alerts"
TIMEOUT_SECONDS: Final = 10.0
"""Connect and read timeout of the POST: a slow webhook must not hold a worker slot."""
MAX_MESSAGE_CHARS: Final = 2000


class WebhookNotifier(BaseNotifier):
    """POST a run's state to the webhook of an http connection.

    :param conn_id: the http connection holding the webhook URL.
    :param message: the text to send (templated); default the exception's text, if any.
    """

    template_fields: Sequence[str] = ("message",)

    def __init__(self, *, conn_id: str = ALERTS_CONN_ID, message: str | None = None) -> None:
        super().__init__()
        if not conn_id:
            raise ValueError("WebhookNotifier needs a connection id")
        self.conn_id = conn_id
        self.message = message

    def notify(self, context: Mapping[str, Any]) -> None:
        """Send the body; a missing connection is logged once, a failed POST is logged, neither raises.

        :param context: the Airflow context of a callback or of a running task.
        """
        url, auth = self._webhook()
        if url is None:
            return
        import requests

        body = alert_body(context, self.message)
        try:
            response = requests.post(url, json=body, auth=auth, timeout=TIMEOUT_SECONDS)
        except requests.RequestException as error:
            # The exception's text names the URL, and the URL may carry a token: give its kind only.
            log.error("Alert webhook %s: the POST failed (%s)", self.conn_id, type(error).__name__)
            return
        if response.status_code >= 300:
            log.error("Alert webhook %s answered HTTP %s", self.conn_id, response.status_code)
            return
        log.info("Alert sent to webhook %s: %s %s", self.conn_id, body["dag_id"], body["state"])

    def _webhook(self) -> tuple[str | None, tuple[str, str] | None]:
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException:
            log.info("No connection %s: alert not sent", self.conn_id)
            return None, None
        url = webhook_url(self.conn_id, conn.host, conn.port, conn.schema)
        auth = (conn.login, conn.password or "") if conn.login else None
        return url, auth


def webhook_url(conn_id: str, host: str | None, port: int | None, schema: str | None) -> str:
    """The URL an http connection names: ``host`` if it is a URL, else ``schema://host[:port][/path]``.

    :param conn_id: the connection, named in the error.
    :param host: the connection's host: a URL, or a host name with an optional path.
    :param port: the connection's port, for a host name.
    :param schema: ``http`` or ``https`` (default ``http``), for a host name.
    """
    if not host:
        raise ValueError(f"connection {conn_id!r} has no host: set it to the webhook's URL")
    if "://" in host:
        return host
    scheme = (schema or "http").lower()
    if scheme not in ("http", "https"):
        raise ValueError(f"connection {conn_id!r}: schema {schema!r} is not http or https")
    name, slash, path = host.partition("/")
    netloc = f"{name}:{port}" if port else name
    return f"{scheme}://{netloc}{slash}{path}"


def alert_body(context: Mapping[str, Any], message: str | None) -> dict[str, object]:
    """The JSON body of an alert, from a callback's or a task's context.

    :param context: the Airflow context.
    :param message: the text to send; default the context's exception, if any.
    """
    from airflow.sdk._shared.secrets_masker import redact

    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    if message is None:
        message = f"{type(exception).__name__}: {exception}" if exception else ""
    state = getattr(ti, "state", None) or getattr(dag_run, "state", None)
    return {
        "dag_id": getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or getattr(dag_run, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "state": str(getattr(state, "value", state)) if state is not None else None,
        "message": str(redact(message))[:MAX_MESSAGE_CHARS],
    }
