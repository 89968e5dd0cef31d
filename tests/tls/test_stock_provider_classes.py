"""The connections the Aiven helper makes work with the providers' stock classes, and the hooks'
``test_connection()`` names what is wrong.

``stock_provider_classes`` (``tests/tls/dags``) imports nothing of franz-ivan: it runs under
``airflow dags test`` against the TLS services (PostgreSQL ``verify-full`` on the private cluster,
Kafka mutual TLS behind the terminator) with the helper's connections in both forms, PEMs inline
and by file path. The prices it reads were put there by the pipeline's own drain over the same
connections.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.aiven_connections import main as aiven_connections
from devtools.local_stack import Postgres, Stack
from devtools.pg_cluster import PostgresCluster
from devtools.tls import CertificateAuthority, Credentials, TlsBroker, write_aiven_files
from franz_ivan.drain import DrainLimits
from franz_ivan.drain_runner import run_drain
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import Market, PriceEvent
from franz_ivan.hooks.kafka import PricesKafkaHook
from franz_ivan.publish import ensure_topic, publish
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID

pytestmark = [pytest.mark.tls, pytest.mark.integration, pytest.mark.e2e]

DAGS = Path(__file__).parent / "dags"
DAG_RUN_TIMEOUT = 180
FORMS = ("inline", "file paths")


def helper_connections(  # noqa: PLR0917
    files: dict[str, Path],
    kafka: TlsBroker,
    cluster: PostgresCluster,
    password: str,
    database: str,
    form: str,
) -> dict[str, dict[str, Any]]:
    """The two connections as ``python -m devtools.aiven_connections`` writes them for ``files``."""
    output = files["ca.pem"].parent / "connections.json"
    argv = [
        *("--kafka-uri", kafka.endpoint.address),
        *("--kafka-ca", str(files["ca.pem"]), "--kafka-cert", str(files["service.cert"])),
        *("--kafka-key", str(files["service.key"]), "--postgres-ca", str(files["ca.pem"])),
        *(
            "--postgres-uri",
            f"postgres://avnadmin:{password}@localhost:{cluster.port}/defaultdb?sslmode=require",
        ),
        *("--database", database, "--output", str(output)),
    ]
    if form == "file paths":
        argv += ["--pem-location", str(files["ca.pem"].parent)]
    assert aiven_connections(argv) == 0
    connections: dict[str, dict[str, Any]] = json.loads(output.read_text())
    output.unlink()
    return connections


def use_connections(monkeypatch: pytest.MonkeyPatch, connections: dict[str, dict[str, Any]]) -> None:
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def drain_one_price(topic: str, price: str) -> None:
    """Publish one btcusd price and drain it into PostgreSQL with the pipeline's own hooks."""
    config = PricesKafkaHook().config()
    ensure_topic(config, topic, 1, timeout=10)
    market = Market("cryptowatch", "coinbase-pro", "btcusd")
    event = PriceEvent(event_id_for(topic, "price"), market, datetime.now(UTC), Decimal(price))
    publish(config, topic, [(market.key, event)], timeout=10)
    result = run_drain(
        KAFKA_CONN_ID, POSTGRES_CONN_ID, topic, "stock-classes-test", DrainLimits(max_seconds=30)
    )
    assert result.prices == 1


@pytest.mark.parametrize("form", FORMS)
def test_stock_provider_classes_work_on_the_helpers_connections(
    *,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    migrated_airflow_home: Path,
    kafka_tls: TlsBroker,
    postgres_tls: PostgresCluster,
    tls_database: str,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
    avnadmin_password: str,
    topic: str,
) -> None:
    files = write_aiven_files(tmp_path / "aiven", test_ca.certificate_pem, client_credentials)
    connections = helper_connections(files, kafka_tls, postgres_tls, avnadmin_password, tls_database, form)
    use_connections(monkeypatch, connections)
    drain_one_price(topic, "24063.4")
    with postgres_tls.admin(tls_database) as db:
        [(stored,)] = db.execute("SELECT value::text FROM btcusd").fetchall()
    stack = Stack(
        kafka_tls.broker,
        Postgres("localhost", postgres_tls.port, "avnadmin", tls_database),
        "http://unused",
        migrated_airflow_home,
        topic=topic,
        connections={conn_id.upper(): conn for conn_id, conn in connections.items()},
    )

    run = stack.airflow(
        "dags",
        "test",
        "stock_provider_classes",
        "--conf",
        json.dumps({"expected_price": stored, "topic": topic}),
        env={"AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)},
        timeout=DAG_RUN_TIMEOUT,
        check=False,
    )

    output = run.stdout + run.stderr
    assert "state=failed" not in output, output[-6000:]
    for task_id in ("read_btcusd", "check_btcusd", "compare", "produce", "list_topics"):
        assert f"task_id={task_id}" in output
    assert output.count("state=success") >= 1 + 5, output[-6000:]
    # conn.get_hook() chose the hook by conn_type: the project's for inline PEMs, else the stock one
    chosen = {"inline": "PricesPostgresHook", "file paths": "PostgresHook"}[form]
    assert f".hooks.postgres.{chosen}]" in output
    assert "BEGIN" not in output
    assert avnadmin_password not in output


def test_the_stock_postgres_hook_takes_the_local_connection_unchanged(
    monkeypatch: pytest.MonkeyPatch, database: Postgres
) -> None:
    """The local form (conn_type postgres, no TLS) is the provider's own."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    local = {
        "conn_type": "postgres",
        "host": database.host,
        "port": database.port,
        "login": database.user,
        "schema": database.database,
    }
    monkeypatch.setenv("AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES", json.dumps(local))

    assert PostgresHook(postgres_conn_id=POSTGRES_CONN_ID).get_records("SELECT current_database()") == [
        (database.database,)
    ]
