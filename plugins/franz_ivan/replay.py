"""Replay the topic into PostgreSQL: forget the drain's stored positions, so the next drain re-reads
everything the topic still retains.

Run it where the Airflow connections are defined (a scheduler or worker container)::

    python -m franz_ivan.replay            # then let the consumer DAG run, or trigger it

Rows already stored stay and are not doubled (event ids are primary keys; dead letters are keyed by
their topic position), and rows that were deleted or lost come back, as far as the topic retains
them. Running it twice is the same as running it once. Pause the consumer DAG while replaying a
large topic if the sensor should not start the drain before you are ready.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.settings import CONSUMER_GROUP, POSTGRES_CONN_ID, settings
from franz_ivan.store import PriceStore

log = logging.getLogger(__name__)


def replay(postgres_conn_id: str, topic_name: str, consumer_group: str) -> dict[int, int]:
    """Forget the stored positions of ``consumer_group`` on ``topic_name``; return what they were."""

    with PricesPostgresHook(postgres_conn_id).get_conn() as connection:
        store = PriceStore(connection, topic_name, consumer_group)
        store.prepare()
        forgotten = store.stored_offsets()
        store.reset_offsets()
    log.info("Forgot the positions of %s on %s: %s", consumer_group, topic_name, forgotten)
    return forgotten


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m franz_ivan.replay",
        description="Make the next drain re-read the whole topic (idempotent: nothing is stored twice).",
    )
    parser.add_argument(
        "--topic", default=settings().topic, help="default: CRYPTO_PRICES_TOPIC or crypto_prices"
    )
    parser.add_argument("--consumer-group", default=CONSUMER_GROUP)
    parser.add_argument("--postgres-conn-id", default=POSTGRES_CONN_ID)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    forgotten = replay(args.postgres_conn_id, args.topic, args.consumer_group)
    positions = ", ".join(f"partition {p} at {o}" for p, o in sorted(forgotten.items())) or "none stored"
    print(f"Positions forgotten ({positions}); the next drain re-reads {args.topic} from its beginning.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
