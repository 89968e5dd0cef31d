"""The quality DAG's checks as operators that report what they read and judged, as OpenLineage.

:class:`QualityCheckOperator` runs one of :mod:`franz_ivan.quality.checks`;
:class:`RecordedThresholdCheckOperator` is the common-sql threshold check with its verdict
recorded like theirs. Both report each table they read as an OpenLineage input carrying its
verdicts as data-quality assertions (check, market, passed), on success and on failure alike.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.providers.common.sql.operators.sql import SQLThresholdCheckOperator
from airflow.sdk import BaseOperator

from franz_ivan.lineage import TableRows, Verdict, postgres_server, quality_lineage, with_inputs_of
from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID

if TYPE_CHECKING:
    from franz_ivan.lineage import Lineage
    from franz_ivan.quality.checks import CheckResult


def _figure(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def checks_lineage(
    results: Sequence[CheckResult], postgres_conn_id: str, topic: tuple[str, str] | None = None
) -> Lineage:
    """Each table the verdicts are about, with them as assertions; the connection read at run time."""
    from franz_ivan.hooks.postgres import PricesPostgresHook
    from franz_ivan.quality.checks import tables_read

    args = PricesPostgresHook(postgres_conn_id).connect_kwargs()
    server, database = postgres_server(args["host"], args["port"]), str(args["dbname"])
    verdicts: defaultdict[TableRows, list[Verdict]] = defaultdict(list)
    for result in results:
        for table in tables_read(result.check, result.market):
            verdict = Verdict(
                result.check,
                result.market,
                result.passed,
                _figure(result.observed),
                _figure(result.threshold),
            )
            verdicts[TableRows(server, database, table)].append(verdict)
    return quality_lineage(verdicts, topic)


class QualityCheckOperator(BaseOperator):
    """Run one quality check, record its verdicts, and fail naming market, figure and threshold.

    :param check: one of the check names of :mod:`franz_ivan.quality.checks`.
    :param settings: what ``load_settings`` returned (an XCom reference in the DAG). (templated)
    :param postgres_conn_id: the PostgreSQL connection the lineage names the tables by.
    :param kafka_conn_id: the Kafka connection (the consumer lag check reads the topic too).
    """

    template_fields: Sequence[str] = ("settings",)

    def __init__(
        self,
        *,
        check: str,
        settings: Mapping[str, Any] | Any,
        postgres_conn_id: str = POSTGRES_CONN_ID,
        kafka_conn_id: str = KAFKA_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.settings = settings
        self.postgres_conn_id = postgres_conn_id
        self.kafka_conn_id = kafka_conn_id
        self._results: list[CheckResult] = []

    def execute(self, context: Any) -> dict[str, int]:
        from franz_ivan.quality.runner import fail_if_any_failed, judge_and_record

        self._results = judge_and_record(self.check, self.settings, context.get("run_id"))
        fail_if_any_failed(self.check, self._results)
        return {
            "passed": sum(result.passed for result in self._results),
            "failed": sum(not result.passed for result in self._results),
        }

    def _lineage(self) -> Lineage:
        from franz_ivan.operators import topic_server
        from franz_ivan.quality.checks import CONSUMER_LAG

        topic = None
        if self.check == CONSUMER_LAG and isinstance(self.settings, Mapping):
            topic = (topic_server(self.kafka_conn_id), str(self.settings["topic"]))
        return checks_lineage(self._results, self.postgres_conn_id, topic)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage:
        return self._lineage()

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Lineage:
        return self._lineage()


class RecordedThresholdCheckOperator(SQLThresholdCheckOperator):
    """``SQLThresholdCheckOperator`` that records its verdict in ``crypto_prices_quality_results``.

    The stock operator hands its figures to ``push`` before it judges them; here ``push`` writes
    them as a result row. A figure outside the thresholds fails the task (no retry),
    naming the market, the figure and the thresholds. Its OpenLineage input (the table the SQL
    reads, from the stock operator's parser) carries the verdict as a data-quality assertion.

    :param check_name: the check's name in the results table.
    :param market: what the figure is about (a topic, a source...), templated.
    :param description: what the figure counts, in words, for the message.
    """

    template_fields: Sequence[str] = (*SQLThresholdCheckOperator.template_fields, "market")

    def __init__(self, *, check_name: str, market: str, description: str, **kwargs: Any) -> None:
        kwargs.setdefault("retry_on_failure", False)
        super().__init__(**kwargs)
        self.check_name = check_name
        self.market = market
        self.description = description
        self._context: Any = None
        self._message = ""
        self._results: list[CheckResult] = []

    def execute(self, context: Any) -> None:
        self._context = context
        super().execute(context)

    def push(self, meta_data: dict[str, Any]) -> None:
        """Record the verdict (the stock operator only logs it here)."""
        from franz_ivan.hooks.postgres import PricesPostgresHook
        from franz_ivan.quality.checks import CheckResult, record_results

        figure, low, high = meta_data["result"], meta_data["min_threshold"], meta_data["max_threshold"]
        passed = bool(meta_data["within_threshold"])
        self._message = (
            f"{self.market}: {figure} {self.description} "
            f"({'within' if passed else 'outside'} the thresholds {low:g} to {high:g})"
        )
        result = CheckResult(
            self.check_name, self.market, Decimal(figure), Decimal(high), passed, self._message
        )
        self._results = [result]
        with PricesPostgresHook(self.conn_id or POSTGRES_CONN_ID).get_conn() as conn:
            record_results(conn, self._results, self._context.get("run_id"))

    def _lineage(self, task_instance: Any) -> Lineage:
        parsed = super().get_openlineage_facets_on_complete(task_instance)
        return with_inputs_of(checks_lineage(self._results, self.conn_id or POSTGRES_CONN_ID), parsed)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Lineage | None:
        return self._lineage(task_instance)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Lineage | None:
        return self._lineage(task_instance)

    def _raise_exception(self, exception_string: str) -> NoReturn:
        from franz_ivan.quality.runner import DataQualityError

        if not self._message:  # the query returned no row: the stock message says so
            raise DataQualityError(f"{self.check_name} on {self.market}: {exception_string}")
        message = f"Data quality check {self.check_name!r} failed:\n- {self._message}"
        raise DataQualityError(message)
