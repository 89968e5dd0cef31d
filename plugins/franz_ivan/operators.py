"""The producer's and the consumer's working tasks as operators: they report lineage as they run.

Each one does what the TaskFlow task before it did (the logic stays in :mod:`franz_ivan.producer`
and :mod:`franz_ivan.drain_runner`) and adds what only an operator can: the OpenLineage provider's
``get_openlineage_facets_on_start/complete/failure`` with the datasets and their row counts. The
client libraries load inside ``execute``, never while a DAG file is parsed.

The Asset events go through the aliases of :mod:`franz_ivan.lineage`, named after the servers read
from the connections at run time, and each DAG run sends them from one task after its mapped ones
(:class:`RecordTopicOperator`, :class:`RecordTablesOperator`), never from the mapped tasks
themselves. Airflow 3.3 makes an alias's Asset the first time an event names it, in the API
server's handling of the task's success; two task instances that name a new Asset at the same
moment both insert it, and the second one's task instance is set to *failed* by the API server
(``UniqueViolation`` on ``idx_asset_name_uri_unique``), although its work is done and stored. Two
mapped drains that finish together on a fresh deployment did exactly that (seen with the Celery
workers). One task per run, after its mapped tasks, has nobody to race.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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
"""The drains' counts each table's Asset event carries besides its own rows (summed over the run)."""
PUBLISHED_COUNTS = ("prices", "events")
"""The publish tasks' counts the topic's Asset event carries (summed over the run)."""


def topic_server(kafka_conn_id: str) -> str:
    """The Kafka connection's first bootstrap server, read at run time (see :mod:`franz_ivan.lineage`)."""
    from franz_ivan.hooks.kafka import PricesKafkaHook

    return kafka_server(PricesKafkaHook(kafka_conn_id).config())


def tables_database(postgres_conn_id: str) -> tuple[str, str]:
    """The PostgreSQL connection's ``host:port`` and database, read at run time: what names the tables."""
    from franz_ivan.hooks.postgres import PricesPostgresHook

    args = PricesPostgresHook(postgres_conn_id).connect_kwargs()
    return postgres_server(args["host"], args["port"]), str(args["dbname"])


class PublishPricesOperator(BaseOperator):
    """Fetch one source's markets and publish their events to the topic, every delivery acknowledged.

    Returns the counts published, which :class:`RecordTopicOperator` sends as the topic Asset's
    event once the run's publish tasks are done. A run for a past interval (a backfill, see
    :func:`franz_ivan.producer.past_window`) publishes the interval's candles and reports the
    source's API as its OpenLineage input.

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

    Reads the topic's Asset (alias ``crypto_prices_topic``, its inlet) and returns its counts with
    the rows it stored per table, from which :class:`RecordTablesOperator` sends one Asset event per
    table once the run's drains are done; OpenLineage gets the same tables with their row counts
    from each drain.

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

    def execute(self, context: Any) -> dict[str, object]:
        from franz_ivan.drain_runner import run_drain
        from franz_ivan.settings import settings

        self._server = topic_server(self.kafka_conn_id)
        server, database = tables_database(self.postgres_conn_id)
        result: DrainResult = run_drain(
            self.kafka_conn_id,
            self.postgres_conn_id,
            self.topic,
            self.consumer_group,
            self.limits or settings().drain_limits(),
            partitions=[int(partition) for partition in self.partitions],
        )
        self._tables = [
            TableRows(server, database, name, rows) for name, rows in sorted(result.tables.items())
        ]
        return result.as_dict()

    def get_openlineage_facets_on_start(self) -> Lineage:
        return drain_lineage(topic_server(self.kafka_conn_id), self.topic)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        return drain_lineage(self._server or topic_server(self.kafka_conn_id), self.topic, self._tables)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Lineage:
        """The topic only: the rows of batches committed before the failure are not counted."""
        return drain_lineage(self._server or topic_server(self.kafka_conn_id), self.topic)


class RecordTopicOperator(BaseOperator):
    """Send the topic's Asset event for the run's publish tasks: ``kafka://<bootstrap>/<topic>``
    through the alias ``crypto_prices_topic`` (its outlet), carrying the prices and events they
    published in total and the sources that published. Runs once the publish tasks are done, when
    at least one succeeded (see the module's docstring for why not each publish task).

    :param results: what the run's publish tasks returned (``publish_prices.output``). (templated)
    :param topic: the topic published to.
    :param kafka_conn_id: the Kafka connection, which names the topic's server.
    """

    template_fields: Sequence[str] = ("results",)

    def __init__(
        self,
        *,
        results: Iterable[Mapping[str, Any]] | str,
        topic: str,
        kafka_conn_id: str = KAFKA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.results = results
        self.topic = topic
        self.kafka_conn_id = kafka_conn_id

    def execute(self, context: Any) -> dict[str, object]:
        results: Iterable[Mapping[str, Any]] = self.results  # type: ignore[assignment]  # rendered by now
        extra = published_extra(results)
        context["outlet_events"][topic_alias()].add(
            topic_asset(topic_server(self.kafka_conn_id), self.topic), extra=extra
        )
        return extra


class RecordTablesOperator(BaseOperator):
    """Send one Asset event per table the run's drains stored rows in:
    ``postgres://<host>:<port>/<database>/public/<table>`` through the alias ``crypto_prices_tables``
    (its outlet), carrying the table's rows and the drains' counts, summed over the run. Runs once
    the drains are done, when at least one succeeded (see the module's docstring for why not each
    drain).

    :param results: what the run's drains returned (``drain_events.output``). (templated)
    :param postgres_conn_id: the PostgreSQL connection, which names the tables' server and database.
    """

    template_fields: Sequence[str] = ("results",)

    def __init__(
        self,
        *,
        results: Iterable[Mapping[str, Any]] | str,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.results = results
        self.postgres_conn_id = postgres_conn_id

    def execute(self, context: Any) -> dict[str, dict[str, int]]:
        results: Iterable[Mapping[str, Any]] = self.results  # type: ignore[assignment]  # rendered by now
        server, database = tables_database(self.postgres_conn_id)
        extras = table_extras(results)
        for table, extra in extras.items():
            context["outlet_events"][tables_alias()].add(table_asset(server, database, table), extra=extra)
        return extras


def published_extra(results: Iterable[Mapping[str, Any]]) -> dict[str, object]:
    """The topic Asset event's extra for a run's publish results: the counts summed, the sources."""
    results = list(results)
    totals: dict[str, object] = {key: sum(int(result[key]) for result in results) for key in PUBLISHED_COUNTS}
    return {**totals, "sources": sorted({str(result["source"]) for result in results})}


def table_extras(results: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """Each table's Asset event extra for a run's drain results: its rows, the drains' counts, summed.

    A table no drain stored a row in gets no event.
    """
    results = list(results)
    counts = {key: sum(int(result[key]) for result in results) for key in COUNTS}
    rows: dict[str, int] = {}
    for result in results:
        for table, stored in result["tables"].items():
            rows[table] = rows.get(table, 0) + int(stored)
    return {table: {"rows": rows[table], **counts} for table in sorted(rows) if rows[table]}
