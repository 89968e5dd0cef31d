"""Fixtures of the deployment tests: the compose model as Docker Compose resolves it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_files import AIVEN_ENV, AIVEN_OVERRIDE, COMPOSE_FILE, DASHBOARDS, compose_config


@pytest.fixture(scope="session")
def compose_local() -> dict[str, Any]:
    return compose_config(COMPOSE_FILE)


@pytest.fixture(scope="session")
def aiven_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("aiven") / "aiven.env"
    path.write_text("".join(f"{name}='{value}'\n" for name, value in AIVEN_ENV.items()))
    return path


@pytest.fixture(scope="session")
def compose_aiven(aiven_env_file: Path) -> dict[str, Any]:
    return compose_config(COMPOSE_FILE, AIVEN_OVERRIDE, env_file=aiven_env_file)


@pytest.fixture(scope="session")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DASHBOARDS / "crypto_prices.json").read_text())
    return loaded
