"""A throwaway PostgreSQL cluster: ``initdb`` in a temporary folder, a free loopback port, removed after.

Plain (the fault tests crash and restart it mid-drain) or with TLS (``ssl=on``, the server
certificate and client CA given, only the ``pg_hba.conf`` lines given for TCP clients). As root,
the cluster is made and run as the OS user ``postgres``, since ``initdb`` refuses root.

The server runs in the foreground as a :class:`~devtools.processes.Service` (not detached by
``pg_ctl start``), so it dies with whatever started it, even a test run killed outright.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.local_stack import StackError, free_port, wait_for_port
from devtools.processes import Service, start_service
from devtools.tls import Credentials, ToolMissingError, write_private

POSTGRES_BIN = Path(os.environ.get("POSTGRES_BIN", "/usr/lib/postgresql/15/bin"))
POSTGRES_OS_USER = "postgres"


@dataclass(frozen=True)
class ServerTls:
    """What makes a cluster TLS-only for TCP clients: its certificate, the client CA, the hba lines."""

    server: Credentials
    client_ca_pem: str
    hba_lines: Sequence[str]


@dataclass
class PostgresCluster:
    """A throwaway cluster on ``127.0.0.1:port`` (``host`` is the name TLS clients use); superuser
    ``postgres`` on the Unix socket in ``socket_dir``, which also holds its data and log."""

    host: str
    port: int
    socket_dir: Path
    server: Service | None = field(default=None, repr=False)

    @property
    def data(self) -> Path:
        return self.socket_dir / "data"

    @property
    def log(self) -> Path:
        return self.socket_dir / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq string for ``database`` over TCP without TLS, with short keepalives."""
        return (
            f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=5 "
            "keepalives=1 keepalives_idle=5 keepalives_interval=2 keepalives_count=3"
        )

    def admin(self, database: str = "postgres") -> Any:
        """A superuser connection over the Unix socket (no TLS), autocommit on."""
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir), port=self.port, user="postgres", dbname=database, autocommit=True
        )

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections (after a crash: recovery done)."""
        import psycopg

        server = start_service(
            "postgres", _as_owner([str(POSTGRES_BIN / "postgres"), "-D", str(self.data)]), self.log
        )
        self.server = server
        try:
            wait_for_port("127.0.0.1", self.port, timeout, "PostgreSQL")
            deadline = time.monotonic() + timeout
            while True:
                try:
                    self.admin().close()  # the Unix socket: TCP may be TLS-only
                    return
                except psycopg.OperationalError:
                    if time.monotonic() > deadline or not server.alive():
                        raise StackError(
                            f"PostgreSQL on port {self.port} is not ready:\n{server.log_tail()}"
                        ) from None
                    time.sleep(0.1)
        except BaseException:
            server.stop()
            raise

    def crash(self) -> None:
        """Stop at once, as a power cut would (``immediate``: no checkpoint, clients cut off)."""
        pg_ctl = str(POSTGRES_BIN / "pg_ctl")
        try:
            _run(_as_owner([pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop"]))
        finally:
            if self.server is not None:
                self.server.stop()


@contextmanager
def throwaway_postgres(tls: ServerTls | None = None, *, host: str = "localhost") -> Iterator[PostgresCluster]:
    """A new, started cluster; with ``tls``, TCP clients get only TLS and only ``tls.hba_lines``."""
    initdb = POSTGRES_BIN / "initdb"
    if not initdb.exists():
        raise ToolMissingError(f"{initdb} is missing (apt-get install postgresql-15, or set POSTGRES_BIN)")
    owner = POSTGRES_OS_USER if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="franz-ivan-pg-"))
    try:
        if owner is not None:
            account = pwd.getpwnam(owner)
            os.chown(base, account.pw_uid, account.pw_gid)
        cluster = PostgresCluster(host, free_port(), base)
        _run(_as_owner([str(initdb), "-D", str(cluster.data), "-U", "postgres", "-A", "trust", "--no-sync"]))
        settings = (
            f"port = {cluster.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{base}'\n"
            "fsync = off\n"
        )
        if tls is None:
            settings += "max_connections = 20\n"
        else:
            write_private(cluster.data / "server.crt", tls.server.certificate_pem, owner)
            write_private(cluster.data / "server.key", tls.server.key_pem, owner)
            write_private(cluster.data / "client-ca.crt", tls.client_ca_pem, owner)
            settings += (
                "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n"
                "ssl_ca_file = 'client-ca.crt'\nmax_connections = 30\n"
            )
            hba = ["local all all trust", *tls.hba_lines]
            (cluster.data / "pg_hba.conf").write_text("".join(f"{line}\n" for line in hba))
        with (cluster.data / "postgresql.conf").open("a") as conf:
            conf.write(settings)
        cluster.start()  # stops its server itself if it fails to come up
        try:
            yield cluster
        finally:
            cluster.crash()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _as_owner(command: list[str]) -> list[str]:
    """``command`` as the cluster's owner: ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", POSTGRES_OS_USER, "--", *command]
    return command


def _run(command: list[str]) -> None:
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if completed.returncode != 0:
        raise StackError(
            f"{' '.join(command)} exited {completed.returncode}: {completed.stdout[-2000:]}"
            f"{completed.stderr[-2000:]}"
        )
