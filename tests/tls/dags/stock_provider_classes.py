"""
### Stock provider classes on the pipeline's connections (tests only)

What another DAG of the user's does with the connections franz-ivan documents, using only the
providers' own classes and importing nothing of franz-ivan: the common-sql operators read and
check the prices in ``btcusd``, ``KafkaProducerHook`` delivers a message, and
``KafkaAdminClientHook`` lists the topic. The TLS tests run it with connections made by
``python -m devtools.aiven_connections`` (PEMs inline, and by file path).

Params: ``expected_price`` (the one price ``btcusd`` holds, as text) and ``topic``.
"""

from __future__ import annotations

import pendulum
from airflow.providers.common.sql.operators.sql import SQLColumnCheckOperator, SQLExecuteQueryOperator
from airflow.sdk import Param, dag, task

POSTGRES_CONN_ID = "crypto_prices_postgres"
KAFKA_CONN_ID = "crypto_prices_kafka"
KAFKA_TIMEOUT_SECONDS = 20


@dag(
    dag_id="stock_provider_classes",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["test"],
    default_args={"retries": 0},
    params={"expected_price": Param("", type="string"), "topic": Param("crypto_prices", type="string")},
)
def stock_provider_classes() -> None:
    read_btcusd = SQLExecuteQueryOperator(
        task_id="read_btcusd",
        conn_id=POSTGRES_CONN_ID,
        sql="SELECT value::text, source FROM btcusd ORDER BY observed_at",
    )
    check_btcusd = SQLColumnCheckOperator(
        task_id="check_btcusd",
        conn_id=POSTGRES_CONN_ID,
        table="btcusd",
        column_mapping={"value": {"null_check": {"equal_to": 0}, "min": {"greater_than": 0}}},
    )

    @task
    def compare(rows: list[list[str]], params: dict[str, str] | None = None) -> None:
        """Fail unless the operator read exactly the one expected price."""
        expected = (params or {})["expected_price"]
        if [row[0] for row in rows] != [expected]:
            raise ValueError(f"read {rows!r} from btcusd, expected one row with price {expected}")

    @task
    def produce(params: dict[str, str] | None = None) -> int:
        """Deliver one message with the stock producer hook; fail unless the broker acknowledged it."""
        from airflow.providers.apache.kafka.hooks.produce import KafkaProducerHook

        topic = (params or {})["topic"]
        delivered: list[int] = []
        failed: list[str] = []

        def on_delivery(error: object, message: object) -> None:
            if error is None:
                delivered.append(message.offset())  # type: ignore[attr-defined]
            else:
                failed.append(str(error))

        producer = KafkaProducerHook(kafka_config_id=KAFKA_CONN_ID).get_producer()
        producer.produce(topic, key=b"stock-hook", value=b'{"probe": true}', on_delivery=on_delivery)
        unreported = producer.flush(KAFKA_TIMEOUT_SECONDS)
        if failed or unreported or not delivered:
            raise RuntimeError(f"delivery to {topic}: failed {failed}, unreported {unreported}")
        return delivered[0]

    @task
    def list_topics(params: dict[str, str] | None = None) -> list[str]:
        """List the topics with the stock admin hook; fail unless the topic is among them."""
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        topic = (params or {})["topic"]
        topics = sorted(
            KafkaAdminClientHook(kafka_config_id=KAFKA_CONN_ID).get_conn.list_topics(timeout=20).topics
        )
        if topic not in topics:
            raise RuntimeError(f"topic {topic} is not among {topics}")
        return topics

    compare(read_btcusd.output) << check_btcusd
    produce() >> list_topics()


stock_provider_classes()
