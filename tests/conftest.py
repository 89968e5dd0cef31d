"""Shared fixtures: the real services every integration test talks to.

- ``broker``: one Tansu broker for the session (tests isolate themselves by topic name).
- ``database``: a fresh PostgreSQL database per test, dropped afterwards.
- ``price_api``: the local market-data API in a thread, with its state reset per test; ``session``:
  the producer's HTTP session to ask it with.
- ``airflow_stack``: the above wired into a migrated Airflow home for ``airflow dags test``.
- ``test_ca``, ``other_ca``, ``client_credentials``: certificates made in memory, for the unit tests
  of the TLS settings and for the TLS endpoints of ``tests/tls``.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devtools.local_stack import Broker, Postgres, Stack, drop_database, local_postgres, start_broker
from devtools.price_api import ApiState, PriceApiServer, serve
from devtools.tls import CertificateAuthority, Credentials
from devtools.warm_airflow import start_warm_airflow
from franz_ivan.producer import new_session

BUDGET_SECONDS = 30.0
"""What one test may take, setup and teardown included, on the shared two-core machine under
``make test``'s parallel load (docs/testing.md, *The time budget*)."""
SLOW_BUDGET_SECONDS = 150.0
"""What a test marked ``slow`` may take: one that starts or waits on a whole Airflow stack."""
_spent: dict[str, float] = {}
_slow: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Add up each test's setup, call and teardown (under xdist: on the controller, from every worker)."""
    _spent[report.nodeid] = _spent.get(report.nodeid, 0.0) + report.duration
    if "slow" in report.keywords:
        _slow.add(report.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every test over its time budget: it should get faster, or be marked ``slow`` with a reason."""
    over = [
        (seconds, nodeid)
        for nodeid, seconds in _spent.items()
        if seconds > (SLOW_BUDGET_SECONDS if nodeid in _slow else BUDGET_SECONDS)
    ]
    if over:
        terminalreporter.section("tests over their time budget")
        terminalreporter.write_line(
            f"budget: {BUDGET_SECONDS:g} s a test, {SLOW_BUDGET_SECONDS:g} s if marked slow "
            "(setup, call and teardown; docs/testing.md)"
        )
        for seconds, nodeid in sorted(over, reverse=True):
            marked = " [slow]" if nodeid in _slow else ""
            terminalreporter.write_line(f"{seconds:8.1f} s  {nodeid}{marked}")


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    running = start_broker(tmp_path_factory.mktemp("tansu"))
    yield running
    running.stop()


@pytest.fixture
def topic() -> str:
    return f"crypto_prices_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def database() -> Iterator[Postgres]:
    name = f"franz_test_{uuid.uuid4().hex[:10]}"
    postgres = local_postgres(name)
    yield postgres
    drop_database(postgres, name)


@pytest.fixture
def pg(database: Postgres) -> Iterator[Any]:
    """An open psycopg connection (autocommit off) to the test database."""
    with database.connect() as conn:
        yield conn


@pytest.fixture(scope="session")
def price_api_server() -> Iterator[PriceApiServer]:
    with serve() as server:
        yield server


@pytest.fixture
def price_api(price_api_server: PriceApiServer) -> PriceApiServer:
    price_api_server.state = ApiState()
    return price_api_server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    """The producer's HTTP session (four connections a host), as the source adapters get it."""
    with new_session(4) as opened:
        yield opened


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("airflow_home")


@pytest.fixture(scope="session")
def migrated_airflow_home(
    airflow_home: Path, broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """An Airflow home whose SQLite metadata is migrated once for the session, with a warm Airflow
    (:mod:`devtools.warm_airflow`) that runs the ``airflow`` commands of every :class:`Stack` on it."""
    stack = Stack(broker, local_postgres("postgres"), "http://unused", airflow_home)
    stack.migrate()
    warm = start_warm_airflow(stack.airflow_env(), tmp_path_factory.mktemp("warm_airflow"))
    yield airflow_home
    warm.stop()


@pytest.fixture
def airflow_stack(
    migrated_airflow_home: Path, broker: Broker, database: Postgres, price_api: PriceApiServer, topic: str
) -> Stack:
    """Services plus Airflow, isolated per test by database and topic."""
    return Stack(broker, database, price_api.url, migrated_airflow_home, topic=topic)


@pytest.fixture(scope="session")
def test_ca() -> CertificateAuthority:
    return CertificateAuthority("franz-ivan test CA")


@pytest.fixture(scope="session")
def other_ca() -> CertificateAuthority:
    """A CA nobody here trusts: its certificates stand for the wrong project's files."""
    return CertificateAuthority("some other project CA")


@pytest.fixture(scope="session")
def client_credentials(test_ca: CertificateAuthority) -> Credentials:
    """What Aiven hands out as service.cert and service.key."""
    return test_ca.issue("crypto-prices-airflow")


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Where :mod:`tempfile` puts things during the test, so that leftovers can be looked for."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder
