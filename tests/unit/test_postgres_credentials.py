"""The PostgreSQL connection's inline PEMs: private files only while connecting, malformed settings
refused naming the setting and never its value, the old form refused with the way to convert it
(connecting over TLS: tests/tls/test_postgres_tls.py)."""

from __future__ import annotations

import json
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Connection

from devtools.tls import CertificateAuthority, Credentials
from franz_ivan.hooks.checks import CredentialsError
from franz_ivan.hooks.postgres import CONNECTION_TYPE, PricesPostgresHook, inline_pem_files


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
        PricesPostgresHook.for_connection(conn).connect_kwargs()

    assert complaint in str(raised.value)
    assert "MIGHAgEAMBMG" not in str(raised.value)


def test_the_old_form_is_refused_saying_how_to_convert_it(test_ca: CertificateAuthority) -> None:
    """Inline PEM under conn_type postgres: the stock hook would hand it to libpq, which refuses it."""
    extra = {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}
    conn = Connection(conn_id="pg", conn_type="postgres", host="db.example.com", extra=json.dumps(extra))

    with pytest.raises(CredentialsError) as raised:
        PricesPostgresHook.for_connection(conn).get_conn()

    message = str(raised.value)
    assert "holds inline PEM (sslrootcert_pem) under conn_type 'postgres'" in message
    assert "python -m devtools.aiven_connections convert" in message
    assert "'franz_ivan_postgres'" in message
    assert "BEGIN" not in message
