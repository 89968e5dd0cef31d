"""PostgreSQL with ``verify-full``: a private cluster with ``ssl=on``, the CA and client
certificate held inline in the connection, and what a user sees when one is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from devtools.pg_cluster import PostgresCluster
from devtools.tls import CertificateAuthority
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
    with PricesPostgresHook.for_connection(aiven_connection).get_conn() as db:
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

    with PricesPostgresHook.for_connection(conn).get_conn() as db:
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

    assert PricesPostgresHook.for_connection(conn).connect_kwargs()["sslmode"] == "verify-full"
    with PricesPostgresHook.for_connection(conn).get_conn() as db:
        assert ssl_in_use(db)[0] is True


@pytest.fixture
def failing_connection(  # noqa: PLR0917
    case: str,
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    avnadmin_password: str,
) -> Connection:
    """The connection to the TLS cluster's test database with one thing wrong: the test's ``case``."""
    good = {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}
    cluster, database, password = postgres_tls, tls_database, avnadmin_password
    if case == "wrong CA":
        return postgres_connection(
            cluster, database, {**good, "sslrootcert_pem": other_ca.certificate_pem}, password=password
        )
    if case == "wrong host name":
        return postgres_connection(cluster, database, good, password=password, host="127.0.0.1")
    if case == "no client certificate":
        return postgres_connection(cluster, database, good, login="certuser")
    if case == "expired client certificate":
        expired = test_ca.issue("certuser", expired=True)
        client = {"sslcert_pem": expired.certificate_pem, "sslkey_pem": expired.key_pem}
        return postgres_connection(cluster, database, {**good, **client}, login="certuser")
    assert case == "wrong password", case
    return postgres_connection(cluster, database, good, password="not-" + password)


WRONG_CREDENTIALS: list[tuple[str, str, str | None]] = [
    # (the case, what the error says, the hint it adds: a wrong password is no TLS problem, none)
    (
        "expired client certificate",
        "alert certificate expired",
        "the server rejected the client certificate as expired",
    ),
    (
        "no client certificate",
        "connection requires a valid client certificate",
        "the server requires a client certificate: set sslcert_pem and sslkey_pem",
    ),
    (
        "wrong CA",
        "SSL error: certificate verify failed; the server's certificate is not signed by the CA",
        "the server's certificate is not signed by the CA in sslrootcert_pem/sslrootcert",
    ),
    (
        "wrong host name",
        'does not match host name "127.0.0.1"',
        "connect to the host name the server's certificate was issued for",
    ),
    ("wrong password", 'password authentication failed for user "avnadmin"', None),
]
TLS_HINTS = [hint for _, _, hint in WRONG_CREDENTIALS if hint]


@pytest.mark.parametrize(
    ("case", "error", "hint"), WRONG_CREDENTIALS, ids=[case for case, _, _ in WRONG_CREDENTIALS]
)
def test_a_wrong_credential_fails_clearly_on_connect_and_in_test_connection(
    *,
    error: str,
    hint: str | None,
    failing_connection: Connection,
    postgres_tls: PostgresCluster,
    tls_database: str,
    avnadmin_password: str,
    private_tmp: Path,
) -> None:
    """Connecting raises, and the Test button reports, the same error: it names what is wrong and
    the fix (a TLS problem's hint), shows no secret, and leaves no PEM file behind."""
    with pytest.raises(ConnectionError) as raised:
        PricesPostgresHook.for_connection(failing_connection).get_conn()
    ok, tested = PricesPostgresHook(connection=failing_connection).test_connection()

    message = str(raised.value)
    assert message.startswith(
        f"cannot connect to PostgreSQL of connection 'crypto_prices_postgres' "
        f"(localhost:{postgres_tls.port}/{tls_database}, sslmode=verify-full)".replace(
            "localhost", failing_connection.host or ""
        )
    )
    assert not ok
    for text in (message, tested):
        assert error in text
        assert avnadmin_password not in text
        assert "BEGIN" not in text
    if hint:
        assert hint in tested
    else:
        assert not [tls_hint for tls_hint in TLS_HINTS if tls_hint in tested]
    assert str(private_tmp) not in message
    assert list(private_tmp.iterdir()) == []


def test_test_connection_succeeds_on_a_good_connection(aiven_connection: Connection) -> None:
    assert PricesPostgresHook(connection=aiven_connection).test_connection() == (
        True,
        "Connected to PostgreSQL of connection 'crypto_prices_postgres'",
    )
