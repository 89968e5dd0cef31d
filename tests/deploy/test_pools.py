"""Every deployment sizes the consumer's pool to its worker slots minus the producer's peak.

The consumer's tasks run in the pool ``crypto_prices_drains`` (``franz_ivan.dag_defaults``); its
slots leave the producer's six tasks free whatever the backlog, so a minute's producer run never
waits for a drain. Each init step creates the pool (run against a real metadata database in
``test_markets_seed.py``); here, its size against the file's own worker slots.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from franz_ivan.dag_defaults import PRODUCER_PEAK_TASKS
from tests.deploy.deploy_files import HELM_VALUES, ROOT

pytestmark = pytest.mark.deploy

POOL_SLOTS_ENV = "DRAINS_POOL_SLOTS"


def job_env(values: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in values["migrateDatabaseJob"]["env"]}


def test_compose_leaves_the_producer_its_peak(compose_local: dict[str, Any]) -> None:
    scheduler = compose_local["services"]["airflow-scheduler"]["environment"]
    init = compose_local["services"]["airflow-init"]
    slots = int(scheduler["AIRFLOW__CORE__PARALLELISM"])  # LocalExecutor: the scheduler's processes
    assert int(init["environment"][POOL_SLOTS_ENV]) == slots - PRODUCER_PEAK_TASKS >= 1
    assert f'airflow pools set crypto_prices_drains "$${POOL_SLOTS_ENV}"' in init["command"][2]


def test_helm_leaves_the_producer_its_peak() -> None:
    values = yaml.safe_load(HELM_VALUES.read_text())
    assert values["executor"] == "LocalExecutor"
    slots = int(values["config"]["core"]["parallelism"])
    assert int(job_env(values)[POOL_SLOTS_ENV]) == slots - PRODUCER_PEAK_TASKS >= 1
    script = values["migrateDatabaseJob"]["args"][2]
    assert f'airflow pools set crypto_prices_drains "${POOL_SLOTS_ENV}"' in script


def test_the_scaled_profile_leaves_the_producer_its_peak_on_the_celery_workers() -> None:
    base = yaml.safe_load(HELM_VALUES.read_text())
    scaled = yaml.safe_load((ROOT / "deploy" / "helm" / "values-scaled.yaml").read_text())
    assert scaled["executor"] == "CeleryExecutor"
    slots = int(scaled["workers"]["replicas"]) * int(scaled["config"]["celery"]["worker_concurrency"])
    env = job_env(scaled)
    assert int(env[POOL_SLOTS_ENV]) == slots - PRODUCER_PEAK_TASKS >= 1
    # Helm replaces lists: the overlay's job env must keep the markets seed of values.yaml.
    assert env.keys() == job_env(base).keys()
