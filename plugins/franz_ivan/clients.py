"""Kafka and PostgreSQL clients built from the Airflow connections, and nothing else.

The connection's extra holds the librdkafka configuration (``bootstrap.servers``, and for Aiven
``security.protocol=SSL`` with ``ssl.ca.pem`` / ``ssl.certificate.pem`` / ``ssl.key.pem``); the
PostgreSQL connection holds host, port, login, password, schema (the database) and libpq TLS
settings in its extra. Secrets are never logged or put into error messages here.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID, api_conn_id
from franz_ivan.sources.base import Endpoint

if TYPE_CHECKING:
    import psycopg
    from airflow.sdk import Connection

    from franz_ivan.sources.base import PriceSource

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "crypto_prices"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
LIBPQ_EXTRA_SETTINGS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options")


class CredentialsError(ValueError):
    """A connection is missing something the pipeline needs. Names the connection and the field."""


def get_connection(conn_id: str) -> Connection:
    from airflow.sdk import BaseHook

    return BaseHook.get_connection(conn_id)


def source_endpoint(source: PriceSource) -> Endpoint:
    """Base URL and API key of ``source`` from its connection, or the public URL without a key."""
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = api_conn_id(source.name)
    try:
        conn = get_connection(conn_id)
    except AirflowNotFoundException:
        return Endpoint(source.default_base_url)
    if not conn.host:
        base_url = source.default_base_url
    elif "://" in conn.host:
        base_url = conn.host
    else:
        base_url = f"{conn.schema or 'https'}://{conn.host}" + (f":{conn.port}" if conn.port else "")
    return Endpoint(base_url, conn.password or None)


def kafka_config(conn_id: str = KAFKA_CONN_ID, **overrides: Any) -> dict[str, Any]:
    """The librdkafka configuration held in connection ``conn_id``, updated with ``overrides``."""
    extra = get_connection(conn_id).extra_dejson
    if not isinstance(extra, dict) or not extra.get("bootstrap.servers"):
        raise CredentialsError(
            f"Kafka connection {conn_id!r} has no 'bootstrap.servers' in its extra "
            '(expected e.g. {"bootstrap.servers": "kafka.example.com:9092"})'
        )
    return {**extra, **overrides}


def postgres_connect_kwargs(conn: Connection) -> dict[str, Any]:
    """psycopg/libpq keyword arguments for an Airflow ``postgres`` connection."""
    if not conn.host:
        raise CredentialsError(f"PostgreSQL connection {conn.conn_id!r} has no host")
    extra = conn.extra_dejson
    kwargs: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port or 5432,
        "dbname": conn.schema or DEFAULT_DATABASE,
        "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS,
        "application_name": "franz-ivan",
        # A server that vanishes mid-drain is noticed within about a minute, not hours.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }
    if conn.login:
        kwargs["user"] = conn.login
    if conn.password:
        kwargs["password"] = conn.password
    kwargs.update({key: extra[key] for key in LIBPQ_EXTRA_SETTINGS if extra.get(key)})
    return kwargs


def connect_postgres(conn_id: str = POSTGRES_CONN_ID) -> psycopg.Connection:
    """Open a psycopg connection to the database of connection ``conn_id`` (use it in ``with``)."""
    import psycopg

    kwargs = postgres_connect_kwargs(get_connection(conn_id))
    try:
        return psycopg.connect(**kwargs)
    except psycopg.OperationalError as error:
        raise ConnectionError(
            f"cannot connect to PostgreSQL of connection {conn_id!r} "
            f"({kwargs['host']}:{kwargs['port']}/{kwargs['dbname']}): {str(error).strip()}"
        ) from None
