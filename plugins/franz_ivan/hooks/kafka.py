"""The project's Kafka hooks: the apache-kafka provider's hooks plus checks, TLS hints and settings.

The connection is the provider's own (conn_type ``kafka``): its extra holds the librdkafka
configuration, ``bootstrap.servers`` and for Aiven ``security.protocol=SSL`` with the three PEMs
inline (``ssl.ca.pem``, ``ssl.certificate.pem``, ``ssl.key.pem``) or as file paths
(``ssl.ca.location`` ...). The stock ``KafkaProducerHook``, ``KafkaConsumerHook`` and
``KafkaAdminClientHook`` take the same connection unchanged; these subclasses add what the
pipeline's guarantees need:

- the PEMs' shape and the certificate/key pair checked before librdkafka sees them, so a pasted-wrong
  secret fails naming the setting rather than deep inside librdkafka;
- librdkafka's ``error_cb`` (a callable, which the provider accepts only as an allow-listed dotted
  path in the extra; set here in code) collects TLS handshake failures, which librdkafka reports
  nowhere else, and :func:`kafka_trouble` turns them into a hint naming the PEM to fix;
- per client: the idempotent producer with bounded delivery (:func:`producer_settings`), the drain's
  consumer settings (:func:`consumer_settings`), and a connection test bounded in time that names the
  TLS problem.

The connection type ``franz_ivan_kafka`` is the same connection with a form (declared in
:mod:`franz_ivan.get_provider_info`): bootstrap servers in the host field, the three PEMs in password
fields, the rest of the librdkafka settings in the extra. It binds this hook to the UI's Test button.
A ``kafka`` connection keeps working unchanged (docs/connections.md says how to convert it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook
from confluent_kafka import KafkaException

from franz_ivan.hooks.checks import CredentialsError, check_kafka_extra, kafka_trouble, on_kafka_error
from franz_ivan.settings import KAFKA_CONN_ID

TEST_TIMEOUT_SECONDS = 10.0
"""How long :meth:`PricesKafkaHook.test_connection` waits for the brokers."""
CONNECTION_TYPE = "franz_ivan_kafka"
FORM_SETTINGS = {
    "security_protocol": "security.protocol",
    "ssl_ca_pem": "ssl.ca.pem",
    "ssl_certificate_pem": "ssl.certificate.pem",
    "ssl_key_pem": "ssl.key.pem",
}
"""The ``franz_ivan_kafka`` form's fields (stored in the extra) and the librdkafka setting each fills."""
PREFETCH_KBYTES = 8 * 1024
"""How much librdkafka reads ahead (its default is 64 MiB), counted in message payload: ~40,000 of the
producer's events, which with librdkafka's own ~300 bytes per message is ~20 MiB of memory. At 16 MiB a
drain reached that bound only after ~150,000 events, so its resident set still grew between a backlog
of 100,000 and one of 400,000 (BENCHMARKS.md)."""
PREFETCH_BACKOFF_MS = 50
"""How long librdkafka waits to fetch again once the read-ahead is full (its default, 1 s, left a
drain waiting for events with a small read-ahead)."""


def producer_settings(timeout: float) -> dict[str, Any]:
    """An idempotent producer (``acks=all``) that reports a message failed after ``timeout`` seconds."""
    return {
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # librdkafka gives up on a message after this and reports it failed; flush() waits a
        # little longer so that every report is in before we judge.
        "message.timeout.ms": int(timeout * 1000),
        "socket.connection.setup.timeout.ms": int(min(timeout, 10) * 1000),
    }


def consumer_settings(consumer_group: str) -> dict[str, Any]:
    """What the drain's (and the sensor's) consumer sets: no group join or auto commit, EOF events."""
    return {
        "group.id": consumer_group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "queued.max.messages.kbytes": PREFETCH_KBYTES,
        "fetch.queue.backoff.ms": PREFETCH_BACKOFF_MS,
    }


def librdkafka_settings(conn_type: str | None, host: str | None, extra: Mapping[str, Any]) -> dict[str, Any]:
    """The librdkafka configuration a connection holds: a ``kafka`` one's extra as it is; a
    ``franz_ivan_kafka`` one's extra with the host as ``bootstrap.servers`` and the form's fields
    under their librdkafka names (an empty field sets nothing)."""
    if conn_type != CONNECTION_TYPE:
        return dict(extra)
    config = {key: value for key, value in extra.items() if key not in FORM_SETTINGS}
    if host:
        config["bootstrap.servers"] = host
    for field, setting in FORM_SETTINGS.items():
        if extra.get(field):
            config[setting] = extra[field]
    return config


class PricesKafkaHook(KafkaBaseHook):
    """``KafkaBaseHook`` with the connection checked, the TLS-hint ``error_cb`` and a bounded test.

    Its client (``get_conn``, cached per hook as in the provider) is an admin client; the
    subclasses below make producers and consumers.

    :param kafka_config_id: the Airflow connection, ``crypto_prices_kafka`` by default.
    :param config: a librdkafka configuration to use instead of the connection's extra, for callers
        that hold one already (:func:`franz_ivan.publish.publish`, benchmarks without Airflow).
    """

    default_conn_name = KAFKA_CONN_ID
    conn_type = CONNECTION_TYPE
    hook_name = "Apache Kafka (franz-ivan)"

    def __init__(
        self, kafka_config_id: str = KAFKA_CONN_ID, *, config: Mapping[str, Any] | None = None
    ) -> None:
        # KafkaBaseHook's own, not the client hooks' (KafkaConsumerHook's wants topics to subscribe).
        KafkaBaseHook.__init__(self, kafka_config_id=kafka_config_id)  # type: ignore[no-untyped-call]
        self.given_config = dict(config) if config is not None else None

    def client_settings(self) -> dict[str, Any]:
        """What this kind of client sets over the connection's configuration."""
        return {}

    def _build_config(self) -> dict[str, Any]:
        if self.given_config is not None:
            base = self.given_config
        else:
            conn = self.get_connection(self.kafka_config_id)
            base = librdkafka_settings(conn.conn_type, conn.host, conn.extra_dejson)
            check_kafka_extra(self.kafka_config_id, base)
            if conn.conn_type == CONNECTION_TYPE:
                # The provider's own build reads the extra alone; the form's fields are mapped above.
                self._resolve_callbacks(base)
            else:
                base = super()._build_config()
        return {"error_cb": on_kafka_error, **base, **self.client_settings()}

    def config(self) -> dict[str, Any]:
        """The librdkafka configuration this hook builds its client from (holds the connection's secrets)."""
        return self._build_config()

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: list the topics within 10 s; on failure, what went wrong (TLS named)."""
        try:
            config = self._build_config()
        except (CredentialsError, ValueError) as error:
            return False, str(error)
        admin = PricesAdminHook(self.kafka_config_id, config=config).get_conn
        where = f"Kafka at {config.get('bootstrap.servers')}"
        try:
            metadata = admin.list_topics(timeout=TEST_TIMEOUT_SECONDS)
        except KafkaException as error:
            return (
                False,
                f"{where} did not answer within {TEST_TIMEOUT_SECONDS:g} s: {error}{kafka_trouble(admin)}",
            )
        return True, f"{where} answered: {len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"


class PricesAdminHook(PricesKafkaHook, KafkaAdminClientHook):
    """``KafkaAdminClientHook`` with :class:`PricesKafkaHook`'s additions.

    Create topics with :func:`franz_ivan.publish.ensure_topic`, which waits a bounded time, rather
    than the provider's ``create_topic``, which waits for ever on an unreachable broker.
    """


class PricesProducerHook(PricesKafkaHook, KafkaProducerHook):
    """``KafkaProducerHook`` for an idempotent producer (``acks=all``) whose every wait is bounded.

    :param kafka_config_id: the Airflow connection, ``crypto_prices_kafka`` by default.
    :param delivery_timeout: seconds librdkafka may try to deliver a message before reporting it failed.
    :param config: as for :class:`PricesKafkaHook`.
    """

    def __init__(
        self,
        kafka_config_id: str = KAFKA_CONN_ID,
        *,
        delivery_timeout: float,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(kafka_config_id, config=config)
        self.delivery_timeout = delivery_timeout

    def client_settings(self) -> dict[str, Any]:
        return producer_settings(self.delivery_timeout)


class PricesConsumerHook(PricesKafkaHook, KafkaConsumerHook):
    """``KafkaConsumerHook`` for the drain's consumer: manual offsets, ``read_committed``, EOF events.

    Its consumer is not subscribed: the drain and the trigger assign partitions themselves, from
    the positions stored in PostgreSQL.

    :param kafka_config_id: the Airflow connection, ``crypto_prices_kafka`` by default.
    :param consumer_group: the ``group.id``.
    :param config: as for :class:`PricesKafkaHook`.
    """

    def __init__(
        self,
        kafka_config_id: str = KAFKA_CONN_ID,
        *,
        consumer_group: str,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(kafka_config_id, config=config)
        self.consumer_group = consumer_group
        self.topics: list[str] = []

    def client_settings(self) -> dict[str, Any]:
        return consumer_settings(self.consumer_group)
