"""Both masking settings reach Airflow wherever it runs: every deployment file, ``make up``,
``make demo`` and the tests.

- ``[core] sensitive_var_conn_names``: connection extras such as ``ssl.key.pem`` are masked;
- ``[logging] secret_mask_adapter``: each line of a PEM is masked on its own (a printed PEM reaches
  the task log one line at a time, past the mask of the whole block).

A new compose file or Helm values file is found by its name and must carry both as well.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.local_stack import LOG_MASK_ADAPTER, SENSITIVE_VAR_CONN_NAMES, Broker, Postgres, Stack
from tests.deploy.deploy_files import (
    AIRFLOW_SERVICES,
    AIVEN_OVERRIDE,
    COMPOSE_FILE,
    DOCKERFILE,
    ROOT,
    load_compose_yaml,
)

pytestmark = pytest.mark.deploy

MASKING = {
    "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": SENSITIVE_VAR_CONN_NAMES,
    "AIRFLOW__LOGGING__SECRET_MASK_ADAPTER": LOG_MASK_ADAPTER,
}
COMPOSE_FILES = sorted(ROOT.glob("docker-compose*.y*ml"))
HELM_VALUES_FILES = sorted((ROOT / "deploy" / "helm").glob("*.y*ml"))


def masking_of(env: dict[str, Any]) -> dict[str, Any]:
    return {name: env.get(name) for name in MASKING}


def test_the_settings_name_real_things() -> None:
    from airflow.sdk._shared.module_loading import import_string

    from franz_ivan.masking import pem_mask_variants

    assert import_string(LOG_MASK_ADAPTER) is pem_mask_variants
    assert {"pem", "sslkey"} <= set(SENSITIVE_VAR_CONN_NAMES.split(","))
    assert {COMPOSE_FILE, AIVEN_OVERRIDE} <= set(COMPOSE_FILES)
    assert HELM_VALUES_FILES


@pytest.mark.parametrize("path", COMPOSE_FILES, ids=lambda path: path.name)
def test_each_compose_file_sets_both_for_every_airflow_component(path: Path) -> None:
    """Each file states both in every Airflow service it defines (an override included)."""
    services = load_compose_yaml(path)["services"]
    airflow_services = [name for name in services if name.startswith("airflow-")]
    assert airflow_services, f"{path.name} defines no Airflow service"
    for name in airflow_services:
        env = services[name].get("environment") or {}
        assert masking_of(env) == MASKING, f"{path.name}: service {name} lacks a masking setting"


def test_compose_as_resolved_masks_in_every_airflow_component(
    compose_local: dict[str, Any], compose_aiven: dict[str, Any]
) -> None:
    for mode, model in (("local", compose_local), ("aiven", compose_aiven)):
        for name in AIRFLOW_SERVICES:
            env = model["services"][name]["environment"]
            assert masking_of(env) == MASKING, f"{mode} mode: {name} runs without a masking setting"


@pytest.mark.parametrize("path", HELM_VALUES_FILES, ids=lambda path: path.name)
def test_helm_values_set_both(path: Path) -> None:
    config = yaml.safe_load(path.read_text()).get("config") or {}
    found = {
        "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": (config.get("core") or {}).get("sensitive_var_conn_names"),
        "AIRFLOW__LOGGING__SECRET_MASK_ADAPTER": (config.get("logging") or {}).get("secret_mask_adapter"),
    }
    assert found == MASKING, f"{path.relative_to(ROOT)} lacks a masking setting under config:"


def test_the_image_sets_both() -> None:
    text = DOCKERFILE.read_text()
    for name, value in MASKING.items():
        assert re.search(rf"^\s*(ENV\s+)?{name}={re.escape(value)}\b", text, re.MULTILINE), (
            f"Dockerfile does not set {name}={value}"
        )


def test_demo_and_tests_and_make_up_set_both(tmp_path: Path) -> None:
    """``make demo`` and every test run Airflow with ``Stack.airflow_env()``; ``make up`` adds to it."""
    import subprocess

    from devtools.airflow_services import services_env

    idle = subprocess.Popen(["sleep", "0"])
    idle.wait()
    postgres = Postgres("127.0.0.1", 5432, "postgres", "unused")
    stack = Stack(Broker("tansu", idle, tmp_path / "tansu.log", 9), postgres, "http://unused", tmp_path)
    assert masking_of(stack.airflow_env()) == MASKING, "make demo / the tests"
    up = services_env(stack, 8080)
    try:
        assert masking_of(up) == MASKING, "make up"
    finally:
        from devtools.airflow_services import metadata_database
        from devtools.local_stack import drop_database, local_postgres

        database = metadata_database(tmp_path)
        drop_database(local_postgres(database), database)
