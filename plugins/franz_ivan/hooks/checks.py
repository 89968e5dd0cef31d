"""Checks of the connections and the Kafka TLS failure hints, shared by the hooks; no client library.

Light on purpose (no confluent-kafka, no psycopg): the Aiven connections helper and the masking
checks use them without a client library.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any, Protocol

CERTIFICATE_PEM = "-----BEGIN CERTIFICATE-----"
PRIVATE_KEY_PEM = re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")

log = logging.getLogger(__name__)

CONNECTION_TYPE = "franz_ivan_postgres"
"""The PostgreSQL connection type with inline PEMs, bound to
:class:`franz_ivan.hooks.postgres.PricesPostgresHook` (:mod:`franz_ivan.get_provider_info` declares
it with its form, from this name)."""
INLINE_PEM_SETTINGS = {
    "sslrootcert_pem": ("sslrootcert", "certificate"),
    "sslcert_pem": ("sslcert", "certificate"),
    "sslkey_pem": ("sslkey", "key"),
}
"""Extra keys holding PEM text: the libpq file setting each one is written out for, and what it holds."""


class CredentialsError(ValueError):
    """A connection is missing something the pipeline needs. Names the connection and the field."""


def check_pem(text: object, kind: str, setting: str, conn_id: str) -> str:
    """Return ``text`` if it looks like a PEM ``kind`` (certificate or key), else raise naming ``setting``.

    The value itself never appears in the error: it may be a private key.

    :param text: the setting's value.
    :param kind: ``certificate`` or ``key``.
    :param setting: the extra key it came from, for the message.
    :param conn_id: the connection it came from, for the message.
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


KAFKA_PEM_SETTINGS = {"ssl.ca.pem": "certificate", "ssl.certificate.pem": "certificate", "ssl.key.pem": "key"}


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


def on_kafka_error(error: Any) -> None:
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


def check_kafka_extra(conn_id: str, extra: object) -> None:
    """Raise :class:`CredentialsError` if connection ``conn_id``'s extra cannot make a client.

    Inline PEMs are checked for their shape (not their content); the values stay unsaid.
    """
    if not isinstance(extra, dict) or not extra.get("bootstrap.servers"):
        raise CredentialsError(
            f"Kafka connection {conn_id!r} has no 'bootstrap.servers' in its extra (expected e.g. "
            '{"bootstrap.servers": "kafka.example.com:9092"}, or the host field of a franz_ivan_kafka one)'
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
