"""Names and settings shared by the DAGs, in one place.

Secrets live only in Airflow connections (the ids below). Everything else is an environment
variable with a default, read where it is used; the README's "Configuration at a glance" lists
them (tests/deploy/test_config_table.py holds it to the code).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

KAFKA_CONN_ID: Final = "crypto_prices_kafka"
POSTGRES_CONN_ID: Final = "crypto_prices_postgres"


def api_conn_id(source: str) -> str:
    """Each price source's optional connection (host = base URL, password = API key): ``<source>_api``."""
    return f"{source}_api"


MARKETS_VARIABLE: Final = "crypto_prices_markets"
DEFAULT_MARKETS: Final = ("kraken:btcusd",)
"""Kraken, Cryptowatch's successor: live and keyless, so a new deployment has prices at once."""

CONSUMER_GROUP: Final = "crypto_prices_consumer"

SQL_DIR: Final = Path(
    os.environ.get("CRYPTO_PRICES_SQL_DIR", Path(__file__).resolve().parents[2] / "include" / "sql")
)


def env_str(name: str, default: str) -> str:
    return os.environ.get(name) or default


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"environment variable {name}={raw!r} must be positive")
    return value


def topic() -> str:
    """The Kafka topic both DAGs use (``CRYPTO_PRICES_TOPIC``, default ``crypto_prices``)."""
    return env_str("CRYPTO_PRICES_TOPIC", "crypto_prices")


def topic_partitions() -> int:
    """Partitions for the topic if the producer creates it (``CRYPTO_PRICES_TOPIC_PARTITIONS``, default 3)."""
    return int(env_float("CRYPTO_PRICES_TOPIC_PARTITIONS", 3))


def read_sql(name: str) -> str:
    """The text of ``include/sql/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()
