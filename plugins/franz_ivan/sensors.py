"""A deferrable sensor that waits, within a bound, for events PostgreSQL has not stored yet."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException

from franz_ivan.pending_query import PendingQuery


class PendingEventsSensor(BaseSensorOperator):
    """Succeed as soon as ``topic`` holds events past the drain's stored positions.

    Either way, deferred or poking, it returns the pending events per partition
    (``{"0": 12, "2": 3}``, partitions as strings, as XCom keeps them) for the task after it.
    The wait is bounded: with nothing pending by then the sensor skips (and so does the drain after
    it), so a run always ends, ``airflow dags test`` included. The bound is the run's param
    ``max_wait_param`` when set, else ``max_wait_seconds`` when given, else by the run's type: a
    scheduled (continuous) run listens for ``continuous_max_wait_seconds``, any other run (a manual
    trigger, ``airflow dags test``) for ``manual_max_wait_seconds``, so a person waiting on it sees
    it end soon. It reads watermarks and stored offsets only; it never consumes or commits.

    :param topic: the Kafka topic to watch. (templated)
    :param consumer_group: the drain's consumer group, whose stored positions count as consumed.
    :param kafka_conn_id: Airflow connection holding the librdkafka configuration.
    :param postgres_conn_id: Airflow connection of the ``crypto_prices`` database.
    :param max_wait_seconds: how long to wait for an event before skipping, when the run's param
        does not say; ``None``: by the run's type.
    :param max_wait_param: the DAG param (read from the run's ``context["params"]``) whose value,
        when not empty, is the wait of that run; ``None``: no param.
    :param continuous_max_wait_seconds: the wait of a scheduled run when nothing else gives one.
    :param manual_max_wait_seconds: the wait of any other run when nothing else gives one.
    :param poll_interval: seconds between checks.
    :param deferrable: wait in the triggerer instead of occupying a worker slot; default the
        ``[operators] default_deferrable`` setting, as for the providers' sensors.
    """

    template_fields: Sequence[str] = ("topic",)

    def __init__(
        self,
        *,
        topic: str,
        consumer_group: str,
        kafka_conn_id: str,
        postgres_conn_id: str,
        max_wait_seconds: float | None = None,
        max_wait_param: str | None = "max_wait_seconds",
        continuous_max_wait_seconds: float = 600.0,
        manual_max_wait_seconds: float = 10.0,
        poll_interval: float = 2.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, **kwargs)
        # Raises here, in the DAG file, for a poll_interval that is not positive.
        PendingQuery(topic, consumer_group, kafka_conn_id, postgres_conn_id, poll_interval)
        self.max_wait_seconds = None if max_wait_seconds is None else wait_seconds(max_wait_seconds)
        self.continuous_max_wait_seconds = wait_seconds(
            continuous_max_wait_seconds, "continuous_max_wait_seconds"
        )
        self.manual_max_wait_seconds = wait_seconds(manual_max_wait_seconds, "manual_max_wait_seconds")
        self.topic = topic
        self.consumer_group = consumer_group
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.max_wait_param = max_wait_param
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _max_wait(self, context: Any) -> float:
        """This run's wait: its param, else the task's ``max_wait_seconds``, else by the run's type."""
        if self.max_wait_param is not None:
            value = (context.get("params") or {}).get(self.max_wait_param)
            if value is not None:
                return wait_seconds(value, f"param {self.max_wait_param!r}")
        if self.max_wait_seconds is not None:
            return self.max_wait_seconds
        # The SDK's DagRunType is a str enum: compare it, its str() is "DagRunType.SCHEDULED".
        if getattr(context.get("dag_run"), "run_type", None) == "scheduled":
            return self.continuous_max_wait_seconds
        return self.manual_max_wait_seconds

    def _query(self) -> PendingQuery:
        """What to watch, with the topic as rendered."""
        return PendingQuery(
            self.topic, self.consumer_group, self.kafka_conn_id, self.postgres_conn_id, self.poll_interval
        )

    def _trigger(self, deadline: float) -> Any:
        from franz_ivan.triggers import PendingEventsTrigger

        return PendingEventsTrigger(deadline=deadline, **asdict(self._query()))

    def _idle(self, max_wait: float) -> AirflowSkipException:
        return AirflowSkipException(
            f"no new events on {self.topic!r} within {max_wait:g} s: nothing to drain"
        )

    def execute(self, context: Any) -> dict[str, int] | None:
        max_wait = self._max_wait(context)
        self.log.info(
            "Waiting up to %g s for events on %s (%s)",
            max_wait,
            self.topic,
            "deferred" if self.deferrable else f"poking every {self.poll_interval:g} s",
        )
        if not self.deferrable:
            # The base class pokes until poke() is done (returning its pending map) or the timeout.
            self.timeout = max_wait
            try:
                pending: dict[str, int] | None = super().execute(context)
            except AirflowSensorTimeout as timeout:
                raise self._idle(max_wait) from timeout
            return pending
        # Look once before deferring: events already waiting are handed on at once, and a trigger
        # never fires before the scheduler has recorded the deferral (which fails that try).
        found = self.pending()
        if found:
            self.log.info("Events pending on %s: %s", self.topic, found)
            return pending_map(found)
        self.defer(
            trigger=self._trigger(time.time() + max_wait),
            method_name="execute_complete",
            # A backstop for the triggerer; the trigger itself ends at the deadline.
            timeout=timedelta(seconds=max_wait + 60),
        )
        return None

    def pending(self) -> dict[int, int]:
        """Pending events per partition, checked once from the worker."""
        from franz_ivan.pending import pending_now

        return pending_now(self._query())

    def poke(self, context: Any) -> PokeReturnValue:
        """One check of the non-deferrable path: done when events are pending, with their map as XCom.

        :param context: the task's Airflow context.
        """
        found = self.pending()
        self.log.info("Pending events per partition: %s", found)
        return PokeReturnValue(is_done=bool(found), xcom_value=pending_map(found))

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, int]:
        status = event.get("status")
        if status == "pending":
            pending = {str(partition): int(count) for partition, count in event["pending"].items()}
            self.log.info("Events pending on %s: %s", self.topic, pending)
            return pending
        if status == "idle":
            raise self._idle(self._max_wait(context))
        raise AirflowException(f"waiting for events on {self.topic!r} failed: {event.get('message', event)}")


def pending_map(pending: dict[int, int]) -> dict[str, int]:
    """Pending events per partition as the sensor returns them: keys as strings, as XCom keeps them.

    :param pending: pending events per partition number.
    """
    return {str(partition): count for partition, count in pending.items()}


def wait_seconds(value: object, name: str = "max_wait_seconds") -> float:
    """``value`` as a wait in seconds, or a ``ValueError`` naming ``name`` and what is wrong.

    :param value: a non-negative number (a bool or a numeric string is refused).
    :param name: what holds the value, for the error.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value:g}")
    return float(value)
