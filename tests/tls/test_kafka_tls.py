"""Kafka over mutual TLS: the connection's PEMs (inline or as files) against a terminator that
requires client certificates, and what a user sees when a credential is wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from devtools.tls import CertificateAuthority, Credentials, TlsBroker, kafka_tls_extra
from franz_ivan.clients import CredentialsError, kafka_config
from franz_ivan.events import Market, PriceEvent, event_id_for
from franz_ivan.hooks.kafka import PricesKafkaHook, PricesProducerHook
from franz_ivan.kafka_topics import DrainError, consumer_settings, partition_ids
from franz_ivan.publish import PublishError, ensure_topic, publish

pytestmark = [pytest.mark.tls, pytest.mark.integration]

QUICK = 4.0
"""Seconds a failing call waits for the broker: the handshake fails at once, the call at its timeout."""


def use_kafka_connection(monkeypatch: pytest.MonkeyPatch, extra: dict[str, Any]) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_CRYPTO_PRICES_KAFKA", json.dumps({"conn_type": "kafka", "extra": extra}))


def price_event(topic: str) -> tuple[str, PriceEvent]:
    market = Market("cryptowatch", "coinbase-pro", "btcusd")
    event = PriceEvent(event_id_for(topic, "price"), market, datetime.now(UTC), Decimal("24063.4"))
    return market.key, event


def topics_seen_with(config: dict[str, Any]) -> set[str]:
    admin = AdminClient(config)
    return set(admin.list_topics(timeout=10).topics)


def read_back(config: dict[str, Any], topic: str) -> list[bytes]:
    """The values of ``topic``'s messages, read through the same TLS connection."""
    consumer = Consumer({**config, **consumer_settings(f"tls-test-{topic}")})
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        messages = consumer.consume(num_messages=1, timeout=10)
    finally:
        consumer.close()
    return [message.value() or b"" for message in messages if message.error() is None]


def test_inline_pems_publish_and_read_back(
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
    topic: str,
) -> None:
    use_kafka_connection(
        monkeypatch, kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
    )
    config = kafka_config()

    ensure_topic(config, topic, 1, timeout=10)
    publish(config, topic, [price_event(topic)], timeout=10)

    [value] = read_back(config, topic)
    assert json.loads(value)["price"] == "24063.4"


def test_file_path_settings_work_too(
    *,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
    topic: str,
) -> None:
    files = {
        "ssl.ca.location": test_ca.certificate_pem,
        "ssl.certificate.location": client_credentials.certificate_pem,
        "ssl.key.location": client_credentials.key_pem,
    }
    for setting, text in files.items():
        (tmp_path / setting).write_text(text)
    use_kafka_connection(
        monkeypatch,
        {
            "bootstrap.servers": kafka_tls.endpoint.address,
            "security.protocol": "SSL",
            **{setting: str(tmp_path / setting) for setting in files},
        },
    )

    ensure_topic(kafka_config(), topic, 1, timeout=10)

    assert topic in topics_seen_with(kafka_config())


def bad_credentials(
    case: str, test_ca: CertificateAuthority, other_ca: CertificateAuthority, client: Credentials
) -> tuple[str, Credentials | None]:
    """(CA the client trusts, client certificate) for each way of getting them wrong."""
    return {
        "wrong CA": (other_ca.certificate_pem, client),
        "no client certificate": (test_ca.certificate_pem, None),
        "expired client certificate": (test_ca.certificate_pem, test_ca.issue("airflow", expired=True)),
        "client certificate of another CA": (test_ca.certificate_pem, other_ca.issue("airflow")),
    }[case]


EXPECTED_HINTS = {
    "wrong CA": "the broker's certificate did not verify: ssl.ca.pem is not the CA that signed it",
    "no client certificate": "the broker requires a client certificate: set ssl.certificate.pem",
    "expired client certificate": "the broker rejected the client certificate as expired",
    "client certificate of another CA": "the broker does not trust the client certificate",
}


@pytest.mark.parametrize("case", sorted(EXPECTED_HINTS))
def test_a_wrong_credential_fails_clearly_and_creates_nothing(
    *,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    client_credentials: Credentials,
    topic: str,
) -> None:
    ca_pem, client = bad_credentials(case, test_ca, other_ca, client_credentials)
    use_kafka_connection(monkeypatch, kafka_tls_extra(kafka_tls.endpoint, ca_pem, client))

    with pytest.raises(PublishError) as raised:
        ensure_topic(kafka_config(), topic, 1, timeout=QUICK)

    message = str(raised.value)
    assert f"Kafka at {kafka_tls.endpoint.address} did not answer" in message
    assert f"TLS failed, {EXPECTED_HINTS[case]}" in message
    assert "PRIVATE KEY" not in message
    assert "BEGIN CERTIFICATE" not in message
    good = kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
    assert topic not in topics_seen_with(good)


def test_the_consumer_side_names_the_tls_failure_too(
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    topic: str,
) -> None:
    use_kafka_connection(monkeypatch, kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, None))
    monkeypatch.setattr("franz_ivan.kafka_topics.METADATA_TIMEOUT_SECONDS", QUICK)
    consumer = Consumer(kafka_config(**consumer_settings("tls-test")))
    try:
        with pytest.raises(DrainError, match="TLS failed, the broker requires a client certificate"):
            partition_ids(consumer, topic)
    finally:
        consumer.close()


def test_a_host_name_missing_from_the_broker_certificate_fails(
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
    topic: str,
) -> None:
    """The terminator's certificate names ``localhost`` only; ``127.0.0.1`` must not be accepted."""
    extra = kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
    use_kafka_connection(monkeypatch, {**extra, "bootstrap.servers": f"127.0.0.1:{kafka_tls.endpoint.port}"})

    with pytest.raises(PublishError, match="not a name in the certificate"):
        ensure_topic(kafka_config(), topic, 1, timeout=QUICK)


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
        kafka_config()

    assert complaint in str(raised.value)
    assert "MIGHAgEAMBMG" not in str(raised.value)


@pytest.mark.parametrize("form", ["inline", "file paths"])
def test_test_connection_succeeds_on_a_good_connection(
    *,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    client_credentials: Credentials,
) -> None:
    extra = kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
    if form == "file paths":
        for setting in ("ssl.ca", "ssl.certificate", "ssl.key"):
            (tmp_path / setting).write_text(extra.pop(f"{setting}.pem"))
            extra[f"{setting}.location"] = str(tmp_path / setting)
    use_kafka_connection(monkeypatch, extra)

    ok, message = PricesProducerHook(delivery_timeout=QUICK).test_connection()

    assert (ok, message.split(": ")[0]) == (True, f"Kafka at {kafka_tls.endpoint.address} answered")


TEST_CONNECTION_CASES = {
    **EXPECTED_HINTS,
    "wrong host name": "the broker's certificate did not verify: ssl.ca.pem is not the CA that signed it "
    "(Aiven: the project's ca.pem), or the host in bootstrap.servers is not a name in the certificate",
}


@pytest.mark.parametrize("case", sorted(TEST_CONNECTION_CASES))
def test_test_connection_names_each_tls_problem(
    *,
    case: str,
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    client_credentials: Credentials,
) -> None:
    if case == "wrong host name":
        extra = kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)
        extra["bootstrap.servers"] = f"127.0.0.1:{kafka_tls.endpoint.port}"
    else:
        ca_pem, client = bad_credentials(case, test_ca, other_ca, client_credentials)
        extra = kafka_tls_extra(kafka_tls.endpoint, ca_pem, client)
    use_kafka_connection(monkeypatch, extra)
    monkeypatch.setattr("franz_ivan.hooks.kafka.TEST_TIMEOUT_SECONDS", QUICK)

    ok, message = PricesKafkaHook().test_connection()

    assert not ok
    assert f"did not answer within {QUICK:g} s" in message
    assert f"TLS failed, {TEST_CONNECTION_CASES[case]}" in message
    assert "PRIVATE KEY" not in message
    assert "BEGIN CERTIFICATE" not in message


def test_test_connection_names_a_malformed_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    use_kafka_connection(monkeypatch, {"security.protocol": "SSL"})

    assert PricesKafkaHook().test_connection() == (
        False,
        "Kafka connection 'crypto_prices_kafka' has no 'bootstrap.servers' in its extra "
        '(expected e.g. {"bootstrap.servers": "kafka.example.com:9092"})',
    )
