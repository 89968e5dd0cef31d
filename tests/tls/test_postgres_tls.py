"""PostgreSQL with ``verify-full``: a private cluster with ``ssl=on``, the CA and client
certificate held inline in the connection, and what a user sees when one is wrong."""

from __future__ import annotations

import json
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from devtools.pg_cluster import PostgresCluster
from devtools.tls import CertificateAuthority, Credentials
from franz_ivan.clients import CredentialsError, open_postgres, postgres_connect_kwargs
from franz_ivan.hooks.postgres import CONNECTION_TYPE, PricesPostgresHook, inline_pem_files

pytestmark = [pytest.mark.tls, pytest.mark.integration]


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where :mod:`tempfile` puts things during the test, so that leftovers can be looked for."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


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


def test_password_and_verify_full_with_the_ca_inline_connects_over_tls(
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    avnadmin_password: str,
    private_tmp: Path,
) -> None:
    """The Aiven way: user and password, the server checked against the service's CA."""
    conn = postgres_connection(
        postgres_tls,
        tls_database,
        {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem},
        password=avnadmin_password,
    )

    with open_postgres(conn) as db:
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


def failing_connection(
    case: str,
    *,
    cluster: PostgresCluster,
    database: str,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    password: str,
) -> Connection:
    good = {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}
    expired = test_ca.issue("certuser", expired=True)
    return {
        "wrong CA": postgres_connection(
            cluster, database, {**good, "sslrootcert_pem": other_ca.certificate_pem}, password=password
        ),
        "wrong host name": postgres_connection(cluster, database, good, password=password, host="127.0.0.1"),
        "no client certificate": postgres_connection(cluster, database, good, login="certuser"),
        "expired client certificate": postgres_connection(
            cluster,
            database,
            {**good, "sslcert_pem": expired.certificate_pem, "sslkey_pem": expired.key_pem},
            login="certuser",
        ),
        "wrong password": postgres_connection(cluster, database, good, password="not-" + password),
    }[case]


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
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    avnadmin_password: str,
    private_tmp: Path,
) -> None:
    conn = failing_connection(
        case,
        cluster=postgres_tls,
        database=tls_database,
        test_ca=test_ca,
        other_ca=other_ca,
        password=avnadmin_password,
    )

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


def modes_then_fail(conn: Connection, seen: dict[str, Any]) -> None:
    """Note the files' modes and the key's text inside :func:`inline_pem_files`, then fail like libpq."""
    with inline_pem_files(conn) as paths:
        [folder] = Path(tempfile.gettempdir()).iterdir()
        seen["folder"] = stat.S_IMODE(folder.stat().st_mode)
        seen |= {setting: stat.S_IMODE(Path(path).stat().st_mode) for setting, path in paths.items()}
        seen["key"] = Path(paths["sslkey"]).read_text()
        raise RuntimeError("connect failed")


def test_inline_pems_live_in_private_files_only_while_connecting(
    test_ca: CertificateAuthority, client_credentials: Credentials, private_tmp: Path
) -> None:
    extra = {
        "sslrootcert_pem": test_ca.certificate_pem,
        "sslcert_pem": client_credentials.certificate_pem,
        "sslkey_pem": client_credentials.key_pem,
    }
    conn = Connection(conn_id="pg", conn_type=CONNECTION_TYPE, host="db.example.com", extra=json.dumps(extra))
    seen: dict[str, Any] = {}

    with pytest.raises(RuntimeError, match="connect failed"):
        modes_then_fail(conn, seen)

    key = seen.pop("key")
    assert seen == {"folder": 0o700, "sslrootcert": 0o600, "sslcert": 0o600, "sslkey": 0o600}
    assert key == client_credentials.key_pem
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (
            {"sslrootcert_pem": "CA", "sslrootcert": "/etc/ca.pem"},
            "sets both 'sslrootcert_pem' and 'sslrootcert'",
        ),
        ({"sslcert_pem": "CERT"}, "has only one of the client certificate"),
        ({"sslkey_pem": "KEY"}, "has only one of the client certificate"),
        (
            {"sslkey_pem": "MIGHAgEAMBMGByqGSM49", "sslcert_pem": "CERT"},
            "'sslkey_pem' of connection 'pg' is not",
        ),
    ],
)
def test_a_malformed_connection_is_refused_naming_the_setting_not_its_value(
    extra: dict[str, str], complaint: str, test_ca: CertificateAuthority, client_credentials: Credentials
) -> None:
    real = {
        "CA": test_ca.certificate_pem,
        "CERT": client_credentials.certificate_pem,
        "KEY": client_credentials.key_pem,
    }
    extra = {setting: real.get(value, value) for setting, value in extra.items()}
    conn = Connection(conn_id="pg", conn_type=CONNECTION_TYPE, host="db.example.com", extra=json.dumps(extra))

    with pytest.raises(CredentialsError) as raised:
        postgres_connect_kwargs(conn)

    assert complaint in str(raised.value)
    assert "MIGHAgEAMBMG" not in str(raised.value)


def test_the_old_form_is_refused_saying_how_to_convert_it(test_ca: CertificateAuthority) -> None:
    """Inline PEM under conn_type postgres: the stock hook would hand it to libpq, which refuses it."""
    extra = {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}
    conn = Connection(conn_id="pg", conn_type="postgres", host="db.example.com", extra=json.dumps(extra))

    with pytest.raises(CredentialsError) as raised:
        open_postgres(conn)

    message = str(raised.value)
    assert "holds inline PEM (sslrootcert_pem) under conn_type 'postgres'" in message
    assert "python -m devtools.aiven_connections convert" in message
    assert "'franz_ivan_postgres'" in message
    assert "BEGIN" not in message


def test_test_connection_succeeds_on_a_good_connection(
    postgres_tls: PostgresCluster, tls_database: str, test_ca: CertificateAuthority, avnadmin_password: str
) -> None:
    conn = postgres_connection(
        postgres_tls,
        tls_database,
        {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem},
        password=avnadmin_password,
    )

    assert PricesPostgresHook(connection=conn).test_connection() == (
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
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    avnadmin_password: str,
) -> None:
    conn = failing_connection(
        case,
        cluster=postgres_tls,
        database=tls_database,
        test_ca=test_ca,
        other_ca=other_ca,
        password=avnadmin_password,
    )

    ok, message = PricesPostgresHook(connection=conn).test_connection()

    assert not ok
    assert EXPECTED_ERRORS[case] in message
    assert TEST_CONNECTION_HINTS[case] in message
    assert "BEGIN" not in message
    assert avnadmin_password not in message
