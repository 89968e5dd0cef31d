"""The scaled profile (deploy/helm/values-scaled.yaml), as Helm applies it: over values.yaml."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.deploy_files import HELM_SCALED_VALUES, HELM_VALUES, schema

pytestmark = pytest.mark.deploy


def helm_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Helm's merge of ``--values`` files: maps merge key by key, anything else (lists too) is replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merged[key] = helm_merge(base[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(HELM_VALUES.read_text())
    return loaded


@pytest.fixture(scope="module")
def scaled(base: dict[str, Any]) -> dict[str, Any]:
    return helm_merge(base, yaml.safe_load(HELM_SCALED_VALUES.read_text()))


def env(values: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: str(item["value"]) for item in values["env"]}


def test_the_scaled_values_validate_against_the_chart_schema(scaled: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft7Validator(schema("airflow-chart-values.schema.json")).iter_errors(scaled))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def test_the_scaled_profile_runs_drains_on_celery_workers(scaled: dict[str, Any]) -> None:
    assert scaled["executor"] == "CeleryExecutor"
    assert scaled["redis"]["enabled"], "Celery needs a broker"
    assert scaled["workers"]["replicas"] > 1
    assert scaled["triggerer"]["enabled"], "the consumer's sensor still defers"


def test_the_workers_serve_the_queue_and_acknowledge_as_the_celery_test_ran(scaled: dict[str, Any]) -> None:
    from devtools.airflow_services import CeleryWorkers

    config = scaled["config"]
    assert config["operators"]["default_queue"] in CeleryWorkers().queues
    assert int(config["celery"]["worker_prefetch_multiplier"]) == 1
    assert config["celery"]["task_acks_late"] == "True"


def test_partitions_group_cap_and_worker_slots_fit_together(scaled: dict[str, Any]) -> None:
    settings = env(scaled)
    partitions = int(settings["CRYPTO_PRICES_TOPIC_PARTITIONS"])
    cap = int(settings["CRYPTO_PRICES_DRAIN_MAX_GROUPS"])
    slots = scaled["workers"]["replicas"] * int(scaled["config"]["celery"]["worker_concurrency"])
    assert 1 < cap <= partitions, "more groups than partitions would leave drains without a partition"
    assert cap < slots, "the producer's tasks need slots while every drain runs"
    assert slots <= int(scaled["config"]["core"]["parallelism"])
    assert int(settings["CRYPTO_PRICES_DRAIN_MIN_GROUP_EVENTS"]) > 0


def test_the_scaled_env_keeps_every_setting_of_the_base(base: dict[str, Any], scaled: dict[str, Any]) -> None:
    # Helm replaces the env list whole: a setting missing here would silently fall back to its default.
    assert set(env(base)) <= set(env(scaled))
    assert {k: v for k, v in env(scaled).items() if k in env(base) and "PARTITIONS" not in k} == {
        k: v for k, v in env(base).items() if "PARTITIONS" not in k
    }
    assert scaled["extraEnvFrom"] == base["extraEnvFrom"]
    # Only the slots differ: Celery workers' instead of the scheduler's LocalExecutor processes.
    base_core = {key: value for key, value in base["config"]["core"].items() if key != "parallelism"}
    assert set(base_core.items()) <= set(scaled["config"]["core"].items())


def test_the_schema_check_catches_a_misspelt_worker_setting(scaled: dict[str, Any]) -> None:
    misspelt = helm_merge(scaled, {"workers": {"replica": 4}})
    validator = jsonschema.Draft7Validator(schema("airflow-chart-values.schema.json"))
    assert list(validator.iter_errors(misspelt)), "the check would pass anything"
