"""Safe by default: compose listens on 127.0.0.1 unless told otherwise, Grafana has no default
admin password and no anonymous access outside the local stack, and Aiven mode refuses to start on
a missing or default credential. Checked on the model Docker Compose itself resolves."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.deploy_files import AIVEN_ENV, AIVEN_OVERRIDE, COMPOSE_FILE, ComposeError, compose_config

pytestmark = pytest.mark.deploy

PUBLISHED = {"airflow-apiserver": 8080, "grafana": 3000}
CREDENTIALS = (
    "_AIRFLOW_WWW_USER_PASSWORD",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "FERNET_KEY",
    "GRAFANA_ADMIN_PASSWORD",
    "GRAFANA_DB_PASSWORD",
)


def env_file(tmp_path: Path, values: dict[str, str]) -> Path:
    path = tmp_path / "test.env"
    path.write_text("".join(f"{name}='{value}'\n" for name, value in values.items()))
    return path


def host_ips(model: dict[str, Any]) -> dict[str, set[str]]:
    return {
        name: {port.get("host_ip", "0.0.0.0") for port in model["services"][name].get("ports", [])}
        for name in PUBLISHED
    }


def test_every_published_port_listens_on_loopback_unless_opted_in(
    compose_local: dict[str, Any], compose_aiven: dict[str, Any], tmp_path: Path
) -> None:
    for model in (compose_local, compose_aiven):
        published = [
            (name, port.get("host_ip"))
            for name, service in model["services"].items()
            for port in service.get("ports", [])
        ]
        assert published, "nothing is published"
        assert {ip for _, ip in published} == {"127.0.0.1"}, published
    opened = compose_config(COMPOSE_FILE, env_file=env_file(tmp_path, {"FRANZ_IVAN_BIND": "0.0.0.0"}))
    assert host_ips(opened) == {name: {"0.0.0.0"} for name in PUBLISHED}


def grafana_admin_password(service: dict[str, Any], given: str | None) -> str:
    """What Grafana's entrypoint script exports as its admin password (``/run.sh`` replaced by a print)."""
    # Compose passes "$$" on to the container as "$".
    script = service["entrypoint"][2].replace("$$", "$")
    script = script.replace("exec /run.sh", 'printf %s "$GF_SECURITY_ADMIN_PASSWORD"')
    env = {"PATH": os.environ["PATH"], **({"GRAFANA_ADMIN_PASSWORD": given} if given is not None else {})}
    completed = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, check=True)
    return completed.stdout


def test_grafana_has_no_default_admin_password(compose_local: dict[str, Any]) -> None:
    grafana = compose_local["services"]["grafana"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana["environment"]
    assert grafana["entrypoint"][:2] == ["sh", "-c"]
    unset = {grafana_admin_password(grafana, None) for _ in range(2)}
    assert len(unset) == 2, "the same password twice: not random"
    assert all(len(password) >= 24 and password not in {"admin", ""} for password in unset)
    assert grafana_admin_password(grafana, "") not in {"admin", ""}
    assert grafana_admin_password(grafana, "chosen") == "chosen"


def test_grafana_is_anonymous_only_in_the_local_stack(
    compose_local: dict[str, Any], compose_aiven: dict[str, Any]
) -> None:
    assert compose_local["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert compose_local["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert compose_aiven["services"]["grafana"]["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


@pytest.mark.parametrize("missing", CREDENTIALS)
def test_aiven_mode_needs_every_credential(missing: str, tmp_path: Path) -> None:
    values = {name: value for name, value in AIVEN_ENV.items() if name != missing}
    with pytest.raises(ComposeError, match=f"set {missing} in aiven.env"):
        compose_config(COMPOSE_FILE, AIVEN_OVERRIDE, env_file=env_file(tmp_path, values))


def run_check(compose_aiven: dict[str, Any], **replaced: str) -> subprocess.CompletedProcess[str]:
    """The credentials-check service's script with its resolved environment (``replaced`` changed)."""
    service = compose_aiven["services"]["credentials-check"]
    environment = {**service["environment"], **replaced}
    return subprocess.run(
        [*service["entrypoint"], service["command"][0].replace("$$", "$")],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "default"),
    [
        ("_AIRFLOW_WWW_USER_PASSWORD", "airflow"),
        ("AIRFLOW__API_AUTH__JWT_SECRET", "franz-ivan-local-jwt-secret"),
        ("GRAFANA_ADMIN_PASSWORD", "admin"),
        ("GRAFANA_DB_PASSWORD", "grafana"),
    ],
)
def test_aiven_mode_refuses_a_default_credential_before_anything_starts(
    compose_aiven: dict[str, Any], name: str, default: str
) -> None:
    assert run_check(compose_aiven).returncode == 0, "the check refuses real credentials"
    refused = run_check(compose_aiven, **{name: default})
    assert refused.returncode != 0
    assert f"Aiven mode: {name} is empty or a default" in refused.stderr
    services = compose_aiven["services"]
    for waiting in ("airflow-init", "grafana"):
        condition = services[waiting]["depends_on"]["credentials-check"]["condition"]
        assert condition == "service_completed_successfully", waiting
    for name_, service in services.items():
        if name_.startswith("airflow-") and name_ not in {"airflow-init", "airflow-cli"}:
            assert "airflow-init" in service["depends_on"], f"{name_} would start without the check"
