"""What franz-ivan adds to Airflow, as its ProvidersManager reads it (the ``apache_airflow_provider``
entry point of the ``franz-ivan`` distribution).

Names only, as strings: Airflow imports a hook, trigger or plugin when it is used, and the forms of
the two connection types are drawn from ``conn-fields`` and ``ui-field-behaviour`` without importing
a hook. Every PEM and key is a password field (``"format": "password"``): masked in the form, and
marked sensitive. ``tests/unit/test_provider_info.py`` holds this to the hooks' own names and to
Airflow's provider-info schema.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any, Final

from franz_ivan.hooks.checks import CONNECTION_TYPE as POSTGRES_CONNECTION_TYPE

KAFKA_CONNECTION_TYPE: Final = "franz_ivan_kafka"
INTEGRATION: Final = "franz-ivan"


def _text(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _secret(label: str, description: str) -> dict[str, Any]:
    return _text(label, description, format="password")


def get_provider_info() -> dict[str, Any]:
    """The provider's metadata: connection types with their forms, hooks, triggers, notifier, UI plugin."""
    return {
        "package-name": "franz-ivan",
        "name": "franz-ivan",
        "description": "Crypto prices from market-data APIs, through Kafka, into PostgreSQL, exactly once.",
        "versions": [version("franz-ivan")],
        "integrations": [{"integration-name": INTEGRATION, "tags": ["software"]}],
        "connection-types": [
            {
                "connection-type": KAFKA_CONNECTION_TYPE,
                "hook-class-name": "franz_ivan.hooks.kafka.PricesKafkaHook",
                "hook-name": "Apache Kafka (franz-ivan)",
                "conn-fields": {
                    "security_protocol": _text(
                        "Security protocol",
                        "librdkafka's security.protocol; Aiven's mutual TLS is SSL",
                        enum=["PLAINTEXT", "SSL", "SASL_SSL", "SASL_PLAINTEXT"],
                    ),
                    "ssl_ca_pem": _secret("CA certificate (PEM)", "Aiven: the service's ca.pem"),
                    "ssl_certificate_pem": _secret("Client certificate (PEM)", "Aiven: service.cert"),
                    "ssl_key_pem": _secret("Client key (PEM)", "Aiven: service.key"),
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "password", "port"],
                    "relabeling": {"host": "Bootstrap servers", "extra": "Other librdkafka settings"},
                    "placeholders": {
                        "host": "kafka-project.aivencloud.com:12345",
                        "extra": '{"client.id": "crypto-prices"}',
                    },
                },
            },
            {
                "connection-type": POSTGRES_CONNECTION_TYPE,
                "hook-class-name": "franz_ivan.hooks.postgres.PricesPostgresHook",
                "hook-name": "PostgreSQL (TLS PEMs inline)",
                "conn-fields": {
                    "sslmode": _text(
                        "SSL mode",
                        "libpq's sslmode; with a CA and no mode, verify-full",
                        enum=["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
                    ),
                    "sslrootcert_pem": _secret("CA certificate (PEM)", "Aiven: the service's ca.pem"),
                    "sslcert_pem": _secret("Client certificate (PEM)", "only if the server asks for one"),
                    "sslkey_pem": _secret("Client key (PEM)", "the key of the client certificate"),
                },
                "ui-field-behaviour": {
                    "relabeling": {"schema": "Database"},
                    "placeholders": {
                        "host": "pg-project.aivencloud.com",
                        "port": "5432",
                        "schema": "crypto_prices",
                        "extra": '{"connect_timeout": 10}',
                    },
                },
            },
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["franz_ivan.hooks.kafka", "franz_ivan.hooks.postgres"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["franz_ivan.operators", "franz_ivan.quality.operators"],
            }
        ],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["franz_ivan.triggers"]}],
        "sensors": [{"integration-name": INTEGRATION, "python-modules": ["franz_ivan.sensors"]}],
        "notifications": ["franz_ivan.notifications.WebhookNotifier"],
        "plugins": [
            {"name": "crypto_prices_ui", "plugin-class": "franz_ivan.ui.plugin.CryptoPricesUiPlugin"}
        ],
    }
