"""TLS endpoints for the tests in this folder, made from a test CA the tests create.

- ``kafka_tls``: a Tansu broker behind a ``socat`` TLS terminator that requires client certificates
  signed by the test CA, advertised as ``localhost:<port>`` (the host name in its certificate).
- ``postgres_tls``: a throwaway PostgreSQL cluster with ``ssl=on``: ``avnadmin`` signs in with a
  password over TLS (as on Aiven), ``certuser`` with a client certificate (``clientcert=verify-full``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from psycopg import sql

from devtools.pg_cluster import POSTGRES_BIN, PostgresCluster, ServerTls, throwaway_postgres
from devtools.tls import (
    CertificateAuthority,
    TlsBroker,
    ToolMissingError,
    require_binary,
    tls_broker,
)


@pytest.fixture(scope="session")
def avnadmin_password() -> str:
    """The password of the TLS cluster's ``avnadmin``, who signs in with a password as on Aiven.

    Long and distinctive, so that a leak of it is found by a plain search.
    """
    return "pw-Aiven-Like-7f3e9c1d"


def skip_without(binary: str, package: str) -> None:
    try:
        require_binary(binary, package)
    except ToolMissingError as error:
        pytest.skip(f"TLS endpoints need it: {error}")


@pytest.fixture(scope="session")
def kafka_tls(tmp_path_factory: pytest.TempPathFactory, test_ca: CertificateAuthority) -> Iterator[TlsBroker]:
    skip_without("socat", "socat")
    with tls_broker(test_ca, tmp_path_factory.mktemp("kafka_tls")) as running:
        yield running


@pytest.fixture(scope="session")
def postgres_tls(test_ca: CertificateAuthority, avnadmin_password: str) -> Iterator[PostgresCluster]:
    server = test_ca.issue("localhost", hosts=["localhost"])
    hba = [
        "hostssl all certuser 127.0.0.1/32 cert clientcert=verify-full",
        "hostssl all avnadmin 127.0.0.1/32 scram-sha-256",
    ]
    skip_without(str(POSTGRES_BIN / "initdb"), "postgresql-15")
    with throwaway_postgres(ServerTls(server, test_ca.certificate_pem, hba)) as cluster:
        with cluster.admin() as admin:
            admin.execute(
                sql.SQL("CREATE ROLE avnadmin LOGIN PASSWORD {}").format(sql.Literal(avnadmin_password))
            )
            admin.execute("CREATE ROLE certuser LOGIN")
        yield cluster


@pytest.fixture
def tls_database(postgres_tls: PostgresCluster) -> Iterator[str]:
    """A fresh database in the TLS cluster that both roles may use; dropped afterwards."""
    name = f"crypto_prices_{uuid.uuid4().hex[:8]}"
    with postgres_tls.admin() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER avnadmin").format(sql.Identifier(name)))
        admin.execute(sql.SQL("GRANT ALL ON DATABASE {} TO certuser").format(sql.Identifier(name)))
    yield name
    with postgres_tls.admin() as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
