"""Real TLS endpoints for tests: a private certificate authority, a TLS terminator, a TLS PostgreSQL.

- :class:`CertificateAuthority` issues server and client certificates (EC P-256, PEM text), also
  already-expired ones, so the tests can show what a wrong or stale credential does.
- :func:`tls_terminator` puts ``socat`` in front of a plain TCP port (the Tansu broker): TLS with
  the given server certificate, and client certificates signed by the CA *required*, like Aiven.
- :mod:`devtools.pg_cluster` makes the TLS PostgreSQL from the credentials issued here.

Everything started is stopped and every file written is removed when the context ends.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import pwd
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.local_stack import Broker, StackError, free_port, start_broker, wait_for_port
from devtools.processes import running_service


class ToolMissingError(StackError):
    """A binary the TLS endpoints need is not installed; the message says which package has it."""


@dataclass(frozen=True)
class Credentials:
    """A certificate and its private key, PEM text as Aiven hands them out."""

    certificate_pem: str
    key_pem: str


class CertificateAuthority:
    """A throwaway CA that signs server and client certificates.

    :param name: the CA's common name (shows up in verification errors).
    """

    def __init__(self, name: str) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def certificate_pem(self) -> str:
        from cryptography.hazmat.primitives.serialization import Encoding

        return self._certificate.public_bytes(Encoding.PEM).decode()

    def issue(self, common_name: str, *, hosts: Sequence[str] = (), expired: bool = False) -> Credentials:
        """A certificate for ``common_name`` valid for the DNS names / IP addresses ``hosts``.

        With ``expired`` it stopped being valid yesterday. Usable by servers and clients alike.
        """
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        valid_from, valid_to = (
            (now - datetime.timedelta(days=3), now - datetime.timedelta(days=1))
            if expired
            else (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=7))
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(valid_from)
            .not_valid_after(valid_to)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()), critical=False
            )
        )
        if hosts:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        return Credentials(
            certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
            key_pem=key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode(),
        )


def _general_name(host: str) -> Any:
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_private(path: Path, text: str, owner: str | None = None) -> Path:
    """Write ``text`` to ``path`` (replacing it) readable by its owner only: it holds secrets.

    ``owner``: chown the file to that OS user.
    """
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
    if owner is not None:
        account = pwd.getpwnam(owner)
        os.chown(path, account.pw_uid, account.pw_gid)
    return path


def require_binary(name: str, package: str) -> str:
    """The path of ``name``, or :class:`ToolMissingError` naming the Debian package to install."""
    path = shutil.which(name)
    if path is None:
        raise ToolMissingError(f"{name} is not installed (apt-get install {package})")
    return path


@dataclass(frozen=True)
class TlsEndpoint:
    """Where a TLS terminator listens (the ``host:port`` clients use)."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@contextmanager
def tls_terminator(
    target_port: int,
    server: Credentials,
    client_ca_pem: str,
    directory: Path,
    *,
    host: str = "localhost",
    port: int | None = None,
) -> Iterator[TlsEndpoint]:
    """Terminate TLS on ``port`` (free by default) and forward each connection to ``target_port``.

    Clients must present a certificate signed by ``client_ca_pem``; the handshake fails otherwise.
    """
    socat = require_binary("socat", "socat")
    port = port or free_port()
    directory.mkdir(parents=True, exist_ok=True)
    certificate = directory / f"terminator-{port}.crt"
    certificate.write_text(server.certificate_pem)
    key = write_private(directory / f"terminator-{port}.key", server.key_pem)
    client_ca = directory / f"terminator-{port}-client-ca.pem"
    client_ca.write_text(client_ca_pem)
    listen = (
        f"OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,"
        f"cert={certificate},key={key},cafile={client_ca},verify=1"
    )
    command = [socat, "-d", listen, f"TCP:127.0.0.1:{target_port}"]
    with running_service("socat", command, directory / f"terminator-{port}.log"):
        try:
            wait_for_port("127.0.0.1", port, 10, "socat (TLS terminator)")
            yield TlsEndpoint(host, port)
        finally:
            for path in (certificate, key, client_ca):
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class TlsBroker:
    """A Kafka-protocol broker reachable only through TLS at ``endpoint`` (``broker`` is the plain side)."""

    endpoint: TlsEndpoint
    broker: Broker


@contextmanager
def tls_broker(ca: CertificateAuthority, directory: Path) -> Iterator[TlsBroker]:
    """Tansu behind :func:`tls_terminator`, advertised as ``localhost:<port>`` like an Aiven broker.

    The terminator's certificate, from ``ca``, names ``localhost``; clients need one from ``ca`` too.
    """
    require_binary("socat", "socat")
    tls_port = free_port()
    broker = start_broker(directory, advertised=f"localhost:{tls_port}")
    try:
        server = ca.issue("localhost", hosts=["localhost"])
        with tls_terminator(broker.port, server, ca.certificate_pem, directory, port=tls_port) as endpoint:
            yield TlsBroker(endpoint, broker)
    finally:
        broker.stop()


def kafka_tls_extra(endpoint: TlsEndpoint, ca_pem: str, client: Credentials | None) -> dict[str, Any]:
    """A ``crypto_prices_kafka`` connection extra for ``endpoint``: mutual TLS, the PEMs inline."""
    extra: dict[str, Any] = {
        "bootstrap.servers": endpoint.address,
        "security.protocol": "SSL",
        "ssl.ca.pem": ca_pem,
    }
    if client is not None:
        extra.update({"ssl.certificate.pem": client.certificate_pem, "ssl.key.pem": client.key_pem})
    return extra


def write_aiven_files(directory: Path, ca_pem: str, client: Credentials) -> dict[str, Path]:
    """The files Aiven's console offers for download, named as there: ca.pem, service.cert, service.key."""
    directory.mkdir(parents=True, exist_ok=True)
    texts = {"ca.pem": ca_pem, "service.cert": client.certificate_pem, "service.key": client.key_pem}
    for name, text in texts.items():
        (directory / name).write_text(text)
    return {name: directory / name for name in texts}
