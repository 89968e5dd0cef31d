"""docker-compose.yaml, its Aiven override and the image: valid, pinned, complete, consistent.

The compose model is the one Docker Compose itself resolves (``docker compose config``), so
anchors, merges, interpolation defaults and the override's ``!reset``/``!override`` are applied
exactly as ``docker compose up`` would apply them.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from decimal import Decimal
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from airflow.sdk import Connection

from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.markets import parse_markets
from franz_ivan.producer import source_endpoint
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
    DISTRIBUTION_BUILD_FILES,
    DOCKERFILE,
    PINNED_TAG,
    ROOT,
    ComposeError,
    compose_config,
    dockerfile_copies,
    dockerfile_instructions,
    load_compose_yaml,
    schema,
    seeded_markets,
)

pytestmark = pytest.mark.deploy

FROM_LINE = re.compile(r"^FROM\s+(\S+)", re.MULTILINE)


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
    pins = dict(line.split("==", 1) for line in requirements if line)
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

        postgres = PricesPostgresHook.for_connection(connection(env, POSTGRES_CONN_ID)).connect_kwargs()
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
    for source, _ in dockerfile_copies():
        assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
        top = source.rstrip("/").split("/")[0]
        assert not any(fnmatch(top, pattern) for pattern in ignored), f".dockerignore drops {source}"


def test_the_image_installs_the_distribution_and_bakes_in_only_the_dags() -> None:
    """The pinned requirements, then the franz-ivan distribution built from the files its build reads;
    of the source tree only ``dags/`` goes to ``/opt/airflow``. The package is found as an installed
    distribution, never through ``PYTHONPATH`` or a copy in the plugins folder."""
    runs = dockerfile_instructions("RUN")
    requirements = next(i for i, run in enumerate(runs) if "-r /tmp/franz-ivan/requirements.txt" in run)
    install = next(i for i, run in enumerate(runs) if "pip install --no-cache-dir --no-deps ." in run)
    assert requirements < install, "the distribution is installed on top of the pinned requirements"
    build = PurePosixPath(re.search(r"\bcd (\S+) &&", runs[install])[1])  # type: ignore[index]
    copies = dockerfile_copies()
    into_build = {source.rstrip("/") for source, dest in copies if dest in {build, build / source}}
    assert into_build == set(DISTRIBUTION_BUILD_FILES), f"{build} gets {sorted(into_build)}"
    into_airflow = {(source, dest) for source, dest in copies if dest.is_relative_to("/opt/airflow")}
    assert into_airflow == {("dags/", PurePosixPath("/opt/airflow/dags"))}


def test_the_build_folder_of_the_image_builds_the_distribution(tmp_path: Path) -> None:
    """What the Dockerfile copies to its build folder, built as its ``pip install .`` builds it: one
    package ``franz_ivan`` with the SQL as package data, the provider and the UI plugin as entry points.

    The build backend comes from PyPI (or pip's cache), as in the image.
    """
    build = tmp_path / "build"
    build.mkdir()
    for source in DISTRIBUTION_BUILD_FILES:
        if (ROOT / source).is_dir():
            # What .dockerignore keeps out of the image's build context.
            ignored = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
            shutil.copytree(ROOT / source, build / source, ignore=ignored)
        else:
            shutil.copy(ROOT / source, build / source)
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(tmp_path), str(build)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (wheel,) = tmp_path.glob("franz_ivan-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        groups = configparser.ConfigParser()
        groups.read_string(archive.read(entry_points).decode())
        shipped_sql = {
            name.rpartition("/")[2]: archive.read(name)
            for name in names
            if name.startswith("franz_ivan/sql/") and name.endswith(".sql")
        }
    assert {name.split("/")[0] for name in names if ".dist-info/" not in name} == {"franz_ivan"}
    assert {"franz_ivan/__init__.py", "franz_ivan/settings.py", "franz_ivan/ui/__init__.py"} <= names
    sql_files = sorted((ROOT / "include" / "sql").glob("*.sql"))
    assert shipped_sql == {path.name: path.read_bytes() for path in sql_files}, "the SQL is package data"
    assert {"apache_airflow_provider", "airflow.plugins"} <= set(groups.sections())
    for group in ("apache_airflow_provider", "airflow.plugins"):
        for target in groups[group].values():
            module = target.partition(":")[0].replace(".", "/")
            assert {f"{module}.py", f"{module}/__init__.py"} & names, f"{group} names {target}, not shipped"


def test_airflow_services_mount_the_dags_only_of_the_project(compose_local: dict[str, Any]) -> None:
    """A mounted ``plugins/`` or ``include/`` would be a second franz_ivan beside the installed one."""
    for name in AIRFLOW_SERVICES:
        mounts = bind_mounts(compose_local["services"][name])
        project = {target: source for target, source in mounts.items() if source.is_relative_to(ROOT)}
        assert project == {PurePosixPath("/opt/airflow/dags"): ROOT / "dags"}, f"{name} mounts {project}"


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
        env=dict(os.environ),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    answers = json.loads(completed.stdout)
    assert set(answers) == {market.key for market in parse_markets(markets)}
    assert all(Decimal(price) > 0 for price, _ in answers.values())
    assert any(has_allowance for _, has_allowance in answers.values()), "the allowance panel gets data"
