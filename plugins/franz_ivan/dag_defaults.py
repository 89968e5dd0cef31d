"""What every DAG shares: the task defaults (owner, retries, pool, priority, the failure webhook),
the DAG-level failure alert, and the producer's deadline.

tests/dags/test_dag_integrity.py holds every DAG and task to this policy.

**Sharing the workers** (docs/operations.md#sharing-the-workers-pools-and-priorities): the producer's
tasks outrank every other task of the project (:data:`PRODUCER_PRIORITY`), so a free slot goes to
them first; the consumer's tasks run in the pool :data:`DRAINS_POOL`, whose slots are the worker
slots minus the producer's peak (:data:`PRODUCER_PEAK_TASKS`), so long drains can never take the
slots the next minute's producer run needs. Weights are absolute: a task's weight is its own, not
the sum over its downstream tasks (Airflow's default), which would rank the quality DAG's first
task above the producer's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from airflow.sdk import DeadlineAlert  # type: ignore[attr-defined]  # public, but not in the stub

OWNER: Final = "franz-ivan"
RETRIES: Final = 2
DRAINS_POOL: Final = "crypto_prices_drains"
"""The consumer's tasks (sensor, plan, drains): slots = worker slots - :data:`PRODUCER_PEAK_TASKS`."""
PRODUCER_PEAK_TASKS: Final = 6
"""The most producer tasks running at once: one publish task per source (five) and the markets list."""
PRODUCER_PRIORITY: Final = 10
CONSUMER_PRIORITY: Final = 5
QUALITY_PRIORITY: Final = 1
WEIGHT_RULE: Final = "absolute"
QUALITY_CADENCE: Final = "*/5 * * * *"
"""The quality DAG's schedule: at most one run per 5 minutes, whatever the drains do."""
DEADLINE_MISSED: Final = "deadline_missed"
DAG_FAILURE_REASONS: Final = {
    "timed_out": "the run passed its dagrun_timeout; Airflow skipped its unfinished tasks",
    "all_tasks_deadlocked": "no task of the run could be scheduled any more",
}
"""Why a run fails without a failed task (the task's own alert covers ``task_failure``)."""


def alert_on_failure(context: Mapping[str, Any]) -> None:
    """Post a failed task's state to the alerts webhook
    (:class:`~franz_ivan.notifications.WebhookNotifier` on its default connection).

    A function, not the notifier itself, in the DAGs' ``default_args``: the notifier's module loads
    the http provider (requests, aiohttp, a quarter of a second), which a DAG file must not pay for
    at every parse; this loads it only when a task fails.

    :param context: the failed task's Airflow context.
    """
    from franz_ivan.notifications import WebhookNotifier

    WebhookNotifier(reason="task_failure")(context)


def alert_on_dag_failure(context: Mapping[str, Any]) -> None:
    """A DAG's ``on_failure_callback`` (run by the dag-processor): post a run that failed **without**
    a failed task, such as a run past its ``dagrun_timeout`` (Airflow skips its tasks and calls no
    task callback). A run failed by a task is left to that task's alert, so each failure posts once.

    :param context: the DAG callback's context (``dag``, ``run_id``, ``reason``).
    """
    from franz_ivan.notifications import WebhookNotifier

    reason = str(context.get("reason") or "unknown")
    if reason == "task_failure":
        return
    why = DAG_FAILURE_REASONS.get(reason, reason)
    run = {"dag": context.get("dag"), "run_id": context.get("run_id"), "state": "failed"}
    WebhookNotifier(reason=reason, message=f"the run failed with no failed task: {why}").notify(run)  # type: ignore[arg-type]


async def alert_on_deadline_miss(context: Mapping[str, Any], bound_seconds: float) -> None:
    """The producer's deadline callback (run by the triggerer): post the run that is still unfinished
    ``bound_seconds`` after it was queued. A backfill run is left alone: nobody waits for it.

    :param context: what Airflow hands a deadline callback: the run (``dag_run``, as the REST API
        shows it) and the deadline (``deadline``).
    :param bound_seconds: the bound, for the message.
    """
    import asyncio
    import logging

    from franz_ivan.notifications import WebhookNotifier

    run = dict(context.get("dag_run") or {})
    if run.get("run_type") == "backfill":
        logging.getLogger(__name__).info("Backfill run %s is late: no alert", run.get("dag_run_id"))
        return
    deadline = (context.get("deadline") or {}).get("deadline_time")
    message = f"the run was not finished {bound_seconds:g} s after it was queued (deadline {deadline})"
    notifier = WebhookNotifier(reason=DEADLINE_MISSED, message=message)
    await asyncio.to_thread(notifier.notify, {"dag_run": run})  # type: ignore[typeddict-item]  # a mapping


def producer_deadline(bound_seconds: float) -> DeadlineAlert | None:
    """The producer's :class:`~airflow.sdk.DeadlineAlert`: a run not finished ``bound_seconds`` after
    it was queued (a scheduled run is queued at its schedule time) posts to the alerts webhook once,
    from the triggerer (:func:`alert_on_deadline_miss`). Queued, not the logical date: a backfill's
    runs have logical dates long past, and a scheduled run's is a whole interval before its start.

    ``0`` gives no deadline, the default: Airflow 3.3.2's ``airflow dags test`` fails as a run of a
    DAG with a deadline ends (its test loop hands the run the alert definitions where the scheduler
    hands it their stored ids), so the services' deployments turn it on, and ``dags test`` runs
    without it.

    :param bound_seconds: the bound (``CRYPTO_PRICES_PRODUCER_DEADLINE``); ``0``: none.
    """
    if not bound_seconds:
        return None
    from airflow.sdk import (  # type: ignore[attr-defined]  # public, but not in airflow.sdk's stub
        AsyncCallback,
        DeadlineAlert,
        DeadlineReference,
    )

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=bound_seconds),
        callback=AsyncCallback(alert_on_deadline_miss, kwargs={"bound_seconds": bound_seconds}),
        name="producer run late",
    )


def task_defaults(
    retry_delay: timedelta,
    execution_timeout: timedelta | None = None,
    *,
    priority_weight: int,
    pool: str | None = None,
) -> dict[str, Any]:
    """A DAG's ``default_args``: owner, :data:`RETRIES` retries ``retry_delay`` apart, a post to the
    alerts webhook when a task fails (:func:`alert_on_failure`), the priority (absolute), the pool
    if given, and ``execution_timeout`` if given.

    :param retry_delay: the wait between a task's tries.
    :param execution_timeout: the longest a task may run; ``None``: no bound beyond the task's own.
    :param priority_weight: :data:`PRODUCER_PRIORITY`, :data:`CONSUMER_PRIORITY` or :data:`QUALITY_PRIORITY`.
    :param pool: the pool of every task; ``None``: Airflow's ``default_pool``.
    """
    defaults: dict[str, Any] = {
        "owner": OWNER,
        "retries": RETRIES,
        "retry_delay": retry_delay,
        "on_failure_callback": alert_on_failure,
        "priority_weight": priority_weight,
        "weight_rule": WEIGHT_RULE,
    }
    if pool is not None:
        defaults["pool"] = pool
    if execution_timeout is not None:
        defaults["execution_timeout"] = execution_timeout
    return defaults
