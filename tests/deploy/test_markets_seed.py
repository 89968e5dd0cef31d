"""The markets Variable in every deployment: seeded once into the metadata database by an init step,
never pinned in the environment; and nothing found through ``PYTHONPATH``. The same init step
sizes the consumer's pool.

Airflow reads ``AIRFLOW_VAR_*`` before the metadata database, so a Variable set in a deployment
file would hide every edit made in the UI or with the CLI. The init steps (compose's
``airflow-init``, the Helm chart's migration job) run on every start or upgrade, so each stores the
markets only while the database holds no such Variable.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.local_stack import Broker, Postgres, Stack
from franz_ivan.dag_defaults import DRAINS_POOL
from franz_ivan.markets import parse_markets
from franz_ivan.settings import MARKETS_VARIABLE
from tests.deploy.deploy_files import (
    HELM_VALUES,
    ROOT,
    SEED_MARKETS_ENV,
    dockerfile_instructions,
    load_compose_yaml,
)

pytestmark = pytest.mark.deploy

NEVER_SET = (f"AIRFLOW_VAR_{MARKETS_VARIABLE.upper()}", "PYTHONPATH")
"""What no deployment file sets: the pinned markets Variable, and a path to find the package on."""
COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.y*ml"))
HELM_VALUES_FILES = sorted((ROOT / "deploy" / "helm").glob("*.y*ml"))


def mentions(node: Any, words: tuple[str, ...]) -> list[str]:
    """Every key or string value of a loaded YAML document that holds one of ``words``."""
    if isinstance(node, dict):
        return [*mentions(list(node), words), *mentions(list(node.values()), words)]
    if isinstance(node, list):
        return [found for item in node for found in mentions(item, words)]
    return [str(node)] if isinstance(node, str) and any(word in node for word in words) else []


@pytest.mark.parametrize(
    "path", [*COMPOSE_FILES, *HELM_VALUES_FILES], ids=lambda path: str(path.relative_to(ROOT))
)
def test_no_deployment_file_pins_the_markets_or_sets_pythonpath(path: Path) -> None:
    document = load_compose_yaml(path) if path in COMPOSE_FILES else yaml.safe_load(path.read_text())
    assert not mentions(document, NEVER_SET), f"{path.name} sets {mentions(document, NEVER_SET)}"


def test_the_resolved_compose_models_neither(
    compose_local: dict[str, Any], compose_aiven: dict[str, Any]
) -> None:
    for mode, model in (("local", compose_local), ("aiven", compose_aiven)):
        for name, service in model["services"].items():
            found = set(NEVER_SET) & set(service.get("environment") or {})
            assert not found, f"{mode} mode: {name} sets {found}"


def test_the_image_neither() -> None:
    for arguments in dockerfile_instructions("ENV") + dockerfile_instructions("ARG"):
        assert not any(word in arguments for word in NEVER_SET), f"Dockerfile: {arguments}"


def seed_steps(compose_local: dict[str, Any]) -> dict[str, tuple[str, dict[str, str]]]:
    """Each init step's script and the environment its file gives it, but for Airflow's own settings.

    compose's image entrypoint migrates the database before it runs the command; the Helm
    migration job's script migrates first itself.
    """
    init = compose_local["services"]["airflow-init"]
    job = yaml.safe_load(HELM_VALUES.read_text())["migrateDatabaseJob"]
    assert init["command"][:2] == job["args"][:2] == ["bash", "-c"]
    steps = {
        # Compose passes "$$" on to the container as "$".
        "compose": (init["command"][2].replace("$$", "$"), init["environment"]),
        "helm": (job["args"][2], {item["name"]: item["value"] for item in job["env"]}),
    }
    return {
        where: (script, {name: value for name, value in env.items() if not name.startswith(("AIRFLOW", "_"))})
        for where, (script, env) in steps.items()
    }


@pytest.mark.integration
@pytest.mark.parametrize("where", ["compose", "helm"])
def test_the_init_step_seeds_the_markets_once_and_keeps_an_edit(
    where: str,
    compose_local: dict[str, Any],
    migrated_airflow_home: Path,
    broker: Broker,
    tmp_path: Path,
) -> None:
    """Run the file's own init script, twice, against a migrated metadata database of its own."""
    shutil.copy(migrated_airflow_home / "airflow.db", tmp_path / "airflow.db")
    unused = Postgres("127.0.0.1", 5432, "unused", "unused")
    stack = Stack(broker, unused, "http://unused", tmp_path, pin_markets=False)
    script, file_env = seed_steps(compose_local)[where]

    def run_init_step() -> None:
        completed = subprocess.run(
            ["bash", "-c", script],
            env={**stack.airflow_env(), **file_env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    def stored() -> Any:
        return json.loads(stack.airflow("variables", "get", MARKETS_VARIABLE).stdout)

    run_init_step()
    seeded = json.loads(file_env[SEED_MARKETS_ENV])
    assert stored() == seeded
    [pool] = json.loads(stack.airflow("pools", "get", DRAINS_POOL, "--output", "json").stdout)
    assert int(pool["slots"]) == int(file_env["DRAINS_POOL_SLOTS"]) > 0, "the consumer's pool, sized"
    assert parse_markets(json.dumps(stored())), "the producer accepts what was seeded"

    edited = ["kraken:solusd"]
    stack.airflow("variables", "set", MARKETS_VARIABLE, json.dumps(edited))
    run_init_step()  # the next `docker compose up`, the next `helm upgrade`
    assert stored() == edited
