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
- per client: the idempotent producer with bounded delivery (:func:`franz_ivan.publish.producer_settings`),
  the drain's consumer settings (:func:`franz_ivan.kafka_topics.consumer_settings`), and a connection test
  bounded in time that names the TLS problem.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook
from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

from franz_ivan.hooks.checks import CredentialsError, check_kafka_extra, kafka_trouble, on_kafka_error
from franz_ivan.settings import KAFKA_CONN_ID

TEST_TIMEOUT_SECONDS = 10.0
"""How long :meth:`PricesKafkaHook.test_connection` waits for the brokers."""


class PricesKafkaHook(KafkaBaseHook):
    """``KafkaBaseHook`` with the connection checked, the TLS-hint ``error_cb`` and a bounded test.

    Its client (``get_conn``, cached per hook as in the provider) is an admin client; the
    subclasses below make producers and consumers.

    :param kafka_config_id: the Airflow connection, ``crypto_prices_kafka`` by default.
    :param config: a librdkafka configuration to use instead of the connection's extra, for callers
        that hold one already (:func:`franz_ivan.publish.publish`, benchmarks without Airflow).
    """

    default_conn_name = KAFKA_CONN_ID
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
            check_kafka_extra(self.kafka_config_id, self.get_connection(self.kafka_config_id).extra_dejson)
            base = super()._build_config()
        return {"error_cb": on_kafka_error, **base, **self.client_settings()}

    def config(self) -> dict[str, Any]:
        """The librdkafka configuration this hook builds its client from (holds the connection's secrets)."""
        return self._build_config()

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: list the topics within 10 s; on failure, what went wrong (TLS named)."""
        from confluent_kafka import KafkaException

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
        from franz_ivan.publish import producer_settings

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
        from franz_ivan.kafka_topics import consumer_settings

        return consumer_settings(self.consumer_group)
