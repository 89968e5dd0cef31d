"""Both DAGs over Aiven-grade TLS, with the connections the Aiven helper makes, leaking nothing.

Kafka is Tansu behind a terminator that requires client certificates; PostgreSQL is a private
cluster with ``ssl=on`` checked with ``verify-full``. The connections come from
``python -m devtools.aiven_connections`` and ``airflow connections import``, as a user makes them.
Tasks run through Airflow's LocalExecutor and the API server's execution API (``dags test
--use-executor``), so their logs are written, and masked, the way a deployment's are.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from devtools.airflow_services import airflow_components
from devtools.local_stack import ROOT, Postgres, Stack, StackError, free_port, wait_for_port
from devtools.pg_cluster import PostgresCluster
from devtools.price_api import PriceApiServer
from devtools.tls import (
    CertificateAuthority,
    Credentials,
    TlsBroker,
    kafka_tls_extra,
    write_aiven_files,
)
from franz_ivan.masking import MIN_LINE_LENGTH

pytestmark = [pytest.mark.tls, pytest.mark.e2e, pytest.mark.integration]

QUICK_CONSUMER = json.dumps({"max_wait_seconds": 20})
DAG_RUN_TIMEOUT = 150
PROBE_DAG = Path(__file__).parent / "dags" / "tls_leak_probe.py"
USE_IMPORTED_CONNECTIONS: dict[str, dict[str, Any] | None] = {
    "CRYPTO_PRICES_KAFKA": None,
    "CRYPTO_PRICES_POSTGRES": None,
}
"""No env definitions of these two, so Airflow reads them from its database: the API server serves
only those, and tasks under an executor get their connections from the API server."""


def pem_body_lines(*pems: str) -> list[str]:
    """The base64 lines of PEM texts: any one of them in an output means a secret got out.

    Lines too short to mask without masking ordinary text too (a block's tail, at most) are left out.
    """
    lines = (line for pem in pems for line in pem.splitlines())
    return [line for line in lines if len(line) >= MIN_LINE_LENGTH and not line.startswith("-----")]


def leaks(outputs: dict[str, str], hidden: list[str]) -> dict[str, int]:
    """Per output that shows any of the ``hidden`` texts, how many of them it shows."""
    found = {where: sum(secret in text for secret in hidden) for where, text in outputs.items()}
    return {where: count for where, count in found.items() if count}


@dataclass(frozen=True)
class Secrets:
    """What must never show: the PostgreSQL password, the client key and certificate, the CA."""

    password: str
    client: Credentials
    ca_pem: str

    def texts(self) -> list[str]:
        return [self.password, *pem_body_lines(self.client.key_pem, self.client.certificate_pem, self.ca_pem)]


def import_aiven_connections(stack: Stack, directory: Path, kafka: TlsBroker, postgres_uri: str) -> None:
    """Run the helper on Aiven-like files in ``directory``, then ``airflow connections import`` its output."""
    files = {name: str(directory / name) for name in ("ca.pem", "service.cert", "service.key")}
    output = directory / "connections.json"
    subprocess.run(
        [
            sys.executable,
            *("-m", "devtools.aiven_connections"),
            *("--kafka-uri", kafka.endpoint.address),
            *("--kafka-ca", files["ca.pem"], "--kafka-cert", files["service.cert"]),
            *("--kafka-key", files["service.key"], "--postgres-ca", files["ca.pem"]),
            *("--database", stack.postgres.database, "--output", str(output)),
        ],
        env={**os.environ, "AIVEN_POSTGRES_URI": postgres_uri},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=60,
    )
    stack.airflow("connections", "import", "--overwrite", str(output))
    output.unlink()


@pytest.fixture
def tls_secrets(
    avnadmin_password: str, client_credentials: Credentials, test_ca: CertificateAuthority
) -> Secrets:
    return Secrets(avnadmin_password, client_credentials, test_ca.certificate_pem)


@pytest.fixture
def tls_stack(
    *,
    tmp_path: Path,
    migrated_airflow_home: Path,
    kafka_tls: TlsBroker,
    postgres_tls: PostgresCluster,
    tls_database: str,
    tls_secrets: Secrets,
    price_api: PriceApiServer,
    topic: str,
) -> Stack:
    """Airflow with the TLS connections imported into its database and none in its environment."""
    stack = Stack(
        kafka_tls.broker,
        Postgres("localhost", postgres_tls.port, "avnadmin", tls_database),
        price_api.url,
        migrated_airflow_home,
        topic=topic,
        connections=USE_IMPORTED_CONNECTIONS,
    )
    write_aiven_files(tmp_path, tls_secrets.ca_pem, tls_secrets.client)
    uri = (
        f"postgres://avnadmin:{tls_secrets.password}@localhost:{postgres_tls.port}/defaultdb?sslmode=require"
    )
    import_aiven_connections(stack, tmp_path, kafka_tls, uri)
    return stack


@dataclass(frozen=True)
class AirflowServices:
    """A running API server (REST and execution API) and triggerer, and the environment that uses them."""

    url: str
    env: dict[str, str]
    """For ``airflow`` commands: LocalExecutor, this execution API, the probe DAG beside the project's."""


def executor_settings(dags: Path, api_port: int) -> dict[str, str]:
    """Run tasks as a deployment does: LocalExecutor, the execution API at ``api_port``, DAGs in ``dags``."""
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        # Not the fixed defaults 8793/8794, which other Airflow processes on this machine may hold.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
    }


@pytest.fixture(scope="module")
def airflow_services(
    migrated_airflow_home: Path, kafka_tls: TlsBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AirflowServices]:
    """``airflow api-server`` and ``airflow triggerer`` against the tests' home, stopped afterwards.

    Both read the two connections from the metadata database, where each test imports its own.
    """
    folder = tmp_path_factory.mktemp("airflow_services")
    dags = folder / "dags"
    dags.mkdir()
    for dag_file in [*(ROOT / "dags").glob("*.py"), PROBE_DAG]:
        (dags / dag_file.name).symlink_to(dag_file)
    port = free_port()
    env = executor_settings(dags, port)
    home = Stack(
        kafka_tls.broker,
        Postgres("localhost", 5432, "unused", "unused"),
        "http://unused",
        migrated_airflow_home,
        connections=USE_IMPORTED_CONNECTIONS,
    )
    components = [["api-server", "--port", str(port), "--workers", "1"], ["triggerer"]]
    with airflow_components(components, {**home.airflow_env(), **env}, folder):
        wait_for_port("127.0.0.1", port, 120, "airflow api-server")
        yield AirflowServices(f"http://127.0.0.1:{port}", env)


def api_get(base_url: str, path: str) -> str:
    """GET ``path`` with a token from the simple auth manager (every user is an admin here)."""
    with urllib.request.urlopen(f"{base_url}/auth/token", timeout=30) as response:
        token = json.load(response)["access_token"]
    request = urllib.request.Request(f"{base_url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return str(response.read().decode())


def run_dag(
    stack: Stack, services: AirflowServices, dag_id: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``airflow dags test DAG_ID --use-executor``: the tasks run, and log, as in a deployment.

    Airflow 3.3's LocalExecutor sometimes never returns from its shutdown after the run has ended
    (seen twice in about ten suite runs: "DagRun Finished ... successful", then "Shutting down
    LocalExecutor; waiting for running tasks to finish" and nothing for 150 s, the task's workload
    already reported finished). Such a run is taken as what it printed; any other timeout fails.
    """
    try:
        return stack.airflow(
            "dags",
            "test",
            dag_id,
            *args,
            "--use-executor",
            env={**services.env, **(env or {})},
            timeout=DAG_RUN_TIMEOUT,
        )
    except StackError as error:
        output = str(error)
        ended = "did not finish within" in output and "Shutting down LocalExecutor" in output
        succeeded = re.search(r"Marking run <DagRun " + re.escape(dag_id) + r" @ [^\n]*> successful", output)
        if not ended or not succeeded:
            raise
        return subprocess.CompletedProcess([dag_id], 0, stdout=output, stderr="")


def task_logs(stack: Stack, dag_id: str) -> dict[str, str]:
    folder = stack.airflow_home / "logs" / f"dag_id={dag_id}"
    return {str(path): path.read_text(errors="replace") for path in folder.rglob("*.log")}


def test_both_dags_run_over_tls_and_no_secret_shows(
    *,
    tls_stack: Stack,
    airflow_services: AirflowServices,
    postgres_tls: PostgresCluster,
    tls_database: str,
    tls_secrets: Secrets,
) -> None:
    produced = run_dag(tls_stack, airflow_services, "crypto_prices_producer")
    consumed = run_dag(tls_stack, airflow_services, "crypto_prices_consumer", "--conf", QUICK_CONSUMER)

    with postgres_tls.admin(tls_database) as db:
        assert db.execute("SELECT count(*) FROM btcusd").fetchone() == (1,)
        assert db.execute("SELECT count(*) FROM cryptowatch_api_allowance").fetchone() == (1,)
    logs = task_logs(tls_stack, "crypto_prices_producer") | task_logs(tls_stack, "crypto_prices_consumer")
    assert any("task_id=drain_events" in path for path in logs), "the consumer's task logs were not written"
    outputs = {
        "producer output": produced.stdout + produced.stderr,
        "consumer output": consumed.stdout + consumed.stderr,
        **logs,
        "airflow connections list": tls_stack.airflow("connections", "list", "--output", "json").stdout,
    }
    for conn_id in ("crypto_prices_kafka", "crypto_prices_postgres"):
        outputs[f"GET /api/v2/connections/{conn_id}"] = api_get(
            airflow_services.url, f"/api/v2/connections/{conn_id}"
        )
    outputs["GET /api/v2/connections"] = api_get(airflow_services.url, "/api/v2/connections")

    assert leaks(outputs, tls_secrets.texts()) == {}
    kafka = json.loads(json.loads(outputs["GET /api/v2/connections/crypto_prices_kafka"])["extra"])
    assert {key: kafka[key] for key in ("ssl.ca.pem", "ssl.certificate.pem", "ssl.key.pem")} == {
        "ssl.ca.pem": "***",
        "ssl.certificate.pem": "***",
        "ssl.key.pem": "***",
    }


def test_careless_task_logging_is_masked_only_with_the_project_settings(
    *, tls_stack: Stack, airflow_services: AirflowServices, tls_secrets: Secrets
) -> None:
    """A task that logs and prints every connection field leaks nothing with the project's settings;
    with Airflow's defaults the same task leaks the keys, which is what the settings are for."""
    run_dag(tls_stack, airflow_services, "tls_leak_probe")
    masked = task_logs(tls_stack, "tls_leak_probe")

    defaults = {"AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": "", "AIRFLOW__LOGGING__SECRET_MASK_ADAPTER": ""}
    run_dag(tls_stack, airflow_services, "tls_leak_probe", env=defaults)
    unmasked = {
        path: text for path, text in task_logs(tls_stack, "tls_leak_probe").items() if path not in masked
    }

    assert len(masked) == len(unmasked) == 1
    assert "ssl.key.pem = ***" in next(iter(masked.values()))
    assert leaks(masked, tls_secrets.texts()) == {}
    assert "ssl.key.pem = -----BEGIN PRIVATE KEY-----" in next(iter(unmasked.values()))
    assert leaks(unmasked, pem_body_lines(tls_secrets.client.key_pem))


def test_a_wrong_kafka_ca_fails_the_producer_clearly_and_publishes_nothing(
    *,
    airflow_stack: Stack,
    kafka_tls: TlsBroker,
    other_ca: CertificateAuthority,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
) -> None:
    wrong = kafka_tls_extra(kafka_tls.endpoint, other_ca.certificate_pem, client_credentials)
    stack = Stack(
        kafka_tls.broker,
        airflow_stack.postgres,
        airflow_stack.api_url,
        airflow_stack.airflow_home,
        topic=airflow_stack.topic,
        connections={"CRYPTO_PRICES_KAFKA": {"conn_type": "kafka", "extra": wrong}},
    )

    completed = stack.airflow(
        "dags", "test", "crypto_prices_producer", check=False, env={"CRYPTO_PRICES_DELIVERY_TIMEOUT": "3"}
    )

    output = completed.stdout + completed.stderr
    assert "state=failed" in output
    assert (
        f"PublishError: Kafka at {kafka_tls.endpoint.address} did not answer within 3 s: "
        'KafkaError{code=_TRANSPORT,val=-195,str="Failed to get metadata: Local: Broker transport failure"}; '
        "TLS failed, the broker's certificate did not verify: ssl.ca.pem is not the CA that signed it"
    ) in output
    good: dict[str, Any] = kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
    assert stack.topic not in AdminClient(good).list_topics(timeout=10).topics
