"""Lineage outside the DAG files: Asset aliases for Airflow, OpenLineage datasets and facets for the rest.

**Assets.** A DAG file declares only two :class:`~airflow.sdk.AssetAlias` es, ``crypto_prices_topic``
and ``crypto_prices_tables``; the tasks attach the real Assets to them when they run:

- the topic, ``kafka://<bootstrap host:port>/<topic>``, by each publish task;
- each table a drain wrote, ``postgres://<host>:<port>/<database>/public/<table>`` (one per pair,
  such as ``btcusd``, and the allowance and dead-letter tables when they got rows).

Why aliases: the real servers are in the connections ``crypto_prices_kafka`` and
``crypto_prices_postgres``, and a DAG file must not read a connection while it is parsed (that may
query the metadata database or a secrets backend). A task reads them through the same hooks that
connect, at run time, so the Asset names the server the data really went to. The set of pair
tables grows with the markets: a new pair's table is an Asset from its first drain, and a DAG
scheduled on the alias (the quality DAG) runs on it without a restart or a re-parse. The URIs use
the apache-kafka and postgres providers' schemes, whose OpenLineage converters give the same names
as below.

**OpenLineage** (with ``apache-airflow-providers-openlineage`` installed and a transport set): the
operators' ``get_openlineage_facets_on_start/complete/failure`` call the builders here. They are
the provider's documented way for custom operators; hook-level lineage would carry the dataset
names but not the row counts and the assertions. Names follow the OpenLineage naming spec:
namespace ``kafka://<bootstrap host:port>``, name the topic; namespace ``postgres://<host>:<port>``,
name ``<database>.public.<table>`` (what the provider's SQL parser gives for the same connection).
The ``openlineage`` imports are inside the builders: without the provider, or without a
transport (the provider's listener is then not even registered), nothing here is imported or run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias

if TYPE_CHECKING:
    from typing import TypeAlias

    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset
    from openlineage.client.facet_v2 import InputDatasetFacet, OutputDatasetFacet

    Lineage: TypeAlias = OperatorLineage[Any, Any]
    """What the OpenLineage provider takes from an operator's ``get_openlineage_facets_on_*``."""

Dataset = tuple[str, str]
"""An OpenLineage dataset's (namespace, name)."""

SCHEMA: Final = "public"
POSTGRES_DEFAULT_PORT: Final = 5432
TOPIC_ALIAS: Final = "crypto_prices_topic"
TABLES_ALIAS: Final = "crypto_prices_tables"


def topic_alias() -> AssetAlias:
    """What the publish tasks update and the drain reads: resolves to the topic's Asset at run time."""
    return AssetAlias(name=TOPIC_ALIAS)


def tables_alias() -> AssetAlias:
    """What the drain updates: resolves to one Asset per table it wrote."""
    return AssetAlias(name=TABLES_ALIAS)


def kafka_server(config: Mapping[str, Any]) -> str:
    """The first bootstrap server (``host:port``) of a librdkafka configuration: the cluster's name.

    :raises ValueError: if the configuration names none, or one that is not ``host:port``.
    """
    servers = [server.strip() for server in str(config.get("bootstrap.servers") or "").split(",")]
    first = servers[0] if servers else ""
    if "://" in first:  # librdkafka accepts "PLAINTEXT://host:port" too
        first = first.split("://", 1)[1]
    if not first or any(char in first for char in "/@?# "):
        raise ValueError(f"bootstrap.servers {config.get('bootstrap.servers')!r} names no host:port")
    return first


def postgres_server(host: str | None, port: int | None) -> str:
    """``host:port`` of a PostgreSQL connection, the default port filled in as the provider does."""
    if not host:
        raise ValueError("the PostgreSQL connection has no host to name its tables by")
    return f"{host}:{port or POSTGRES_DEFAULT_PORT}"


def topic_asset(server: str, topic: str) -> Asset:
    """The topic as an Asset: ``kafka://<server>/<topic>``."""
    if "/" in topic:
        raise ValueError(f"Kafka topic {topic!r} cannot name an Asset: topics have no '/'")
    return Asset(uri=f"kafka://{server}/{topic}")


def table_asset(server: str, database: str, table: str) -> Asset:
    """One table as an Asset: ``postgres://<server>/<database>/public/<table>``."""
    return Asset(uri=f"postgres://{server}/{database}/{SCHEMA}/{table}")


@dataclass(frozen=True)
class TableRows:
    """Rows a task stored in (or read from) one table of one server, for the lineage it reports."""

    server: str
    database: str
    table: str
    rows: int | None = None


def _topic_dataset(server: str, topic: str) -> Dataset:
    return f"kafka://{server}", topic


def _table_dataset(table: TableRows) -> Dataset:
    return f"postgres://{table.server}", f"{table.database}.{SCHEMA}.{table.table}"


def _output(dataset: Dataset, rows: int | None) -> OutputDataset:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    facets: dict[str, OutputDatasetFacet] = {}
    if rows is not None:
        facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows
        )
    return OutputDataset(namespace=dataset[0], name=dataset[1], outputFacets=facets)


def _input(dataset: Dataset, facets: Mapping[str, InputDatasetFacet] | None = None) -> InputDataset:
    from openlineage.client.event_v2 import InputDataset

    return InputDataset(namespace=dataset[0], name=dataset[1], inputFacets=dict(facets or {}))


def _lineage(inputs: Sequence[InputDataset], outputs: Sequence[OutputDataset]) -> Lineage:
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(inputs=list(inputs), outputs=list(outputs))


@dataclass(frozen=True)
class SourceApi:
    """A price source's API as an OpenLineage dataset: namespace its origin, name the market read."""

    base_url: str
    market: str

    def dataset(self) -> Dataset:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}", self.market


def publish_lineage(
    server: str, topic: str, events: int | None = None, sources: Iterable[SourceApi] = ()
) -> Lineage:
    """A publish task: the topic as output (with the events sent); a backfill's source APIs as inputs.

    :param events: events the broker acknowledged (``None`` before the task ran).
    :param sources: the APIs whose history a backfill read (a live run's tickers are not datasets).
    """
    return _lineage(
        [_input(source.dataset()) for source in sources], [_output(_topic_dataset(server, topic), events)]
    )


def drain_lineage(server: str, topic: str, tables: Iterable[TableRows] = ()) -> Lineage:
    """A drain: the topic as input, each table it wrote as output with its rows stored."""
    return _lineage(
        [_input(_topic_dataset(server, topic))], [_output(_table_dataset(t), t.rows) for t in tables]
    )


@dataclass(frozen=True)
class Verdict:
    """One quality verdict on a table, as a data-quality assertion."""

    check: str
    market: str
    passed: bool
    observed: str | None = None
    threshold: str | None = None


def quality_lineage(
    verdicts: Mapping[TableRows, Sequence[Verdict]], topic: tuple[str, str] | None = None
) -> Lineage:
    """A quality check: each table it read as input, with its verdicts as assertions.

    :param verdicts: per table read, the verdicts on it (may be empty: read, nothing judged).
    :param topic: ``(server, topic)`` when the check also read the topic (consumer lag).
    """
    from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq

    inputs = []
    for table, judged in verdicts.items():
        assertions = [
            dq.Assertion(
                assertion=verdict.check,
                success=verdict.passed,
                name=f"{verdict.check} {verdict.market}",
                severity="error",
                actual=verdict.observed,
                expected=verdict.threshold,
                params={"market": verdict.market},
            )
            for verdict in judged
        ]
        facets: dict[str, InputDatasetFacet] = {
            "dataQualityAssertions": dq.DataQualityAssertionsDatasetFacet(assertions=assertions)
        }
        inputs.append(_input(_table_dataset(table), facets if assertions else None))
    if topic is not None:
        inputs.append(_input(_topic_dataset(*topic)))
    return _lineage(inputs, [])


def with_inputs_of(lineage: Lineage, other: Lineage | None) -> Lineage:
    """``lineage`` plus the inputs of ``other`` it lacks (same namespace and name count as one)."""
    if other is None:
        return lineage
    known = {(dataset.namespace, dataset.name) for dataset in lineage.inputs}
    extra = [dataset for dataset in other.inputs if (dataset.namespace, dataset.name) not in known]
    return _lineage([*lineage.inputs, *extra], lineage.outputs)
