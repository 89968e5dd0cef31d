"""Conveniences over the hooks (:mod:`franz_ivan.hooks`), and the price sources' endpoints.

Every Kafka and PostgreSQL client is made by a hook subclass of the providers' hooks:
:mod:`franz_ivan.hooks.kafka` and :mod:`franz_ivan.hooks.postgres` describe the connection forms.
The names below stay for the callers that use them; new code holds a hook instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from franz_ivan.hooks.checks import CredentialsError, check_pem, kafka_trouble
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID, api_conn_id
from franz_ivan.sources.base import Endpoint

if TYPE_CHECKING:
    import psycopg
    from airflow.sdk import Connection

    from franz_ivan.sources.ticker import PriceSource

__all__ = [
    "CredentialsError",
    "check_pem",
    "connect_postgres",
    "get_connection",
    "kafka_config",
    "kafka_trouble",
    "open_postgres",
    "postgres_connect_kwargs",
    "source_endpoint",
]


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
    """The librdkafka configuration of connection ``conn_id`` (checked, with the TLS-hint ``error_cb``),
    updated with ``overrides``."""
    from franz_ivan.hooks.kafka import PricesKafkaHook

    return {**PricesKafkaHook(conn_id).config(), **overrides}


def postgres_connect_kwargs(conn: Connection) -> dict[str, Any]:
    """The libpq settings :class:`~franz_ivan.hooks.postgres.PricesPostgresHook` uses for ``conn``.

    Inline PEMs (``sslrootcert_pem`` ...) are checked but not included: the hook writes them to
    files. A connection with a CA but no ``sslmode`` gets ``verify-full``.
    """
    from franz_ivan.hooks.postgres import PricesPostgresHook

    return PricesPostgresHook(postgres_conn_id=conn.conn_id, connection=conn).connect_kwargs()


def open_postgres(conn: Connection) -> psycopg.Connection:
    """Open a psycopg connection for the Airflow connection ``conn`` (use it in ``with``)."""
    from franz_ivan.hooks.postgres import PricesPostgresHook

    connection: psycopg.Connection = PricesPostgresHook(
        postgres_conn_id=conn.conn_id, connection=conn
    ).get_conn()
    return connection


def connect_postgres(conn_id: str = POSTGRES_CONN_ID) -> psycopg.Connection:
    """Open a psycopg connection to the database of connection ``conn_id`` (use it in ``with``)."""
    from franz_ivan.hooks.postgres import PricesPostgresHook

    connection: psycopg.Connection = PricesPostgresHook(postgres_conn_id=conn_id).get_conn()
    return connection
