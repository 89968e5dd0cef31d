"""docker-compose.yaml, its Aiven override and the image: valid, pinned, complete, consistent.

The compose model is the one Docker Compose itself resolves (``docker compose config``), so
anchors, merges, interpolation defaults and the override's ``!reset``/``!override`` are applied
exactly as ``docker compose up`` would apply them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from airflow.sdk import Connection

from franz_ivan.clients import postgres_connect_kwargs, source_endpoint
from franz_ivan.markets import parse_markets
from franz_ivan.settings import (
    KAFKA_CONN_ID,
    POSTGRES_CONN_ID,
    api_conn_id,
    settings,
)
from franz_ivan.sources import SOURCES
from tests.deploy.deploy_files import (
    AIRFLOW_SERVICES,
    AIVEN_ENV,
    AIVEN_OVERRIDE,
    COMPOSE_FILE,
    DOCKERFILE,
    PINNED_TAG,
    ROOT,
    ComposeError,
    compose_config,
    load_compose_yaml,
    schema,
    seeded_markets,
)

pytestmark = pytest.mark.deploy

FROM_LINE = re.compile(r"^FROM\s+(\S+)", re.MULTILINE)
COPY_LINE = re.compile(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$", re.MULTILINE)


def dockerfile_copies() -> dict[str, PurePosixPath]:
    """Each ``COPY`` source of the Dockerfile with its destination in the image."""
    return {source: PurePosixPath(dest) for source, dest in COPY_LINE.findall(DOCKERFILE.read_text())}


def conn_env_name(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def connection(env: dict[str, str], conn_id: str) -> Connection:
    """The connection ``conn_id`` as Airflow's environment secrets backend reads it from ``env``."""
    assert conn_env_name(conn_id) in env, f"{conn_env_name(conn_id)} is not set"
    return Connection.from_json(env[conn_env_name(conn_id)], conn_id=conn_id)


def port_of(service: dict[str, Any], container_port: int) -> bool:
    """Whether ``service`` listens on ``container_port`` according to its own configuration."""
    listeners = service.get("environment", {}).get("KAFKA_LISTENERS", "")
    return f":{container_port}" in listeners or any(
        int(port["target"]) == container_port for port in service.get("ports", [])
    )


def bind_mounts(service: dict[str, Any]) -> dict[PurePosixPath, Path]:
    """The service's bind mounts, container path to host path."""
    return {
        PurePosixPath(volume["target"]): Path(volume["source"])
        for volume in service.get("volumes", [])
        if volume["type"] == "bind"
    }


@pytest.mark.parametrize("path", [COMPOSE_FILE, AIVEN_OVERRIDE], ids=lambda path: path.name)
def test_compose_file_validates_against_the_compose_spec(path: Path) -> None:
    errors = sorted(
        jsonschema.Draft7Validator(schema("compose-spec.json")).iter_errors(load_compose_yaml(path)),
        key=str,
    )
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


@pytest.mark.parametrize("mode", ["local", "aiven"])
def test_resolved_compose_model_validates_against_the_compose_spec(
    mode: str, compose_local: dict[str, Any], compose_aiven: dict[str, Any]
) -> None:
    model = compose_local if mode == "local" else compose_aiven
    errors = list(jsonschema.Draft7Validator(schema("compose-spec.json")).iter_errors(model))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def test_every_image_is_pinned_to_an_exact_version(compose_local: dict[str, Any]) -> None:
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name, service in compose_local["services"].items():
        repository, _, tag = service["image"].rpartition(":")
        assert repository, f"{name}: image {service['image']!r} has no tag"
        assert "@" not in service["image"], f"{name}: image {service['image']!r} is pinned by digest"
        if "build" in service:
            assert tag == project_version, f"{name}: the built image is tagged with the project version"
        else:
            assert PINNED_TAG.fullmatch(tag), f"{name}: image {service['image']!r} is not an exact version"
    (base,) = FROM_LINE.findall(DOCKERFILE.read_text())
    assert PINNED_TAG.fullmatch(base.rpartition(":")[2]), f"Dockerfile FROM {base} is not an exact version"


def test_image_is_the_airflow_that_requirements_pin() -> None:
    (base,) = FROM_LINE.findall(DOCKERFILE.read_text())
    match = re.fullmatch(r"apache/airflow:(?P<airflow>[\d.]+)-python(?P<python>3\.\d+)", base)
    assert match, f"Dockerfile FROM {base}: expected apache/airflow:<version>-python<3.x>"
    requirements = [
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    # ./provider is the project's own entry-point distribution, versioned with this repository.
    pins = dict(line.split("==", 1) for line in requirements if line and not line.startswith("./"))
    assert all(requirement for requirement in pins.values()), "every requirement is pinned with =="
    assert pins["apache-airflow"] == match["airflow"]
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert required == f">={match['python']}", f"image Python {match['python']} vs requires-python {required}"


def test_airflow_services_get_every_setting_the_dags_read(
    compose_local: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = compose_local["services"]
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]

        kafka = connection(env, KAFKA_CONN_ID)
        host, _, port = kafka.extra_dejson["bootstrap.servers"].partition(":")
        assert kafka.conn_type == "kafka"
        assert host in services, f"{name}: Kafka host {host!r} is not a service"
        assert port_of(services[host], int(port)), f"{name}: {host} does not listen on {port}"
        assert f"://{host}:{port}" in services[host]["environment"]["KAFKA_ADVERTISED_LISTENERS"]

        postgres = postgres_connect_kwargs(connection(env, POSTGRES_CONN_ID))
        server_env = services[postgres["host"]]["environment"]
        assert postgres["port"] == 5432
        assert (postgres["dbname"], postgres["user"], postgres["password"]) == (
            server_env["CRYPTO_PRICES_DB"],
            server_env["CRYPTO_PRICES_DB_USER"],
            server_env["CRYPTO_PRICES_DB_PASSWORD"],
        ), f"{name}: the connection and the database the init script creates differ"

        for source in {market.source for market in parse_markets(seeded_markets(compose_local))}:
            api = urlsplit(connection(env, api_conn_id(source)).host)
            assert api.hostname in services, f"{name}: {source} API host {api.hostname!r} is not a service"
            assert f'"0.0.0.0", {api.port}' in services[api.hostname]["command"][0]

        assert env["CRYPTO_PRICES_TOPIC"] == "crypto_prices"
        monkeypatch.setenv("CRYPTO_PRICES_TOPIC_PARTITIONS", env["CRYPTO_PRICES_TOPIC_PARTITIONS"])
        assert settings().topic_partition_count == int(
            services["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"]
        )

        assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "false"
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert {"pem", "sslkey"} <= set(env["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"].split(","))
        execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
        assert execution_api.hostname in services
        assert execution_api.path == "/execution/"
        assert port_of(services[execution_api.hostname], execution_api.port or 80)
        assert services[execution_api.hostname]["command"] == ["api-server"]

    commands = {tuple(services[name]["command"]) for name in AIRFLOW_SERVICES}
    assert {("scheduler",), ("dag-processor",), ("triggerer",), ("api-server",)} <= commands


def test_empty_price_api_url_sends_every_source_to_its_public_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "live.env"
    env_file.write_text("PRICE_API_URL=\n")
    env = compose_config(COMPOSE_FILE, env_file=env_file)["services"]["airflow-scheduler"]["environment"]
    for name, source in SOURCES.items():
        monkeypatch.setenv(conn_env_name(api_conn_id(name)), env[conn_env_name(api_conn_id(name))])
        assert source_endpoint(source).base_url == source.default_base_url, name


def test_every_mounted_and_copied_path_exists(compose_local: dict[str, Any]) -> None:
    for name, service in compose_local["services"].items():
        for target, source in bind_mounts(service).items():
            assert source.exists(), f"{name}: {source} (mounted at {target}) does not exist"
            assert source.is_relative_to(ROOT), f"{name}: {source} is outside the project"
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for source in dockerfile_copies():
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        top = source.rstrip("/").split("/")[0]
        assert not any(fnmatch(top, pattern) for pattern in ignored), f".dockerignore drops {source}"


def test_image_and_mounts_put_the_sql_where_settings_looks(compose_local: dict[str, Any]) -> None:
    copies = dockerfile_copies()
    plugins, include = copies["plugins/"], copies["include/"]
    # settings().sql_dir defaults to <the directory holding plugins/>/include/sql.
    settings_file = plugins / "franz_ivan" / "settings.py"
    assert settings_file.parents[2] / "include" / "sql" == include / "sql"
    assert settings().sql_dir == ROOT / "include" / "sql"
    assert (settings().sql_dir / "create_schema.sql").exists()
    for name in AIRFLOW_SERVICES:
        mounts = bind_mounts(compose_local["services"][name])
        for source, destination in copies.items():
            if source.endswith("/") and destination in mounts:
                assert mounts[destination] == ROOT / source.rstrip("/"), f"{name}: {destination}"
        assert {copies["dags/"], plugins, include} <= set(mounts), f"{name} mounts the project code"


def test_aiven_mode_uses_the_aiven_services_only(compose_aiven: dict[str, Any]) -> None:
    services = compose_aiven["services"]
    assert "kafka" not in services
    assert "postgres" not in services
    for name, service in services.items():
        assert not {"kafka", "postgres"} & set(service.get("depends_on", {})), f"{name} waits for a local one"
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        for variable in ("AIRFLOW_CONN_CRYPTO_PRICES_KAFKA", "AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES"):
            assert json.loads(env[variable]) == json.loads(AIVEN_ENV[variable]), f"{name}: {variable}"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == AIVEN_ENV["AIRFLOW_METADATA_DB_URL"]
        certificate = PurePosixPath(
            dict(
                part.split("=")
                for part in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].split("?")[1].split("&")
            )["sslrootcert"]
        )
        mounts = bind_mounts(services[name])
        assert mounts.get(certificate.parent) == ROOT / "deploy" / "compose" / "aiven", name
    grafana = services["grafana"]
    assert grafana["environment"]["CRYPTO_PRICES_DB_ADDRESS"] == AIVEN_ENV["AIVEN_PG_ADDRESS"]
    assert grafana["environment"]["CRYPTO_PRICES_DB_SSLMODE"] == "verify-full"
    ca_file = PurePosixPath(grafana["environment"]["CRYPTO_PRICES_DB_SSLROOTCERT"])
    assert bind_mounts(grafana).get(ca_file.parent) == ROOT / "deploy" / "compose" / "aiven"
    ignore = (ROOT / "deploy" / "compose" / "aiven" / ".gitignore").read_text().splitlines()
    assert "*" in ignore, "the folder holding the Aiven credentials must be git-ignored"


def test_aiven_mode_stops_without_its_credentials() -> None:
    with pytest.raises(ComposeError, match=r"devtools\.aiven_connections|AIRFLOW_METADATA_DB_URL"):
        compose_config(COMPOSE_FILE, AIVEN_OVERRIDE)


def test_price_api_service_answers_every_default_market(
    compose_local: dict[str, Any], tmp_path: Path
) -> None:
    """Run the service's command with its mounts laid out as in the container, in a private network
    namespace (so it may bind 0.0.0.0:8765), and fetch every market of the markets Variable from it
    with the producer's own source adapters."""
    services = compose_local["services"]
    service = services["price-api"]
    container = tmp_path / "container"
    for target, source in bind_mounts(service).items():
        (container / target.relative_to("/")).parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-r", str(source), str(container / target.relative_to("/"))], check=True)
    command = [sys.executable if part == "python" else part for part in service["entrypoint"]]
    command += service["command"]
    markets = seeded_markets(compose_local)
    client = f"""
import json, subprocess, sys, time, requests
from franz_ivan.markets import parse_markets
from franz_ivan.sources import Endpoint, fetch_quote
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
server = subprocess.Popen({command!r}, cwd={str(container / service["working_dir"].lstrip("/"))!r})
try:
    for _ in range(100):
        try:
            requests.get("http://127.0.0.1:8765/", timeout=1)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    with requests.Session() as session:
        quotes = {{
            market.key: fetch_quote(session, Endpoint("http://127.0.0.1:8765"), market)
            for market in parse_markets({markets!r})
        }}
    answers = {{key: [str(quote.price), quote.allowance is not None] for key, quote in quotes.items()}}
    print(json.dumps(answers))
finally:
    server.terminate()
    server.wait(timeout=10)
"""
    completed = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", client],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")},
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout)
    assert set(answers) == {market.key for market in parse_markets(markets)}
    assert all(Decimal(price) > 0 for price, _ in answers.values())
    assert any(has_allowance for _, has_allowance in answers.values()), "the allowance panel gets data"
