"""The Assets the DAGs declare, so Airflow's Assets graph shows producer -> topic -> consumer -> database.

Parse-time safe: the URIs come from environment variables with defaults, never from a connection
(reading one may touch the metadata database or a secrets backend). The schemes are the apache-kafka
and postgres providers' own, so Airflow normalizes them and OpenLineage understands them:

- the topic: ``kafka://<cluster>/<topic>``, the cluster named by ``CRYPTO_PRICES_KAFKA_CLUSTER``
  (default ``crypto-prices-kafka``; a deployment sets its bootstrap ``host:port`` or a stable name);
- the database: ``postgres://<server>/crypto_prices/public/*``, the server named by
  ``CRYPTO_PRICES_POSTGRES_SERVER`` (default ``crypto-prices-postgres:5432``). The postgres scheme
  names one table; ``*`` stands for all of the database's tables (one per pair, the allowance
  table, the dead letters and the stored positions), which the drain writes in one transaction.

The same names in every DAG give the same Asset, so a DAG scheduled on :func:`database_asset` runs
after each drain that stored something.
"""

from __future__ import annotations

from typing import Final

from airflow.sdk import Asset

from franz_ivan.settings import settings

DATABASE: Final = "crypto_prices"
SCHEMA: Final = "public"
ALL_TABLES: Final = "*"


def topic_asset(topic: str | None = None) -> Asset:
    """The Kafka topic as an Asset: ``kafka://<cluster>/<topic>``.

    :param topic: the topic; default the one both DAGs use (``CRYPTO_PRICES_TOPIC``).
    """
    name = topic or settings().topic
    if "/" in name:
        raise ValueError(f"Kafka topic {name!r} cannot name an Asset: topics have no '/'")
    return Asset(uri=f"kafka://{settings().kafka_cluster}/{name}")


def database_asset() -> Asset:
    """The ``crypto_prices`` database's tables as one Asset: ``postgres://<server>/crypto_prices/public/*``."""
    return Asset(uri=f"postgres://{settings().postgres_server}/{DATABASE}/{SCHEMA}/{ALL_TABLES}")
