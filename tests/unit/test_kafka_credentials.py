"""A Kafka connection whose TLS settings are malformed is refused before any client is built,
naming the setting and never its value (the TLS handshakes themselves: tests/tls/test_kafka_tls.py)."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.tls import CertificateAuthority, Credentials
from franz_ivan.hooks.checks import CredentialsError
from franz_ivan.hooks.kafka import PricesKafkaHook
from tests.helpers import use_kafka_connection


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"ssl.key.pem": None}, "has a client certificate but no ssl.key.pem"),
        ({"ssl.certificate.pem": None}, "has a client key but no ssl.certificate.pem"),
        ({"ssl.key.pem": "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49"}, "'ssl.key.pem' of connection"),
        (
            {"ssl.ca.pem": "not a certificate"},
            "'ssl.ca.pem' of connection 'crypto_prices_kafka' is not a PEM",
        ),
        ({"ssl.key.pem": "ESCAPED"}, "literal '\\n' escapes"),
    ],
)
def test_a_malformed_connection_is_refused_naming_the_setting_not_its_value(
    change: dict[str, str | None],
    complaint: str,
    monkeypatch: pytest.MonkeyPatch,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
) -> None:
    extra: dict[str, Any] = {
        "bootstrap.servers": "kafka.example.com:9093",
        "security.protocol": "SSL",
        "ssl.ca.pem": test_ca.certificate_pem,
        "ssl.certificate.pem": client_credentials.certificate_pem,
        "ssl.key.pem": client_credentials.key_pem,
    }
    for setting, value in change.items():
        if value is None:
            del extra[setting]
        elif value == "ESCAPED":
            extra[setting] = extra[setting].replace("\n", "\\n")
        else:
            extra[setting] = value
    use_kafka_connection(monkeypatch, extra)

    with pytest.raises(CredentialsError) as raised:
        PricesKafkaHook().config()

    assert complaint in str(raised.value)
    assert "MIGHAgEAMBMG" not in str(raised.value)


def test_test_connection_names_a_malformed_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    use_kafka_connection(monkeypatch, {"security.protocol": "SSL"})

    assert PricesKafkaHook().test_connection() == (
        False,
        "Kafka connection 'crypto_prices_kafka' has no 'bootstrap.servers' in its extra "
        '(expected e.g. {"bootstrap.servers": "kafka.example.com:9092"}, or the host field of a '
        "franz_ivan_kafka one)",
    )
