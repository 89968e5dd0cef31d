"""The task defaults every DAG shares: its owner, two retries, the failure webhook.

tests/dags/test_dag_integrity.py holds every task to this policy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Final

OWNER: Final = "franz-ivan"
RETRIES: Final = 2


def task_defaults(retry_delay: timedelta, execution_timeout: timedelta | None = None) -> dict[str, Any]:
    """A DAG's ``default_args``: owner, :data:`RETRIES` retries ``retry_delay`` apart, a post to the
    alerts webhook when a task fails (:class:`~franz_ivan.notifications.WebhookNotifier`), and
    ``execution_timeout`` if given."""
    from franz_ivan.notifications import WebhookNotifier

    defaults: dict[str, Any] = {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": retry_delay,
        "on_failure_callback": WebhookNotifier(),
    }
    if execution_timeout is not None:
        defaults["execution_timeout"] = execution_timeout
    return defaults
