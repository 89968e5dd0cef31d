"""The task defaults every DAG shares: its owner, two retries, the failure webhook.

tests/dags/test_dag_integrity.py holds every task to this policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

OWNER: Final = "franz-ivan"
RETRIES: Final = 2


def alert_on_failure(context: Mapping[str, Any]) -> None:
    """Post a failed task's state to the alerts webhook
    (:class:`~franz_ivan.notifications.WebhookNotifier` on its default connection).

    A function, not the notifier itself, in the DAGs' ``default_args``: the notifier's module loads
    the http provider (requests, aiohttp, a quarter of a second), which a DAG file must not pay for
    at every parse; this loads it only when a task fails.

    :param context: the failed task's Airflow context.
    """
    from franz_ivan.notifications import WebhookNotifier

    WebhookNotifier()(context)


def task_defaults(retry_delay: timedelta, execution_timeout: timedelta | None = None) -> dict[str, Any]:
    """A DAG's ``default_args``: owner, :data:`RETRIES` retries ``retry_delay`` apart, a post to the
    alerts webhook when a task fails (:func:`alert_on_failure`), and ``execution_timeout`` if given.

    :param retry_delay: the wait between a task's tries.
    :param execution_timeout: the longest a task may run; ``None``: no bound beyond the task's own.
    """
    defaults: dict[str, Any] = {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": retry_delay,
        "on_failure_callback": alert_on_failure,
    }
    if execution_timeout is not None:
        defaults["execution_timeout"] = execution_timeout
    return defaults
