"""Tell someone when a run fails, or when a task has something to say: a JSON POST to a webhook.

:class:`WebhookNotifier` is the http provider's ``HttpNotifier`` with what the project adds: the
body, a quiet no-op without the connection, a bounded wait, the URL masked and never logged.

The webhook's URL lives in an Airflow connection (default ``crypto_prices_alerts``), an http
connection read by the http provider's ``HttpHook``: ``host`` the whole URL
(``https://hooks.example.com/services/T0/B0/xyz``), or ``host``, ``port`` and ``schema``
(``http``/``https``) for a URL without a path; a ``login`` and ``password`` are sent as basic auth.
Without that connection the notifier logs one line and does nothing, so a deployment without
alerts loses nothing.

The body is small and holds no secret: ``dag_id``, ``task_id``, ``run_id``, ``try_number``,
``state``, ``reason`` (``task_failure``, ``timed_out``, ``deadline_missed``, ...), ``message``
(the notifier's message, else the exception's text, redacted by Airflow's secrets masker and cut
to :data:`MAX_MESSAGE_CHARS`). The URL (which often holds a token) is
masked before the hook sees it and never logged by this module.

As a callback: :func:`franz_ivan.dag_defaults.alert_on_failure` (what every DAG's tasks have), or
``on_failure_callback=WebhookNotifier()``. From a task, for an alert that is not a failure:
``WebhookNotifier(message="...").notify(get_current_context())``. Importing this module loads the
http provider (requests, aiohttp): DAG files reach it only through ``alert_on_failure``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from airflow.providers.http.notifications.http import HttpNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

ALERTS_CONN_ID: Final = "crypto_prices_alerts"
TIMEOUT_SECONDS: Final = 10.0
"""Connect and read timeout of the POST: a slow webhook must not hold a worker slot."""
MAX_MESSAGE_CHARS: Final = 2000


class WebhookNotifier(HttpNotifier):
    """POST a run's state to the webhook of an http connection.

    What it adds over ``HttpNotifier``: the JSON body (:func:`alert_body`), a log line instead of an
    error when the connection does not exist, a :data:`TIMEOUT_SECONDS` bound, the URL masked in
    every log, and a failed POST logged by kind (its text names the URL) instead of raised.

    :param conn_id: the http connection holding the webhook URL.
    :param message: the text to send (templated); default the exception's text, if any.
    :param reason: why the alert is sent (``task_failure``, ``timed_out``, ``deadline_missed``), for
        the receiver to sort by; default the context's ``reason``.
    :param kwargs: passed to ``HttpNotifier`` (``endpoint``, ``headers``, ...).
    """

    template_fields = (*HttpNotifier.template_fields, "message")  # type: ignore[assignment]  # one more field

    def __init__(
        self,
        *,
        conn_id: str = ALERTS_CONN_ID,
        message: str | None = None,
        reason: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not conn_id:
            raise ValueError("WebhookNotifier needs a connection id")
        kwargs.setdefault("extra_options", {"timeout": TIMEOUT_SECONDS})
        super().__init__(http_conn_id=conn_id, method="POST", **kwargs)
        self.message = message
        self.reason = reason

    @property
    def conn_id(self) -> str:
        """The http connection holding the webhook URL."""
        return str(self.http_conn_id)

    def notify(self, context: Context) -> None:
        """Send the body; a missing connection is logged once, a failed POST is logged, neither raises.

        :param context: the Airflow context of a callback or of a running task.
        """
        import requests
        from airflow.sdk import BaseHook
        from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException
        from airflow.sdk.log import mask_secret

        try:
            BaseHook.get_connection(self.conn_id)
        except AirflowNotFoundException:
            log.info("No connection %s: alert not sent", self.conn_id)
            return
        url = self.hook.url_from_endpoint(self.endpoint)
        mask_secret(url)
        # A connection error's text names the path alone ("... with url: /services/T0/B0/xyz").
        path = urlsplit(url)._replace(scheme="", netloc="").geturl()
        if len(path) > 1:
            mask_secret(path)
        self.json = alert_body(context, self.message, self.reason)
        try:
            super().notify(context)
        except (requests.RequestException, AirflowException) as error:
            # The hook raises "<status>:<reason>" for an error answer; a transport error's text names
            # the URL: give its kind only.
            detail = str(error) if isinstance(error, AirflowException) else type(error).__name__
            log.error("Alert webhook %s: the POST failed (%s)", self.conn_id, detail)
            return
        log.info("Alert sent to webhook %s: %s %s", self.conn_id, self.json["dag_id"], self.json["state"])


def alert_body(
    context: Mapping[str, Any], message: str | None, reason: str | None = None
) -> dict[str, object]:
    """The JSON body of an alert, from a callback's or a task's context.

    :param context: the Airflow context: a task's or a callback's, or a run alone (``dag_run`` as an
        object or, from a deadline callback, as the REST API's mapping; or ``dag``, ``run_id``, ``state``).
    :param message: the text to send; default the context's exception, if any.
    :param reason: why; default the context's ``reason``.
    """
    # Airflow's compatibility layer names the public home of redact (airflow.sdk.log re-exports it
    # only implicitly).
    from airflow.providers.common.compat.sdk import redact

    ti = context.get("ti") or context.get("task_instance")
    dag_run = context.get("dag_run")
    exception = context.get("exception")
    if message is None:
        message = f"{type(exception).__name__}: {exception}" if exception else ""
    state = getattr(ti, "state", None) or context.get("state") or _field(dag_run, "state")
    return {
        "dag_id": getattr(ti, "dag_id", None)
        or getattr(context.get("dag"), "dag_id", None)
        or _field(dag_run, "dag_id"),
        "task_id": getattr(ti, "task_id", None),
        "run_id": context.get("run_id") or _field(dag_run, "run_id") or _field(dag_run, "dag_run_id"),
        "try_number": getattr(ti, "try_number", None),
        "state": str(getattr(state, "value", state)) if state is not None else None,
        "reason": reason or context.get("reason"),
        "message": str(redact(message))[:MAX_MESSAGE_CHARS],
    }


def _field(run: Any, name: str) -> Any:
    """A run's field, whether the run is an object or the REST API's mapping (a deadline's context)."""
    return run.get(name) if isinstance(run, Mapping) else getattr(run, name, None)
