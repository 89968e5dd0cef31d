"""The trigger behind :class:`franz_ivan.sensors.PendingEventsSensor`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from asgiref.sync import sync_to_async

from franz_ivan.pending import PendingWatcher
from franz_ivan.pending_query import PendingQuery


class PendingEventsTrigger(BaseTrigger):
    """Fire when the topic holds events that PostgreSQL has not stored yet.

    Compares the broker's end offsets with the positions stored by the drain every
    ``poll_interval`` seconds. Consumes and commits nothing. Always ends: with
    ``{"status": "pending", "pending": {partition: count}}``, with ``{"status": "idle"}`` once
    ``deadline`` (a Unix time) has passed, or with ``{"status": "error", "message": ...}``.

    :param deadline: Unix time after which the trigger reports ``idle``.
    :param topic, consumer_group, kafka_conn_id, postgres_conn_id, poll_interval: what to watch and
        how often, as for :class:`franz_ivan.pending_query.PendingQuery`.
    """

    def __init__(
        self,
        *,
        deadline: float,
        topic: str,
        consumer_group: str,
        kafka_conn_id: str,
        postgres_conn_id: str,
        poll_interval: float = 2.0,
    ) -> None:
        super().__init__()
        self.deadline = deadline
        self.query = PendingQuery(topic, consumer_group, kafka_conn_id, postgres_conn_id, poll_interval)
        self._watcher: PendingWatcher | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "deadline": self.deadline,
            **asdict(self.query),
        }

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            self._watcher = await sync_to_async(PendingWatcher)(self.query)
            while True:
                pending = await sync_to_async(self._watcher.pending)()
                if pending:
                    self.log.info("Pending events per partition: %s", pending)
                    yield TriggerEvent(
                        {"status": "pending", "pending": {str(p): n for p, n in pending.items()}}
                    )
                    return
                remaining = self.deadline - time.time()
                if remaining <= 0:
                    yield TriggerEvent({"status": "idle"})
                    return
                await asyncio.sleep(min(self.query.poll_interval, remaining))
        except Exception as error:  # the event carries the failure to the sensor, which raises it
            yield TriggerEvent({"status": "error", "message": f"{type(error).__name__}: {error}"})

    async def cleanup(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await sync_to_async(watcher.close)()
