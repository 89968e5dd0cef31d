"""Every deployment ships the metadata cleanup with the same commands and retention: compose's
``airflow-cleanup`` service (daily), the Helm chart's cleanup CronJob, and ``make up`` at start.
tests/integration/test_metadata_cleanup.py runs the Helm script on a simulated week."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from devtools.airflow_services import CLEANED_TABLES, METADATA_RETENTION_DAYS
from tests.deploy.deploy_files import HELM_VALUES

pytestmark = pytest.mark.deploy


def helm_cleanup() -> dict[str, Any]:
    cleanup: dict[str, Any] = yaml.safe_load(HELM_VALUES.read_text())["cleanup"]
    return cleanup


def test_helm_runs_db_clean_daily_with_the_retention() -> None:
    cleanup = helm_cleanup()
    assert cleanup["enabled"] is True
    assert cleanup["schedule"].split()[2:] == ["*", "*", "*"], "once a day"
    assert cleanup["command"] == ["bash", "-c"]
    [script] = cleanup["args"]
    assert f"--tables {CLEANED_TABLES} --skip-archive --yes" in script
    assert {item["name"]: item["value"] for item in cleanup["env"]} == {
        "METADATA_RETENTION_DAYS": str(METADATA_RETENTION_DAYS)
    }


def test_compose_runs_the_same_commands_every_day(
    compose_local: dict[str, Any], compose_aiven: dict[str, Any]
) -> None:
    [script] = helm_cleanup()["args"]
    for model in (compose_local, compose_aiven):
        service = model["services"]["airflow-cleanup"]
        loop = service["command"][2].replace("$$", "$")  # Compose passes "$$" on as "$"
        body = [line.strip() for line in loop.splitlines()]
        assert all(line.strip() in body for line in script.splitlines() if line.strip())
        assert "sleep 86400" in body
        assert service["environment"]["METADATA_RETENTION_DAYS"] == str(METADATA_RETENTION_DAYS)
        assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
    aiven = compose_aiven["services"]["airflow-cleanup"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "aivencloud.com" in aiven, "Aiven mode cleans Aiven's metadata database"
