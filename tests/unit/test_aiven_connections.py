"""``python -m devtools.aiven_connections``: Aiven's files and URIs in, Airflow connections out."""

from __future__ import annotations

import json
import shlex
import stat
from pathlib import Path
from typing import Any

import pytest

from devtools.aiven_connections import main
from devtools.tls import CertificateAuthority, Credentials, write_aiven_files

PASSWORD = "p@ss:w/rd%Aiven-9c2f"
POSTGRES_URI = (
    "postgres://avnadmin:p%40ss%3Aw%2Frd%25Aiven-9c2f@pg-1.aivencloud.com:12691/defaultdb?sslmode=require"
)


@pytest.fixture
def aiven(tmp_path: Path, test_ca: CertificateAuthority, client_credentials: Credentials) -> dict[str, Path]:
    return write_aiven_files(tmp_path / "aiven", test_ca.certificate_pem, client_credentials)


def arguments(files: dict[str, Path], *extra: str) -> list[str]:
    return [
        *("--kafka-uri", "kafka-1.aivencloud.com:12693"),
        *("--kafka-ca", str(files["ca.pem"])),
        *("--kafka-cert", str(files["service.cert"])),
        *("--kafka-key", str(files["service.key"])),
        *("--postgres-uri", POSTGRES_URI),
        *("--postgres-ca", str(files["ca.pem"])),
        *extra,
    ]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_form_holds_both_connections_with_the_pems_inline(
    aiven: dict[str, Path],
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(arguments(aiven), capsys)

    assert code == 0
    connections = json.loads(out)
    assert connections["crypto_prices_kafka"] == {
        "conn_type": "kafka",
        "description": "Aiven Kafka, mutual TLS",
        "extra": {
            "bootstrap.servers": "kafka-1.aivencloud.com:12693",
            "security.protocol": "SSL",
            "ssl.endpoint.identification.algorithm": "https",
            "ssl.ca.pem": test_ca.certificate_pem,
            "ssl.certificate.pem": client_credentials.certificate_pem,
            "ssl.key.pem": client_credentials.key_pem,
        },
    }
    assert connections["crypto_prices_postgres"] == {
        "conn_type": "franz_ivan_postgres",
        "description": "Aiven PostgreSQL, verify-full",
        "host": "pg-1.aivencloud.com",
        "port": 12691,
        "login": "avnadmin",
        "password": PASSWORD,
        "schema": "crypto_prices",
        "extra": {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem},
    }


def test_env_form_gives_shell_lines_airflow_reads_as_json(
    aiven: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(arguments(aiven, "--format", "env", "--database", "prices"), capsys)

    assert code == 0
    variables = dict(shlex.split(line)[0].split("=", 1) for line in out.splitlines())
    assert set(variables) == {"AIRFLOW_CONN_CRYPTO_PRICES_KAFKA", "AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES"}
    postgres = json.loads(variables["AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES"])
    assert (postgres["schema"], postgres["password"]) == ("prices", PASSWORD)
    assert json.loads(variables["AIRFLOW_CONN_CRYPTO_PRICES_KAFKA"])["extra"]["ssl.key.pem"].startswith(
        "-----BEGIN PRIVATE KEY-----\n"
    )


def test_k8s_secret_form_is_a_secret_of_the_env_variables_written_privately(
    aiven: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "secret.json"

    code, out, err = run(arguments(aiven, "--format", "k8s-secret", "--output", str(output)), capsys)

    assert (code, out) == (0, "")
    assert "mode 0600" in err
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    secret: dict[str, Any] = json.loads(output.read_text())
    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "crypto-prices-connections")
    assert json.loads(secret["stringData"]["AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES"])["login"] == "avnadmin"
    assert (
        "ssl.certificate.pem" in json.loads(secret["stringData"]["AIRFLOW_CONN_CRYPTO_PRICES_KAFKA"])["extra"]
    )


def replace_file(files: dict[str, Path], name: str, text: str) -> None:
    files[name].write_text(text)


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        (
            "key of another certificate",
            "the Kafka client key '{service.key}' does not belong to the certificate",
        ),
        ("expired certificate", "the Kafka client certificate '{service.cert}' expired on"),
        (
            "certificate of another CA",
            "the Kafka client certificate '{service.cert}' is not signed by the CA",
        ),
        ("key is not PEM", "the Kafka client key '{service.key}' is not a PEM file"),
        ("missing CA file", "cannot read the Kafka CA '{ca.pem}': No such file or directory"),
        ("Kafka URI without port", "--kafka-uri 'kafka-1.aivencloud.com' is not 'host:port'"),
        ("PostgreSQL URI without password", "the PostgreSQL service URI has no user or no password"),
        ("sslmode=disable", "the PostgreSQL service URI asks for sslmode=disable; Aiven requires TLS"),
        ("Kafka CA missing", "Kafka needs --kafka-ca as well"),
    ],
)
def test_wrong_inputs_are_refused_naming_the_file_and_never_the_secret(
    *,
    case: str,
    complaint: str,
    aiven: dict[str, Path],
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = arguments(aiven)
    if case == "key of another certificate":
        replace_file(aiven, "service.key", test_ca.issue("someone else").key_pem)
    elif case == "expired certificate":
        expired = test_ca.issue("airflow", expired=True)
        replace_file(aiven, "service.cert", expired.certificate_pem)
        replace_file(aiven, "service.key", expired.key_pem)
    elif case == "certificate of another CA":
        foreign = other_ca.issue("airflow")
        replace_file(aiven, "service.cert", foreign.certificate_pem)
        replace_file(aiven, "service.key", foreign.key_pem)
    elif case == "key is not PEM":
        replace_file(aiven, "service.key", "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49 (base64 without its PEM lines)")
    elif case == "missing CA file":
        aiven["ca.pem"].unlink()
    elif case == "Kafka URI without port":
        argv[argv.index("--kafka-uri") + 1] = "kafka-1.aivencloud.com"
    elif case == "PostgreSQL URI without password":
        argv[argv.index("--postgres-uri") + 1] = "postgres://avnadmin@pg-1.aivencloud.com:12691/defaultdb"
    elif case == "sslmode=disable":
        argv[argv.index("--postgres-uri") + 1] = POSTGRES_URI.replace("require", "disable")
    else:
        del argv[argv.index("--kafka-ca") : argv.index("--kafka-ca") + 2]

    code, out, err = run(argv, capsys)

    assert (code, out) == (2, "")
    names = {"{" + name + "}": str(path) for name, path in aiven.items()}
    for placeholder, path in names.items():
        complaint = complaint.replace(placeholder, path)
    assert err.startswith(f"error: {complaint}")
    assert "MIGHAgEAMBMG" not in err
    assert PASSWORD not in err


def test_pem_location_names_the_files_on_the_workers_in_the_stock_form(
    aiven: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(arguments(aiven, "--pem-location", "/opt/airflow/secrets/aiven"), capsys)

    assert code == 0
    connections = json.loads(out)
    assert {
        key: value for key, value in connections["crypto_prices_kafka"]["extra"].items() if "ssl." in key
    } == {
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": "/opt/airflow/secrets/aiven/ca.pem",
        "ssl.certificate.location": "/opt/airflow/secrets/aiven/service.cert",
        "ssl.key.location": "/opt/airflow/secrets/aiven/service.key",
    }
    postgres = connections["crypto_prices_postgres"]
    assert (postgres["conn_type"], postgres["extra"]) == (
        "postgres",
        {"sslmode": "verify-full", "sslrootcert": "/opt/airflow/secrets/aiven/ca.pem"},
    )
    assert "BEGIN" not in out


def test_convert_moves_inline_pems_to_the_new_type_and_leaves_the_rest(
    tmp_path: Path, test_ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    """``airflow connections export`` writes the extra as a JSON string; both forms are read."""
    old = {
        "crypto_prices_postgres": {
            "conn_type": "postgres",
            "host": "pg-1.aivencloud.com",
            "extra": json.dumps({"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem}),
        },
        "crypto_prices_kafka": {"conn_type": "kafka", "extra": {"bootstrap.servers": "k:1"}},
        "local": {"conn_type": "postgres", "host": "localhost", "extra": {"sslmode": "disable"}},
    }
    (tmp_path / "old.json").write_text(json.dumps(old))

    code, out, err = run(["convert", "--input", str(tmp_path / "old.json")], capsys)

    assert code == 0
    new = json.loads(out)
    assert new["crypto_prices_postgres"] == {
        "conn_type": "franz_ivan_postgres",
        "host": "pg-1.aivencloud.com",
        "extra": {"sslmode": "verify-full", "sslrootcert_pem": test_ca.certificate_pem},
    }
    assert (new["crypto_prices_kafka"], new["local"]) == (old["crypto_prices_kafka"], old["local"])
    assert err == "crypto_prices_postgres: conn_type postgres -> franz_ivan_postgres (it holds inline PEM)\n"


def test_convert_reads_one_connection_given_its_id(
    tmp_path: Path, test_ca: CertificateAuthority, capsys: pytest.CaptureFixture[str]
) -> None:
    one = {"conn_type": "postgres", "host": "h", "extra": {"sslrootcert_pem": test_ca.certificate_pem}}
    (tmp_path / "one.json").write_text(json.dumps(one))

    assert run(["convert", "--input", str(tmp_path / "one.json")], capsys)[:2] == (2, "")
    code, out, _ = run(
        ["convert", "--input", str(tmp_path / "one.json"), "--conn-id", "pg", "--format", "env"], capsys
    )

    assert code == 0
    [line] = out.splitlines()
    name, value = shlex.split(line)[0].split("=", 1)
    assert name == "AIRFLOW_CONN_PG"
    assert json.loads(value)["conn_type"] == "franz_ivan_postgres"
