"""Turn what Aiven hands out into the pipeline's Airflow connections, so nobody pastes PEM into JSON.

From the Kafka service page: the service URI (``host:port``) and the three files ``ca.pem``,
``service.cert`` and ``service.key``. From the PostgreSQL service page: the service URI
(``postgres://avnadmin:PASSWORD@host:port/defaultdb?sslmode=require``) and its ``ca.pem``.

Out come the connections ``crypto_prices_kafka`` (mutual TLS, the PEMs inline) and
``crypto_prices_postgres`` (``sslmode=verify-full``, the CA inline, database ``crypto_prices``;
conn_type ``franz_ivan_postgres``, whose hook writes inline PEMs to files for libpq) as

- ``import``: a file for ``airflow connections import``;
- ``env``: ``AIRFLOW_CONN_*`` lines for a shell or a Compose ``.env`` file;
- ``k8s-secret``: a Kubernetes Secret (JSON, which ``kubectl apply -f`` reads) holding the
  ``AIRFLOW_CONN_*`` variables, for ``envFrom``.

The files are checked first (PEM that parses, the key belongs to the certificate, the certificate
is signed by the CA and not expired), each error naming the file. With ``--pem-location DIR`` the
connections name the files under ``DIR`` on the workers instead of holding them (Kafka
``ssl.*.location``, PostgreSQL conn_type ``postgres`` with ``sslrootcert``): every stock provider
class reads that form, but the files must be mounted there. The output holds secrets: with
``--output`` it is written readable by its owner only. Usage::

    AIVEN_POSTGRES_URI='postgres://avnadmin:...@pg-x.aivencloud.com:12691/defaultdb?sslmode=require' \\
    python -m devtools.aiven_connections \\
        --kafka-uri kafka-x.aivencloud.com:12693 \\
        --kafka-ca ca.pem --kafka-cert service.cert --kafka-key service.key \\
        --postgres-ca pg-ca.pem --format import --output connections.json

``convert`` turns connections of the old form (inline PEM under conn_type ``postgres``, which the
stock PostgresHook hands to libpq, which refuses it) into the current one; others pass through::

    python -m devtools.aiven_connections convert --input old.json --format env

``--input`` takes the output of ``airflow connections export`` (JSON) or one connection's JSON
(the value of an ``AIRFLOW_CONN_*`` variable, with ``--conn-id``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from devtools.tls import write_private
from franz_ivan.hooks.checks import CONNECTION_TYPE, INLINE_PEM_SETTINGS
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID

DEFAULT_DATABASE = "crypto_prices"
DEFAULT_MANIFEST_NAME = "crypto-prices-connections"
POSTGRES_URI_ENV = "AIVEN_POSTGRES_URI"
FORMATS = ("import", "env", "k8s-secret")


class AivenInputError(ValueError):
    """Something Aiven handed out is missing or not what it should be; names the file or the argument."""


@dataclass(frozen=True)
class Pem:
    """The text of a PEM file and where it came from (for error messages)."""

    path: Path
    text: str


def read_pem(path: Path, what: str) -> Pem:
    try:
        text = path.read_text()
    except OSError as error:
        raise AivenInputError(f"cannot read the {what} {str(path)!r}: {error.strerror}") from None
    if "-----BEGIN " not in text:
        raise AivenInputError(f"the {what} {str(path)!r} is not a PEM file (no '-----BEGIN' line)")
    return Pem(path, text)


def load_certificates(pem: Pem, what: str) -> list[Any]:
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificates(pem.text.encode())
    except ValueError:
        raise AivenInputError(f"the {what} {str(pem.path)!r} holds no readable certificate") from None


def check_client_certificate(ca: Pem, certificate: Pem, key: Pem, service: str) -> None:
    """Raise unless ``key`` belongs to ``certificate``, which ``ca`` signed and which is still valid."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    authorities = load_certificates(ca, f"{service} CA")
    [client, *_] = load_certificates(certificate, f"{service} client certificate")
    try:
        private_key = serialization.load_pem_private_key(key.text.encode(), password=None)
    except (ValueError, TypeError):
        raise AivenInputError(
            f"the {service} client key {str(key.path)!r} is not an unencrypted PEM private key"
        ) from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if private_key.public_key().public_bytes(
        serialization.Encoding.PEM, public
    ) != client.public_key().public_bytes(serialization.Encoding.PEM, public):
        raise AivenInputError(
            f"the {service} client key {str(key.path)!r} does not belong to the certificate "
            f"{str(certificate.path)!r} (download both from the same service)"
        )
    now = datetime.datetime.now(datetime.UTC)
    if client.not_valid_after_utc < now:
        raise AivenInputError(
            f"the {service} client certificate {str(certificate.path)!r} expired on "
            f"{client.not_valid_after_utc:%Y-%m-%d} (download a new one)"
        )
    for authority in authorities:
        try:
            client.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return
    raise AivenInputError(
        f"the {service} client certificate {str(certificate.path)!r} is not signed by the CA "
        f"{str(ca.path)!r} (use the ca.pem of the same project)"
    )


def kafka_connection(
    uri: str, ca: Pem, certificate: Pem, key: Pem, pem_location: Path | None = None
) -> dict[str, Any]:
    """The ``crypto_prices_kafka`` connection: librdkafka settings with the three PEMs inline, or
    naming them by path under ``pem_location`` (the same file names) when it is given."""
    address = uri.split("://", 1)[-1].strip().rstrip("/")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise AivenInputError(f"--kafka-uri {uri!r} is not 'host:port' (the Kafka service URI)")
    load_certificates(ca, "Kafka CA")
    check_client_certificate(ca, certificate, key, "Kafka")
    pems = {"ssl.ca": ca, "ssl.certificate": certificate, "ssl.key": key}
    if pem_location is None:
        files = {f"{setting}.pem": pem.text for setting, pem in pems.items()}
    else:
        files = {f"{setting}.location": str(pem_location / pem.path.name) for setting, pem in pems.items()}
    return {
        "conn_type": "kafka",
        "description": "Aiven Kafka, mutual TLS",
        "extra": {
            "bootstrap.servers": address,
            "security.protocol": "SSL",
            "ssl.endpoint.identification.algorithm": "https",
            **files,
        },
    }


def postgres_connection(  # noqa: PLR0917 (the Aiven inputs, in the order the CLI names them)
    uri: str,
    ca: Pem,
    database: str,
    certificate: Pem | None = None,
    key: Pem | None = None,
    pem_location: Path | None = None,
) -> dict[str, Any]:
    """The ``crypto_prices_postgres`` connection: ``verify-full`` against the service's CA, held inline
    (conn_type ``franz_ivan_postgres``), or named by path under ``pem_location`` (conn_type ``postgres``)."""
    parts = urlsplit(uri.strip())
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        raise AivenInputError(
            "the PostgreSQL service URI is not 'postgres://USER:PASSWORD@HOST:PORT/DATABASE?sslmode=require'"
        )
    if not parts.username or not parts.password:
        raise AivenInputError("the PostgreSQL service URI has no user or no password")
    sslmode = parse_qs(parts.query).get("sslmode", ["require"])[0]
    if sslmode in ("disable", "allow", "prefer"):
        raise AivenInputError(f"the PostgreSQL service URI asks for sslmode={sslmode}; Aiven requires TLS")
    load_certificates(ca, "PostgreSQL CA")
    if (certificate is None) != (key is None):
        raise AivenInputError("--postgres-cert and --postgres-key go together")
    pems = {"sslrootcert": ca}
    if certificate is not None and key is not None:
        check_client_certificate(ca, certificate, key, "PostgreSQL")
        pems.update(sslcert=certificate, sslkey=key)
    extra = {"sslmode": "verify-full"}
    if pem_location is None:
        extra |= {f"{setting}_pem": pem.text for setting, pem in pems.items()}
    else:
        extra |= {setting: str(pem_location / pem.path.name) for setting, pem in pems.items()}
    return {
        "conn_type": CONNECTION_TYPE if pem_location is None else "postgres",
        "description": "Aiven PostgreSQL, verify-full",
        "host": parts.hostname,
        "port": parts.port or 5432,
        "login": unquote(parts.username),
        "password": unquote(parts.password),
        "schema": database,
        "extra": extra,
    }


def env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def render(connections: dict[str, dict[str, Any]], output_format: str, secret_name: str) -> str:
    """The connections as ``airflow connections import`` JSON, ``AIRFLOW_CONN_*`` lines or a Secret."""
    if output_format == "import":
        return json.dumps(connections, indent=2) + "\n"
    variables = {env_name(conn_id): json.dumps(conn) for conn_id, conn in connections.items()}
    if output_format == "env":
        return "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": secret_name, "labels": {"app.kubernetes.io/part-of": "franz-ivan"}},
        "type": "Opaque",
        "stringData": variables,
    }
    return json.dumps(secret, indent=2) + "\n"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.aiven_connections",
        description="Airflow connections for Aiven Kafka (mutual TLS) and PostgreSQL (verify-full).",
    )
    kafka = parser.add_argument_group("Kafka (all four, or none)")
    kafka.add_argument("--kafka-uri", help="the Kafka service URI, host:port")
    kafka.add_argument("--kafka-ca", type=Path, help="ca.pem of the project")
    kafka.add_argument("--kafka-cert", type=Path, help="service.cert (the access certificate)")
    kafka.add_argument("--kafka-key", type=Path, help="service.key (the access key)")
    postgres = parser.add_argument_group("PostgreSQL")
    postgres.add_argument(
        "--postgres-uri",
        default=os.environ.get(POSTGRES_URI_ENV),
        help=f"the service URI (default: ${POSTGRES_URI_ENV}, which keeps the password out of `ps`)",
    )
    postgres.add_argument("--postgres-ca", type=Path, help="ca.pem of the project")
    postgres.add_argument("--postgres-cert", type=Path, help="a client certificate, if the service wants one")
    postgres.add_argument("--postgres-key", type=Path, help="its key")
    postgres.add_argument(
        "--database", default=DEFAULT_DATABASE, help=f"the database (default {DEFAULT_DATABASE})"
    )
    parser.add_argument(
        "--pem-location",
        type=Path,
        help="name the PEM files by path under this folder on the workers instead of holding them inline",
    )
    add_output_arguments(parser)
    return parser.parse_args(argv)


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=FORMATS, default="import", help="output form (default import)")
    parser.add_argument("--secret-name", default=DEFAULT_MANIFEST_NAME, help="name of the Kubernetes Secret")
    parser.add_argument("--output", type=Path, help="write here (mode 0600) instead of standard output")


def parse_convert_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.aiven_connections convert",
        description="Rewrite connections of the old form (inline PEM under conn_type postgres).",
    )
    parser.add_argument(
        "--input",
        type=Path,
        required=True,
        help="'airflow connections export' JSON, or one connection's JSON (then give --conn-id)",
    )
    parser.add_argument("--conn-id", help="the id of the single connection in --input")
    add_output_arguments(parser)
    return parser.parse_args(argv)


def converted(conn_id: str, conn: dict[str, Any]) -> dict[str, Any]:
    """``conn`` in the current form: inline PEM under conn_type ``postgres`` moves to the new type."""
    extra = conn.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            raise AivenInputError(f"the extra of connection {conn_id!r} is not JSON") from None
    if conn.get("conn_type") != "postgres" or not set(INLINE_PEM_SETTINGS) & set(extra):
        return conn
    print(f"{conn_id}: conn_type postgres -> {CONNECTION_TYPE} (it holds inline PEM)", file=sys.stderr)
    return {**conn, "conn_type": CONNECTION_TYPE, "extra": extra}


def convert(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The connections in ``args.input``, each in the current form."""
    try:
        found = json.loads(args.input.read_text())
    except OSError as error:
        raise AivenInputError(f"cannot read {str(args.input)!r}: {error.strerror}") from None
    except ValueError:
        raise AivenInputError(f"{str(args.input)!r} is not JSON") from None
    if not isinstance(found, dict):
        raise AivenInputError(f"{str(args.input)!r} holds no connection (expected a JSON object)")
    if args.conn_id:
        found = {args.conn_id: found}
    elif "conn_type" in found:
        raise AivenInputError(f"{str(args.input)!r} holds one connection: give its id with --conn-id")
    return {conn_id: converted(conn_id, dict(conn)) for conn_id, conn in found.items()}


def build(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The connections the arguments describe; raises :class:`AivenInputError` naming what is wrong."""
    connections: dict[str, dict[str, Any]] = {}
    kafka_args = {
        "--kafka-uri": args.kafka_uri,
        "--kafka-ca": args.kafka_ca,
        "--kafka-cert": args.kafka_cert,
        "--kafka-key": args.kafka_key,
    }
    if any(kafka_args.values()):
        missing = [flag for flag, value in kafka_args.items() if not value]
        if missing:
            raise AivenInputError(f"Kafka needs {', '.join(missing)} as well")
        connections[KAFKA_CONN_ID] = kafka_connection(
            args.kafka_uri,
            read_pem(args.kafka_ca, "Kafka CA"),
            read_pem(args.kafka_cert, "Kafka client certificate"),
            read_pem(args.kafka_key, "Kafka client key"),
            args.pem_location,
        )
    if args.postgres_uri or args.postgres_ca:
        if not args.postgres_uri or not args.postgres_ca:
            raise AivenInputError(
                f"PostgreSQL needs the service URI (--postgres-uri or ${POSTGRES_URI_ENV}) and --postgres-ca"
            )
        connections[POSTGRES_CONN_ID] = postgres_connection(
            args.postgres_uri,
            read_pem(args.postgres_ca, "PostgreSQL CA"),
            args.database,
            args.postgres_cert and read_pem(args.postgres_cert, "PostgreSQL client certificate"),
            args.postgres_key and read_pem(args.postgres_key, "PostgreSQL client key"),
            args.pem_location,
        )
    if not connections:
        raise AivenInputError("nothing to do: give the Kafka arguments, the PostgreSQL ones, or both")
    return connections


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    converting = argv[:1] == ["convert"]
    args = parse_convert_args(argv[1:]) if converting else parse_args(argv)
    try:
        text = render(convert(args) if converting else build(args), args.format, args.secret_name)
    except AivenInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output is None:
        sys.stdout.write(text)
    else:
        write_private(args.output, text)
        print(f"wrote {args.output} (mode 0600: it holds secrets)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
