"""A deferrable sensor that waits, within a bound, for events PostgreSQL has not stored yet."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from franz_ivan.pending_query import PendingQuery


class PendingEventsSensor(BaseSensorOperator):
    """Succeed as soon as ``topic`` holds events past the drain's stored positions.

    The wait is bounded by ``max_wait_seconds``: with nothing pending by then the sensor skips
    (and so does the drain after it), so a run always ends, ``airflow dags test`` included.
    Left empty, the bound follows the run's type: a scheduled (continuous) run listens for
    ``continuous_max_wait_seconds``, any other run (a manual trigger, ``airflow dags test``) for
    ``manual_max_wait_seconds``, so a person waiting on it sees it end soon.
    It reads watermarks and stored offsets only; it never consumes or commits.

    :param topic: the Kafka topic to watch. (templated)
    :param consumer_group: the drain's consumer group, whose stored positions count as consumed.
    :param kafka_conn_id: Airflow connection holding the librdkafka configuration.
    :param postgres_conn_id: Airflow connection of the ``crypto_prices`` database.
    :param max_wait_seconds: how long to wait for an event before skipping; empty (``None``, or a
        template rendering ``None`` or nothing): by the run's type. (templated)
    :param continuous_max_wait_seconds: the wait of a scheduled run when ``max_wait_seconds`` is empty.
    :param manual_max_wait_seconds: the wait of any other run when ``max_wait_seconds`` is empty.
    :param poll_interval: seconds between checks.
    :param deferrable: wait in the triggerer (default) instead of occupying a worker slot.
    """

    template_fields: Sequence[str] = ("topic", "max_wait_seconds")

    def __init__(
        self,
        *,
        topic: str,
        consumer_group: str,
        kafka_conn_id: str,
        postgres_conn_id: str,
        max_wait_seconds: float | str | None = None,
        continuous_max_wait_seconds: float = 600.0,
        manual_max_wait_seconds: float = 10.0,
        poll_interval: float = 2.0,
        deferrable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(poke_interval=poll_interval, **kwargs)
        # Raises here, in the DAG file, for a poll_interval that is not positive.
        PendingQuery(topic, consumer_group, kafka_conn_id, postgres_conn_id, poll_interval)
        if continuous_max_wait_seconds < 0 or manual_max_wait_seconds < 0:
            raise ValueError(
                f"the waits must not be negative, got continuous {continuous_max_wait_seconds!r} "
                f"and manual {manual_max_wait_seconds!r}"
            )
        self.topic = topic
        self.consumer_group = consumer_group
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.max_wait_seconds = max_wait_seconds
        self.continuous_max_wait_seconds = continuous_max_wait_seconds
        self.manual_max_wait_seconds = manual_max_wait_seconds
        self.poll_interval = poll_interval
        self.deferrable = deferrable

    def _max_wait(self, context: Any) -> float:
        if self.max_wait_seconds is None or str(self.max_wait_seconds).strip() in ("", "None"):
            # The SDK's DagRunType is a str enum: compare it, its str() is "DagRunType.SCHEDULED".
            if getattr(context.get("dag_run"), "run_type", None) == "scheduled":
                return self.continuous_max_wait_seconds
            return self.manual_max_wait_seconds
        try:
            seconds = float(self.max_wait_seconds)
        except (TypeError, ValueError):
            raise ValueError(f"max_wait_seconds {self.max_wait_seconds!r} is not a number") from None
        if seconds < 0:
            raise ValueError(f"max_wait_seconds must not be negative, got {seconds:g}")
        return seconds

    def _query(self) -> PendingQuery:
        """What to watch, with the topic as rendered."""
        return PendingQuery(
            self.topic, self.consumer_group, self.kafka_conn_id, self.postgres_conn_id, self.poll_interval
        )

    def _trigger(self, deadline: float) -> Any:
        from franz_ivan.triggers import PendingEventsTrigger

        return PendingEventsTrigger(deadline=deadline, **asdict(self._query()))

    def execute(self, context: Any) -> dict[str, int] | None:
        max_wait = self._max_wait(context)
        self.log.info("Waiting up to %g s for events on %s", max_wait, self.topic)
        if not self.deferrable:
            self.timeout = max_wait
            self.soft_fail = True
            super().execute(context)
            return None
        # Look once before deferring: events already waiting are handed on at once, and a trigger
        # never fires before the scheduler has recorded the deferral (which fails that try).
        pending = self.pending()
        if pending:
            self.log.info("Events pending on %s: %s", self.topic, pending)
            return {str(partition): count for partition, count in pending.items()}
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

    def poke(self, context: Any) -> bool:
        pending = self.pending()
        self.log.info("Pending events per partition: %s", pending)
        return bool(pending)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, int]:
        status = event.get("status")
        if status == "pending":
            pending = {partition: int(count) for partition, count in event["pending"].items()}
            self.log.info("Events pending on %s: %s", self.topic, pending)
            return pending
        if status == "idle":
            raise AirflowSkipException(
                f"no new events on {self.topic!r} within {self._max_wait(context):g} s: nothing to drain"
            )
        raise AirflowException(f"waiting for events on {self.topic!r} failed: {event.get('message', event)}")
