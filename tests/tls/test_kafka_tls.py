"""Kafka over mutual TLS: the connection's PEMs (inline or as files) against a terminator that
requires client certificates, and what a user sees when a credential is wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from devtools.tls import CertificateAuthority, Credentials, TlsBroker, kafka_tls_extra
from franz_ivan.event_fields import event_id_for
from franz_ivan.events import Market, PriceEvent
from franz_ivan.hooks.kafka import PricesKafkaHook, PricesProducerHook, consumer_settings
from franz_ivan.kafka_topics import DrainError, partition_ids
from franz_ivan.publish import PublishError, ensure_topic, publish
from tests.helpers import use_kafka_connection

pytestmark = [pytest.mark.tls, pytest.mark.integration]

QUICK = 4.0
"""Seconds a failing call waits for the broker: the handshake fails at once, the call at its timeout."""


@pytest.fixture
def good_extra(
    kafka_tls: TlsBroker, test_ca: CertificateAuthority, client_credentials: Credentials
) -> dict[str, Any]:
    """The Kafka connection's extra for the TLS broker: the right CA and a client certificate it trusts."""
    return kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, client_credentials)


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
    monkeypatch: pytest.MonkeyPatch, good_extra: dict[str, Any], topic: str
) -> None:
    use_kafka_connection(monkeypatch, good_extra)
    config = PricesKafkaHook().config()

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

    ensure_topic(PricesKafkaHook().config(), topic, 1, timeout=10)

    assert topic in topics_seen_with(PricesKafkaHook().config())


@pytest.fixture
def bad_extra(
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    other_ca: CertificateAuthority,
    client_credentials: Credentials,
    good_extra: dict[str, Any],
) -> Callable[[str], dict[str, Any]]:
    """The Kafka connection's extra for the TLS broker, with one thing wrong: the CA, the client
    certificate, or (``wrong host name``) the broker's address, an IP its certificate does not name."""

    def for_case(case: str) -> dict[str, Any]:
        if case == "wrong host name":
            return {**good_extra, "bootstrap.servers": f"127.0.0.1:{kafka_tls.endpoint.port}"}
        ca_pem, client = {
            "wrong CA": (other_ca.certificate_pem, client_credentials),
            "no client certificate": (test_ca.certificate_pem, None),
            "expired client certificate": (test_ca.certificate_pem, test_ca.issue("airflow", expired=True)),
            "client certificate of another CA": (test_ca.certificate_pem, other_ca.issue("airflow")),
        }[case]
        return kafka_tls_extra(kafka_tls.endpoint, ca_pem, client)

    return for_case


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
    bad_extra: Callable[[str], dict[str, Any]],
    good_extra: dict[str, Any],
    topic: str,
) -> None:
    use_kafka_connection(monkeypatch, bad_extra(case))

    with pytest.raises(PublishError) as raised:
        ensure_topic(PricesKafkaHook().config(), topic, 1, timeout=QUICK)

    message = str(raised.value)
    assert f"Kafka at {kafka_tls.endpoint.address} did not answer" in message
    assert f"TLS failed, {EXPECTED_HINTS[case]}" in message
    assert "PRIVATE KEY" not in message
    assert "BEGIN CERTIFICATE" not in message
    assert topic not in topics_seen_with(good_extra)


def test_the_consumer_side_names_the_tls_failure_too(
    monkeypatch: pytest.MonkeyPatch,
    kafka_tls: TlsBroker,
    test_ca: CertificateAuthority,
    topic: str,
) -> None:
    use_kafka_connection(monkeypatch, kafka_tls_extra(kafka_tls.endpoint, test_ca.certificate_pem, None))
    monkeypatch.setattr("franz_ivan.kafka_topics.METADATA_TIMEOUT_SECONDS", QUICK)
    consumer = Consumer({**PricesKafkaHook().config(), **consumer_settings("tls-test")})
    try:
        with pytest.raises(DrainError, match="TLS failed, the broker requires a client certificate"):
            partition_ids(consumer, topic)
    finally:
        consumer.close()


def test_a_host_name_missing_from_the_broker_certificate_fails(
    monkeypatch: pytest.MonkeyPatch, bad_extra: Callable[[str], dict[str, Any]], topic: str
) -> None:
    """The terminator's certificate names ``localhost`` only; ``127.0.0.1`` must not be accepted."""
    use_kafka_connection(monkeypatch, bad_extra("wrong host name"))

    with pytest.raises(PublishError, match="not a name in the certificate"):
        ensure_topic(PricesKafkaHook().config(), topic, 1, timeout=QUICK)


@pytest.mark.parametrize("form", ["inline", "file paths"])
def test_test_connection_succeeds_on_a_good_connection(
    *,
    form: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    kafka_tls: TlsBroker,
    good_extra: dict[str, Any],
) -> None:
    extra = dict(good_extra)
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
    bad_extra: Callable[[str], dict[str, Any]],
) -> None:
    use_kafka_connection(monkeypatch, bad_extra(case))
    monkeypatch.setattr("franz_ivan.hooks.kafka.TEST_TIMEOUT_SECONDS", QUICK)

    ok, message = PricesKafkaHook().test_connection()

    assert not ok
    assert f"did not answer within {QUICK:g} s" in message
    assert f"TLS failed, {TEST_CONNECTION_CASES[case]}" in message
    assert "PRIVATE KEY" not in message
    assert "BEGIN CERTIFICATE" not in message
