"""The official Airflow chart's values and the Secret templates they name.

Without a cluster or the chart's templates here, the values are checked against the chart's own
values.schema.json (the check ``helm install`` runs first) and against what the pipeline needs.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
import yaml
from airflow.sdk import Connection

from franz_ivan.hooks.postgres import PricesPostgresHook
from franz_ivan.markets import parse_markets
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID
from tests.deploy.deploy_files import DOCKERFILE, HELM_VALUES, K8S_SECRETS, SEED_MARKETS_ENV, schema

pytestmark = pytest.mark.deploy

PLACEHOLDER = re.compile(r"<([A-Z][A-Z0-9_]*)>")
EXAMPLES = {"PORT": "24947", "PEM": "-----BEGIN CERTIFICATE-----\\nMIIC\\n-----END CERTIFICATE-----\\n"}
"""What a placeholder is replaced with to check a template: ports by a number, PEMs by a PEM."""


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(HELM_VALUES.read_text())
    return loaded


@pytest.fixture(scope="module")
def secrets() -> dict[str, dict[str, str]]:
    """Every Secret template under deploy/k8s: name to its stringData."""
    found = {}
    for path in K8S_SECRETS:
        for document in yaml.safe_load_all(path.read_text()):
            assert (document["apiVersion"], document["kind"]) == ("v1", "Secret"), path.name
            assert set(document) == {"apiVersion", "kind", "metadata", "type", "stringData"}, path.name
            found[document["metadata"]["name"]] = document["stringData"]
    return found


def filled_in(template: str) -> str:
    """``template`` with each placeholder replaced by an example of its kind."""

    def example(match: re.Match[str]) -> str:
        kind = match.group(1).rsplit("_", 1)[-1]
        return EXAMPLES.get(kind, match.group(1).lower().replace("_", "-"))

    return PLACEHOLDER.sub(example, template)


def env_value(values: dict[str, Any], name: str) -> str:
    (value,) = [item["value"] for item in values["env"] if item["name"] == name]
    return str(value)


def test_values_validate_against_the_chart_schema(values: dict[str, Any]) -> None:
    errors = list(jsonschema.Draft7Validator(schema("airflow-chart-values.schema.json")).iter_errors(values))
    assert not errors, [f"{list(error.absolute_path)}: {error.message}" for error in errors]


def test_values_run_the_image_with_the_dags_baked_in(values: dict[str, Any]) -> None:
    base = re.search(r"^FROM apache/airflow:([\d.]+)-", DOCKERFILE.read_text(), re.MULTILINE)
    assert base
    assert values["airflowVersion"] == values["defaultAirflowTag"] == base.group(1)
    image = values["images"]["airflow"]
    assert image["repository"]
    assert image["tag"]
    assert "digest" not in image
    assert not values["dags"]["gitSync"]["enabled"]
    assert not values["dags"]["persistence"]["enabled"]
    assert values["triggerer"]["enabled"]
    assert values["triggerer"]["replicas"] >= 1
    assert values["dagProcessor"]["enabled"]
    assert values["executor"] in {"LocalExecutor", "CeleryExecutor", "KubernetesExecutor"}


def test_values_provide_every_setting_the_dags_read(
    values: dict[str, Any], secrets: dict[str, dict[str, str]]
) -> None:
    env_from = yaml.safe_load(values["extraEnvFrom"])
    env_from_schema = schema("airflow-chart-values.schema.json")
    validator = jsonschema.Draft7Validator(
        {
            **env_from_schema,
            "type": "array",
            "items": {"$ref": "#/definitions/io.k8s.api.core.v1.EnvFromSource"},
        }
    )
    assert not list(validator.iter_errors(env_from)), "extraEnvFrom is not a list of EnvFromSource"
    provided: dict[str, str] = {}
    for source in env_from:
        provided.update(secrets[source["secretRef"]["name"]])

    kafka = Connection.from_json(filled_in(provided[f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}"]), conn_id="k")
    assert kafka.conn_type == "kafka"
    assert kafka.extra_dejson["bootstrap.servers"] == "kafka-host:24947"
    assert kafka.extra_dejson["security.protocol"] == "SSL"
    postgres = Connection.from_json(
        filled_in(provided[f"AIRFLOW_CONN_{POSTGRES_CONN_ID.upper()}"]), conn_id="p"
    )
    assert PricesPostgresHook.for_connection(postgres).connect_kwargs()["dbname"] == "crypto_prices"
    assert PricesPostgresHook.for_connection(postgres).connect_kwargs()["sslmode"] == "verify-full"

    seed = {item["name"]: item["value"] for item in values["migrateDatabaseJob"]["env"]}
    assert parse_markets(seed[SEED_MARKETS_ENV]), "the migration job seeds the markets Variable"
    assert env_value(values, "CRYPTO_PRICES_TOPIC") == "crypto_prices"
    assert int(env_value(values, "CRYPTO_PRICES_TOPIC_PARTITIONS")) > 0
    core = values["config"]["core"]
    assert core["dags_are_paused_at_creation"] == "False"
    assert {"pem", "sslkey"} <= set(core["sensitive_var_conn_names"].split(","))


def test_values_name_secrets_that_the_templates_define(
    values: dict[str, Any], secrets: dict[str, dict[str, str]]
) -> None:
    # The key each secret must hold is the one the chart reads (its templates/secrets/*.yaml).
    expected = {
        values["data"]["metadataSecretName"]: "connection",
        values["fernetKeySecretName"]: "fernet-key",
        values["jwtSecretName"]: "jwt-secret",
        values["apiSecretKeySecretName"]: "api-secret-key",
    }
    assert not values["postgresql"]["enabled"], "the metadata database is external"
    for name, key in expected.items():
        assert key in secrets.get(name, {}), f"Secret {name} with key {key!r} is not in deploy/k8s/"
    metadata = filled_in(secrets[values["data"]["metadataSecretName"]]["connection"])
    assert re.fullmatch(r"postgresql://[^:]+:[^@]+@[^:/]+:\d+/airflow\?sslmode=\w[\w-]*", metadata), metadata


def test_secret_templates_hold_placeholders_only(secrets: dict[str, dict[str, str]]) -> None:
    credential = re.compile(r'"password":\s*"(?P<json>[^"]*)"|//(?P<user>[^:/@]+):(?P<url>[^@]+)@')
    for name, data in secrets.items():
        for key, value in data.items():
            assert PLACEHOLDER.search(value), f"Secret {name}.{key} has no <PLACEHOLDER>: is it filled in?"
            assert "-----BEGIN" not in value, f"Secret {name}.{key} holds a real PEM"
            for match in credential.finditer(value):
                secret = match["json"] if match["json"] is not None else match["url"]
                assert PLACEHOLDER.fullmatch(secret), f"Secret {name}.{key} holds a password: {secret!r}"
