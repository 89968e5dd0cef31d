"""The producer's and the consumer's working tasks as operators: they report lineage as they run.

Each one does what the TaskFlow task before it did (the logic stays in :mod:`franz_ivan.producer`
and :mod:`franz_ivan.drain_runner`) and adds what only an operator can: the Asset events through
the aliases of :mod:`franz_ivan.lineage`, named after the servers read from the connections at
run time, and the OpenLineage provider's ``get_openlineage_facets_on_start/complete/failure``
with the datasets and their row counts. The client libraries load inside ``execute``, never
while a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from franz_ivan.lineage import (
    SourceApi,
    TableRows,
    drain_lineage,
    kafka_server,
    postgres_server,
    publish_lineage,
    table_asset,
    tables_alias,
    topic_alias,
    topic_asset,
)
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID

if TYPE_CHECKING:
    from franz_ivan.drain_writer import DrainResult
    from franz_ivan.limits import DrainLimits
    from franz_ivan.lineage import Lineage

COUNTS = ("events", "prices", "allowances", "dead_letters", "duplicates")
"""The drain's counts each table's Asset event carries besides its own rows."""


def topic_server(kafka_conn_id: str) -> str:
    """The Kafka connection's first bootstrap server, read at run time (see :mod:`franz_ivan.lineage`)."""
    from franz_ivan.hooks.kafka import PricesKafkaHook

    return kafka_server(PricesKafkaHook(kafka_conn_id).config())


class PublishPricesOperator(BaseOperator):
    """Fetch one source's markets and publish their events to the topic, every delivery acknowledged.

    Updates the topic's Asset (``kafka://<bootstrap>/<topic>``) through the alias
    ``crypto_prices_topic``, which the DAG declares as its outlet, with the counts published. A
    run for a past interval (a backfill, see :func:`franz_ivan.producer.past_window`) publishes the
    interval's candles and reports the source's API as its OpenLineage input.

    :param group: ``{"source": ..., "markets": [market keys]}``, one of ``list_markets``' groups. (templated)
    :param topic: the topic published to.
    :param kafka_conn_id: the Kafka connection.
    """

    template_fields: Sequence[str] = ("group",)

    def __init__(
        self,
        *,
        group: Mapping[str, Any] | str,
        topic: str,
        kafka_conn_id: str = KAFKA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.group = group
        self.topic = topic
        self.kafka_conn_id = kafka_conn_id
        self._server: str | None = None
        self._sources: list[SourceApi] = []
        self._events: int | None = None

    def execute(self, context: Any) -> dict[str, object]:
        from franz_ivan.producer import past_window, publish_source, source_endpoint
        from franz_ivan.sources import SOURCES

        group: Mapping[str, Any] = self.group  # type: ignore[assignment]  # rendered by now
        window = past_window(context.get("data_interval_start"), context.get("data_interval_end"))
        self._server = topic_server(self.kafka_conn_id)
        if window is not None:
            base_url = source_endpoint(SOURCES[group["source"]]).base_url
            self._sources = [SourceApi(base_url, market) for market in group["markets"]]
        published = publish_source(
            group["source"],
            group["markets"],
            run_key=f"{context['dag'].dag_id}/{context['run_id']}",
            window=window,
        )
        self._events = int(published["events"])  # type: ignore[call-overload]
        context["outlet_events"][topic_alias()].add(
            topic_asset(self._server, self.topic),
            extra={key: published[key] for key in ("source", "prices", "events")},
        )
        return published

    def get_openlineage_facets_on_start(self) -> Lineage:
        return publish_lineage(topic_server(self.kafka_conn_id), self.topic)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        server = self._server or topic_server(self.kafka_conn_id)
        return publish_lineage(server, self.topic, self._events, self._sources)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Lineage:
        """What a failed run read and wrote; the events it published before failing are not counted."""
        server = self._server or topic_server(self.kafka_conn_id)
        return publish_lineage(server, self.topic, None, self._sources)


class DrainEventsOperator(BaseOperator):
    """Store every pending event of ``partitions`` (see :func:`franz_ivan.drain_runner.run_drain`).

    Reads the topic's Asset (alias ``crypto_prices_topic``, its inlet) and updates one Asset per
    table it stored rows in through the alias ``crypto_prices_tables`` (its outlet), each event
    carrying that table's rows and the drain's counts; OpenLineage gets the same tables with their
    row counts.

    :param partitions: the partitions of this drain (a mapped drain's group). (templated)
    :param topic: the topic drained.
    :param consumer_group: whose positions are stored.
    :param limits: batch size and time bounds; the settings' (``CRYPTO_PRICES_DRAIN_*``) if not given.
    :param kafka_conn_id: the Kafka connection.
    :param postgres_conn_id: the PostgreSQL connection.
    """

    template_fields: Sequence[str] = ("partitions",)

    def __init__(
        self,
        *,
        partitions: Sequence[int] | str,
        topic: str,
        consumer_group: str,
        limits: DrainLimits | None = None,
        kafka_conn_id: str = KAFKA_CONN_ID,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.partitions = partitions
        self.topic = topic
        self.consumer_group = consumer_group
        self.limits = limits
        self.kafka_conn_id = kafka_conn_id
        self.postgres_conn_id = postgres_conn_id
        self._server: str | None = None
        self._tables: list[TableRows] = []

    def _database(self) -> tuple[str, str]:
        from franz_ivan.hooks.postgres import PricesPostgresHook

        args = PricesPostgresHook(self.postgres_conn_id).connect_kwargs()
        return postgres_server(args["host"], args["port"]), str(args["dbname"])

    def execute(self, context: Any) -> dict[str, object]:
        from franz_ivan.drain_runner import run_drain
        from franz_ivan.settings import settings

        self._server = topic_server(self.kafka_conn_id)
        server, database = self._database()
        result: DrainResult = run_drain(
            self.kafka_conn_id,
            self.postgres_conn_id,
            self.topic,
            self.consumer_group,
            self.limits or settings().drain_limits(),
            partitions=[int(partition) for partition in self.partitions],
        )
        counts = result.as_dict()
        self._tables = [
            TableRows(server, database, name, rows) for name, rows in sorted(result.tables.items())
        ]
        for table in self._tables:
            context["outlet_events"][tables_alias()].add(
                table_asset(server, database, table.table),
                extra={"rows": table.rows, **{key: counts[key] for key in COUNTS}},
            )
        return counts

    def get_openlineage_facets_on_start(self) -> Lineage:
        return drain_lineage(topic_server(self.kafka_conn_id), self.topic)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        return drain_lineage(self._server or topic_server(self.kafka_conn_id), self.topic, self._tables)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Lineage:
        """The topic only: the rows of batches committed before the failure are not counted."""
        return drain_lineage(self._server or topic_server(self.kafka_conn_id), self.topic)
