"""The drain's write side: each batch committed with its positions, one at a time and in order.

A thread of its own commits a batch while the drain reads and decodes the next one; after each
commit the positions are mirrored to the Kafka consumer group (lag display only).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaException

if TYPE_CHECKING:
    from franz_ivan.kafka_topics import GroupMirror
    from franz_ivan.store import Batch, BatchCounts, PriceStore

log = logging.getLogger(__name__)


@dataclass(slots=True)
class DrainResult:
    events: int = 0
    prices: int = 0
    allowances: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    batches: int = 0
    seconds: float = 0.0
    next_offsets: dict[int, int] = field(default_factory=dict)
    tables: dict[str, int] = field(default_factory=dict)
    """Rows stored per table (pair tables, allowance and dead-letter tables) over the whole drain."""

    def add(self, counts: BatchCounts) -> None:
        for table, rows in counts.tables.items():
            self.tables[table] = self.tables.get(table, 0) + rows
        self.prices += counts.prices
        self.allowances += counts.allowances
        self.dead_letters += counts.dead_letters
        self.duplicates += counts.duplicates
        self.batches += 1

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "next_offsets": {str(p): o for p, o in self.next_offsets.items()}}


class BatchWriter:
    """Commits batches to ``store`` and adds what each stored to ``result``.

    Until :meth:`start`, a batch is written in the caller's thread; after it, by a thread of its
    own, at most one batch at a time (:meth:`submit` first waits for the one before).

    :param store: where the events and positions go.
    :param result: the drain's result, which gets each batch's counts and positions.
    :param mirror: copies each committed position to the Kafka group; none: no copy.
    """

    def __init__(self, store: PriceStore, result: DrainResult, mirror: GroupMirror | None = None) -> None:
        self.store = store
        self.result = result
        self.mirror = mirror
        self.thread: ThreadPoolExecutor | None = None
        self.writing: Future[None] | None = None
        """The batch being committed by the thread while the next one is read (at most one)."""

    def start(self) -> None:
        """From now on, write on a thread of its own."""
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="drain-writer")

    def submit(self, batch: Batch) -> None:
        """Wait for the batch before (raising its error), then write ``batch``: on the thread, if started."""
        self.wait()
        if self.thread is None:
            self.write(batch)
        else:
            self.writing = self.thread.submit(self.write, batch)

    def wait(self) -> None:
        """Wait for the batch being written, if any; raise what its write raised."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    def stop(self) -> None:
        """Let the batch being written finish (before the caller closes the connection); stop the thread."""
        if self.thread is None:
            return
        try:
            self.wait()
        except Exception:
            # Only reached while another error propagates (a normal end already waited): that one is raised.
            log.exception("The last batch's write failed as well")
        finally:
            self.thread.shutdown(wait=True)
            self.thread = None

    def write(self, batch: Batch) -> None:
        """Commit ``batch`` and its positions to PostgreSQL, then mirror the positions to Kafka."""
        counts = self.store.write(batch)
        self.result.add(counts)
        self.result.next_offsets.update(batch.next_offsets)
        log.info(
            "Stored batch %d: %d prices, %d allowances, %d dead letters, %d duplicates skipped",
            self.result.batches,
            counts.prices,
            counts.allowances,
            counts.dead_letters,
            counts.duplicates,
        )
        self.mirror_offsets(batch.next_offsets)

    def mirror_offsets(self, next_offsets: dict[int, int]) -> None:
        """Copy the positions just committed to the Kafka group; after one failure, stop trying."""

        if self.mirror is None:
            return
        try:
            self.mirror.copy(next_offsets)
        except (KafkaException, TimeoutError) as error:
            # The positions are already committed in PostgreSQL, and only those are ever read back.
            log.warning("Could not mirror positions to the Kafka group (lag display only): %s", error)
            self.mirror = None
