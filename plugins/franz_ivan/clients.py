"""Kafka and PostgreSQL clients built from the Airflow connections, and nothing else.

The Kafka connection's extra holds the librdkafka configuration: ``bootstrap.servers``, and for
Aiven ``security.protocol=SSL`` with the three PEMs inline (``ssl.ca.pem``,
``ssl.certificate.pem``, ``ssl.key.pem``) or as file paths (``ssl.ca.location``,
``ssl.certificate.location``, ``ssl.key.location``). librdkafka checks the broker's host name
against its certificate by default.

The PostgreSQL connection holds host, port, login, password, schema (the database) and libpq TLS
settings in its extra: ``sslmode`` (``verify-full`` for Aiven) and the CA, client certificate and
key either as file paths (``sslrootcert``, ``sslcert``, ``sslkey``) or inline as PEM text
(``sslrootcert_pem``, ``sslcert_pem``, ``sslkey_pem``). libpq reads only files, so inline PEM is
written to private temporary files that are removed as soon as the connection is open (or failed).

Secrets are never logged or put into error messages here: errors name the connection and the
setting, not its value.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID, api_conn_id
from franz_ivan.sources.base import Endpoint

if TYPE_CHECKING:
    import psycopg
    from airflow.sdk import Connection

    from franz_ivan.sources.base import PriceSource

log = logging.getLogger(__name__)

DEFAULT_DATABASE = "crypto_prices"
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10
LIBPQ_EXTRA_SETTINGS = (
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "connect_timeout",
    "options",
)
INLINE_PEM_SETTINGS = {
    "sslrootcert_pem": ("sslrootcert", "certificate"),
    "sslcert_pem": ("sslcert", "certificate"),
    "sslkey_pem": ("sslkey", "key"),
}
"""Extra keys holding PEM text: the libpq file setting each one is written out for, and what it holds."""

CERTIFICATE_PEM = "-----BEGIN CERTIFICATE-----"
PRIVATE_KEY_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")
KAFKA_PEM_SETTINGS = {"ssl.ca.pem": "certificate", "ssl.certificate.pem": "certificate", "ssl.key.pem": "key"}


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


def check_pem(text: object, kind: str, setting: str, conn_id: str) -> str:
    """Return ``text`` if it looks like a PEM ``kind`` (certificate or key), else raise naming ``setting``.

    The value itself never appears in the error: it may be a private key.
    """
    where = f"{setting!r} of connection {conn_id!r}"
    if not isinstance(text, str) or not text.strip():
        raise CredentialsError(f"{where} is empty; expected PEM text")
    if "\\n" in text and "\n" not in text:
        raise CredentialsError(
            f"{where} holds literal '\\n' escapes instead of line breaks (escaped twice); "
            "generate the connection with 'python -m devtools.aiven_connections'"
        )
    looks_right = CERTIFICATE_PEM in text if kind == "certificate" else bool(PRIVATE_KEY_PEM.search(text))
    if not looks_right:
        expected = CERTIFICATE_PEM if kind == "certificate" else "-----BEGIN PRIVATE KEY-----"
        raise CredentialsError(f"{where} is not a PEM {kind} (no {expected!r} line)")
    return text


class _Polled(Protocol):
    def poll(self, timeout: float) -> Any: ...


TLS_FAILED = "TLS failed, "
_failure_sink = threading.local()
"""While :func:`kafka_trouble` polls a client, the errors it serves are collected here."""

TLS_HINTS = (
    (
        "alert certificate required",
        "the broker requires a client certificate: set ssl.certificate.pem and ssl.key.pem "
        "(Aiven: service.cert and service.key)",
    ),
    (
        "alert unknown ca",
        "the broker does not trust the client certificate: ssl.certificate.pem is not signed by the "
        "broker's CA (Aiven: use this service's service.cert and service.key)",
    ),
    (
        "alert certificate expired",
        "the broker rejected the client certificate as expired: download a new service.cert and service.key",
    ),
    (
        "certificate verify failed",
        "the broker's certificate did not verify: ssl.ca.pem is not the CA that signed it (Aiven: "
        "the project's ca.pem), or the host in bootstrap.servers is not a name in the certificate",
    ),
)


def _describe_kafka_error(text: str) -> tuple[str, str]:
    """``(what went wrong, the report)``: for a TLS failure, the hint; the report adds librdkafka's words."""
    text = re.sub(r"\s*\(after \d+ms in state \w+\)", "", text)
    for phrase, hint in TLS_HINTS:
        if phrase in text:
            return hint, f"{TLS_FAILED}{hint} (librdkafka: {text})"
    return text, text


def _on_kafka_error(error: Any) -> None:
    """librdkafka's ``error_cb``: collected when :func:`kafka_trouble` asks, logged otherwise."""
    problem, report = _describe_kafka_error(error.str())
    collected = getattr(_failure_sink, "errors", None)
    if collected is not None:
        collected.setdefault(problem, report)
    elif getattr(_failure_sink, "last_logged", None) != problem:
        _failure_sink.last_logged = problem
        log.warning("Kafka client: %s", report)


def kafka_trouble(client: _Polled) -> str:
    """Why ``client`` could not talk to its brokers, as librdkafka reported it, for an error message.

    librdkafka reports TLS handshake failures (wrong CA, missing or expired client certificate)
    through its error callback only; a failed call just says "Broker transport failure". This
    serves the callbacks queued for ``client`` and returns ``"; "`` plus what they said (each
    problem once; TLS failures alone when there are any), or ``""``.
    """
    _failure_sink.errors = {}
    try:
        client.poll(0)
        reports: list[str] = list(_failure_sink.errors.values())
    finally:
        del _failure_sink.errors
    tls_reports = [report for report in reports if report.startswith(TLS_FAILED)]
    return "".join(f"; {report}" for report in tls_reports or reports)


def kafka_config(conn_id: str = KAFKA_CONN_ID, **overrides: Any) -> dict[str, Any]:
    """The librdkafka configuration held in connection ``conn_id``, updated with ``overrides``.

    Inline PEMs are checked for their shape (not their content) so that a pasted-wrong secret
    fails here, naming the setting, rather than deep inside librdkafka.
    """
    extra = get_connection(conn_id).extra_dejson
    if not isinstance(extra, dict) or not extra.get("bootstrap.servers"):
        raise CredentialsError(
            f"Kafka connection {conn_id!r} has no 'bootstrap.servers' in its extra "
            '(expected e.g. {"bootstrap.servers": "kafka.example.com:9092"})'
        )
    for setting, kind in KAFKA_PEM_SETTINGS.items():
        if setting in extra:
            check_pem(extra[setting], kind, setting, conn_id)
    has_certificate = "ssl.certificate.pem" in extra or "ssl.certificate.location" in extra
    has_key = "ssl.key.pem" in extra or "ssl.key.location" in extra
    if has_certificate != has_key:
        missing = (
            "ssl.key.pem (or ssl.key.location)"
            if has_certificate
            else "ssl.certificate.pem (or ssl.certificate.location)"
        )
        raise CredentialsError(
            f"Kafka connection {conn_id!r} has a client {'certificate' if has_certificate else 'key'} "
            f"but no {missing}; mutual TLS needs both"
        )
    return {"error_cb": _on_kafka_error, **extra, **overrides}


def postgres_connect_kwargs(conn: Connection) -> dict[str, Any]:
    """psycopg/libpq keyword arguments for an Airflow ``postgres`` connection.

    Inline PEMs (``sslrootcert_pem`` ...) are checked but not included: :func:`open_postgres`
    writes them to files. A connection with a CA but no ``sslmode`` gets ``verify-full``.
    """
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
    for setting, (file_setting, kind) in INLINE_PEM_SETTINGS.items():
        if not extra.get(setting):
            continue
        check_pem(extra[setting], kind, setting, conn.conn_id)
        if extra.get(file_setting):
            raise CredentialsError(
                f"PostgreSQL connection {conn.conn_id!r} sets both {setting!r} and {file_setting!r}; keep one"
            )
    if bool(extra.get("sslcert_pem") or extra.get("sslcert")) != bool(
        extra.get("sslkey_pem") or extra.get("sslkey")
    ):
        raise CredentialsError(
            f"PostgreSQL connection {conn.conn_id!r} has only one of the client certificate "
            "(sslcert_pem/sslcert) and its key (sslkey_pem/sslkey); a client certificate needs both"
        )
    if "sslmode" not in kwargs and (extra.get("sslrootcert_pem") or extra.get("sslrootcert")):
        kwargs["sslmode"] = "verify-full"
    return kwargs


@contextmanager
def inline_pem_files(conn: Connection) -> Iterator[dict[str, Any]]:
    """Write the connection's inline PEMs to private files; yield ``{libpq setting: path}``; delete them.

    The folder is made by :func:`tempfile.mkdtemp` (mode 0700) and each file is created new with
    mode 0600, which libpq requires of a key file.
    """
    extra = conn.extra_dejson
    inline = {setting: extra[setting] for setting in INLINE_PEM_SETTINGS if extra.get(setting)}
    if not inline:
        yield {}
        return
    folder = Path(tempfile.mkdtemp(prefix="franz-ivan-libpq-"))
    try:
        paths: dict[str, Any] = {}
        for setting, text in inline.items():
            path = folder / setting
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as file:
                file.write(text)
            paths[INLINE_PEM_SETTINGS[setting][0]] = str(path)
        yield paths
    finally:
        shutil.rmtree(folder, ignore_errors=True)


POSTGRES_TLS_HINTS = (
    (
        "certificate verify failed",
        "the server's certificate is not signed by the CA in sslrootcert_pem/sslrootcert "
        "(Aiven: the service's ca.pem)",
    ),
    ("does not match host name", "connect to the host name the server's certificate was issued for"),
)


def open_postgres(conn: Connection) -> psycopg.Connection:
    """Open a psycopg connection for the Airflow connection ``conn`` (use it in ``with``).

    Inline PEMs live on disk only while libpq connects.
    """
    import psycopg

    kwargs = postgres_connect_kwargs(conn)
    with inline_pem_files(conn) as pem_files:
        try:
            return psycopg.connect(**kwargs, **pem_files)
        except psycopg.OperationalError as error:
            message = str(error).strip()
            for file_setting, path in pem_files.items():
                message = message.replace(path, f"<{file_setting}_pem>")
            hints = [hint for phrase, hint in POSTGRES_TLS_HINTS if phrase in message]
            raise ConnectionError(
                f"cannot connect to PostgreSQL of connection {conn.conn_id!r} "
                f"({kwargs['host']}:{kwargs['port']}/{kwargs['dbname']}, "
                f"sslmode={kwargs.get('sslmode', 'prefer')}): {message}"
                + "".join(f"; {hint}" for hint in hints)
            ) from None


def connect_postgres(conn_id: str = POSTGRES_CONN_ID) -> psycopg.Connection:
    """Open a psycopg connection to the database of connection ``conn_id`` (use it in ``with``)."""
    return open_postgres(get_connection(conn_id))
