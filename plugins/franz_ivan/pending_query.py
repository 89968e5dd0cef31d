"""What the consumer's sensor and its trigger watch, as a plain value: light enough for a DAG file.

:mod:`franz_ivan.pending` answers it against the broker and the database.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PendingQuery:
    """What the sensor and its trigger watch: events of ``topic`` past ``consumer_group``'s stored positions.

    :param topic: the Kafka topic.
    :param consumer_group: the drain's consumer group, whose stored positions count as consumed.
    :param kafka_conn_id: Airflow connection holding the librdkafka configuration.
    :param postgres_conn_id: Airflow connection of the ``crypto_prices`` database.
    :param poll_interval: seconds between checks.
    """

    topic: str
    consumer_group: str
    kafka_conn_id: str
    postgres_conn_id: str
    poll_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.poll_interval <= 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval!r}")
