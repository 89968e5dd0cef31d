"""The common-sql threshold check, its verdict recorded like the other quality checks."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, NoReturn

from airflow.providers.common.sql.operators.sql import SQLThresholdCheckOperator

from franz_ivan.settings import POSTGRES_CONN_ID


class RecordedThresholdCheckOperator(SQLThresholdCheckOperator):
    """``SQLThresholdCheckOperator`` that records its verdict in ``crypto_prices_quality_results``.

    The stock operator hands its figures to ``push`` before it judges them; here ``push`` writes
    them as a result row. A figure outside the thresholds fails the task (no retry),
    naming the market, the figure and the thresholds.

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
        with PricesPostgresHook(self.conn_id or POSTGRES_CONN_ID).get_conn() as conn:
            record_results(conn, [result], self._context.get("run_id"))

    def _raise_exception(self, exception_string: str) -> NoReturn:
        from franz_ivan.quality.runner import DataQualityError

        if not self._message:  # the query returned no row: the stock message says so
            raise DataQualityError(f"{self.check_name} on {self.market}: {exception_string}")
        message = f"Data quality check {self.check_name!r} failed:\n- {self._message}"
        raise DataQualityError(message)
