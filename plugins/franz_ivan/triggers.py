"""The trigger behind :class:`franz_ivan.sensors.PendingEventsSensor`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from franz_ivan.pending import PendingWatcher
from franz_ivan.pending_query import PendingQuery

T = TypeVar("T")


class PendingEventsTrigger(BaseTrigger):
    """Fire when the topic holds events that PostgreSQL has not stored yet.

    Compares the broker's end offsets with the positions stored by the drain every
    ``poll_interval`` seconds. Consumes and commits nothing. Always ends: with
    ``{"status": "pending", "pending": {partition: count}}``, with ``{"status": "idle"}`` once
    ``deadline`` (a Unix time) has passed, or with ``{"status": "error", "message": ...}``.

    Its blocking calls (opening the clients, each check, closing) run one after another on a
    thread of its own, never on a thread shared with other triggers: a broker that stops
    answering stalls this trigger alone (up to the metadata timeout), not every trigger of the
    triggerer; and the clients are only ever used from that one thread.

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
        self._thread: ThreadPoolExecutor | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return f"{type(self).__module__}.{type(self).__qualname__}", {
            "deadline": self.deadline,
            **asdict(self.query),
        }

    async def _blocking(self, call: Callable[[], T]) -> T:
        """Run ``call`` on this trigger's own thread (made on first use), after any call before it."""
        if self._thread is None:
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"pending-{self.query.topic}")
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    def _open(self) -> PendingWatcher:
        # Kept on self from the thread itself: a run cancelled while this is under way still has
        # the clients closed by cleanup(), which runs on the same thread after it.
        self._watcher = PendingWatcher(self.query)
        return self._watcher

    def _close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.close()

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            watcher = await self._blocking(self._open)
            while True:
                pending = await self._blocking(watcher.pending)
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
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            # Queued behind a call still under way (a cancelled run's): the clients are never
            # closed while in use.
            await asyncio.get_running_loop().run_in_executor(thread, self._close)
        finally:
            thread.shutdown(wait=False)
