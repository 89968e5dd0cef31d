"""PostgreSQL with ``verify-full``: a private cluster with ``ssl=on``, the CA and client
certificate held inline in the connection, and what a user sees when one is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from devtools.pg_cluster import PostgresCluster
from devtools.tls import CertificateAuthority
from franz_ivan.clients import open_postgres, postgres_connect_kwargs
from franz_ivan.hooks.postgres import CONNECTION_TYPE, PricesPostgresHook

pytestmark = [pytest.mark.tls, pytest.mark.integration]


def postgres_connection(
    cluster: PostgresCluster, database: str, extra: dict[str, Any], **fields: Any
) -> Connection:
    return Connection(
        conn_id="crypto_prices_postgres",
        conn_type=fields.get("conn_type", CONNECTION_TYPE),
        host=fields.get("host", "localhost"),
        port=cluster.port,
        login=fields.get("login", "avnadmin"),
        password=fields.get("password"),
        schema=database,
        extra=json.dumps(extra),
    )


def ssl_in_use(conn: Any) -> tuple[bool, str]:
    row = conn.execute("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return bool(row[0]), str(row[1])


@pytest.fixture
def aiven_connection(
    postgres_tls: PostgresCluster, tls_database: str, test_ca: CertificateAuthority, avnadmin_password: str
) -> Connection:
    """The Aiven way: user and password, the server checked (verify-full) against the service's CA inline."""
    return postgres_connection(
        postgres_tls,
        tls_database,
        {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem},
        password=avnadmin_password,
    )


def test_password_and_verify_full_with_the_ca_inline_connects_over_tls(
    aiven_connection: Connection, private_tmp: Path
) -> None:
    with open_postgres(aiven_connection) as db:
        assert ssl_in_use(db) == (True, "TLSv1.3")
        assert db.execute("SELECT current_user").fetchone() == ("avnadmin",)
    assert list(private_tmp.iterdir()) == []


def test_a_client_certificate_inline_signs_in_where_the_server_demands_one(
    postgres_tls: PostgresCluster, tls_database: str, test_ca: CertificateAuthority, private_tmp: Path
) -> None:
    client = test_ca.issue("certuser")
    conn = postgres_connection(
        postgres_tls,
        tls_database,
        {
            "sslmode": "verify-full",
            "sslrootcert_pem": test_ca.certificate_pem,
            "sslcert_pem": client.certificate_pem,
            "sslkey_pem": client.key_pem,
        },
        login="certuser",
    )

    with open_postgres(conn) as db:
        assert db.execute("SELECT current_user").fetchone() == ("certuser",)
    assert list(private_tmp.iterdir()) == []


def test_file_paths_work_too_and_a_ca_alone_means_verify_full(
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    avnadmin_password: str,
    tmp_path: Path,
) -> None:
    (tmp_path / "ca.pem").write_text(test_ca.certificate_pem)
    conn = postgres_connection(
        postgres_tls,
        tls_database,
        {"sslrootcert": str(tmp_path / "ca.pem")},
        password=avnadmin_password,
        conn_type="postgres",
    )

    assert postgres_connect_kwargs(conn)["sslmode"] == "verify-full"
    with open_postgres(conn) as db:
        assert ssl_in_use(db)[0] is True


@pytest.fixture
def failing_connection(
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    avnadmin_password: str,
) -> Callable[[str], Connection]:
    """The connection to the TLS cluster's test database with one thing wrong, by case."""

    def for_case(case: str) -> Connection:
        good = {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}
        expired = test_ca.issue("certuser", expired=True)
        cluster, database, password = postgres_tls, tls_database, avnadmin_password
        return {
            "wrong CA": postgres_connection(
                cluster, database, {**good, "sslrootcert_pem": other_ca.certificate_pem}, password=password
            ),
            "wrong host name": postgres_connection(
                cluster, database, good, password=password, host="127.0.0.1"
            ),
            "no client certificate": postgres_connection(cluster, database, good, login="certuser"),
            "expired client certificate": postgres_connection(
                cluster,
                database,
                {**good, "sslcert_pem": expired.certificate_pem, "sslkey_pem": expired.key_pem},
                login="certuser",
            ),
            "wrong password": postgres_connection(cluster, database, good, password="not-" + password),
        }[case]

    return for_case


EXPECTED_ERRORS = {
    "wrong CA": "SSL error: certificate verify failed; the server's certificate is not signed by the CA",
    "wrong host name": 'does not match host name "127.0.0.1"',
    "no client certificate": "connection requires a valid client certificate",
    "expired client certificate": "alert certificate expired",
    "wrong password": 'password authentication failed for user "avnadmin"',
}


@pytest.mark.parametrize("case", sorted(EXPECTED_ERRORS))
def test_a_wrong_credential_fails_clearly_without_secrets_or_leftover_files(
    *,
    case: str,
    failing_connection: Callable[[str], Connection],
    postgres_tls: PostgresCluster,
    tls_database: str,
    avnadmin_password: str,
    private_tmp: Path,
) -> None:
    conn = failing_connection(case)

    with pytest.raises(ConnectionError) as raised:
        open_postgres(conn)

    message = str(raised.value)
    assert message.startswith(
        f"cannot connect to PostgreSQL of connection 'crypto_prices_postgres' "
        f"(localhost:{postgres_tls.port}/{tls_database}, sslmode=verify-full)".replace(
            "localhost", conn.host or ""
        )
    )
    assert EXPECTED_ERRORS[case] in message
    assert avnadmin_password not in message
    assert "BEGIN" not in message
    assert str(private_tmp) not in message
    assert list(private_tmp.iterdir()) == []


def test_test_connection_succeeds_on_a_good_connection(aiven_connection: Connection) -> None:
    assert PricesPostgresHook(connection=aiven_connection).test_connection() == (
        True,
        "Connected to PostgreSQL of connection 'crypto_prices_postgres'",
    )


TEST_CONNECTION_HINTS = {
    "wrong CA": "the server's certificate is not signed by the CA in sslrootcert_pem/sslrootcert",
    "wrong host name": "connect to the host name the server's certificate was issued for",
    "no client certificate": "the server requires a client certificate: set sslcert_pem and sslkey_pem",
    "expired client certificate": "the server rejected the client certificate as expired",
}


@pytest.mark.parametrize("case", sorted(TEST_CONNECTION_HINTS))
def test_test_connection_names_each_tls_problem(
    *,
    case: str,
    failing_connection: Callable[[str], Connection],
    avnadmin_password: str,
) -> None:
    conn = failing_connection(case)

    ok, message = PricesPostgresHook(connection=conn).test_connection()

    assert not ok
    assert EXPECTED_ERRORS[case] in message
    assert TEST_CONNECTION_HINTS[case] in message
    assert "BEGIN" not in message
    assert avnadmin_password not in message
