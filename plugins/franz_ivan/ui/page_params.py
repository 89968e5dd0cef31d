"""What the page's API accepts: a pair and one of three ranges, each with its bin size and row bound.

Anything else is refused with an error naming the parameter and what is allowed, so that a typo or
a hostile query string gets a 4xx and never reaches SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from franz_ivan.event_fields import EventError, validate_pair


class ParameterError(ValueError):
    """A query parameter is missing, unknown or not allowed; the message names it."""


@dataclass(frozen=True)
class ChartRange:
    """A time range of the chart and the bin its prices are downsampled to.

    :param name: how the query string names it (``1h``, ``24h``, ``7d``).
    :param span: how far back from now the chart reaches.
    :param bin: the width of one point; ``span / bin`` points per line at most.
    """

    name: str
    span: timedelta
    bin: timedelta

    @property
    def points_per_line(self) -> int:
        """Bins in the range: one more than ``span / bin`` because the first bin starts before it."""
        return self.span // self.bin + 1


RANGES: Final = {
    chart_range.name: chart_range
    for chart_range in (
        ChartRange("1h", timedelta(hours=1), timedelta(minutes=1)),
        ChartRange("24h", timedelta(hours=24), timedelta(minutes=10)),
        ChartRange("7d", timedelta(days=7), timedelta(hours=1)),
    )
}
MAX_LINES_PER_CHART: Final = 24
"""Lines (source, exchange and kind) of one pair the API returns at most; ~4 sources per pair is usual."""
MAX_PARAMETER_CHARS: Final = 64
MAX_PAIRS: Final = 200
"""Price tables the page lists at most."""


def max_rows(chart_range: ChartRange) -> int:
    """The bound on the rows one chart query returns: every line full."""
    return chart_range.points_per_line * MAX_LINES_PER_CHART


def parse_range(raw: str) -> ChartRange:
    """The range ``raw`` names, or :class:`ParameterError` listing the allowed ones."""
    chart_range = RANGES.get(raw)
    if chart_range is None:
        raise ParameterError(
            f"range {raw[:MAX_PARAMETER_CHARS]!r} is not allowed; use one of {', '.join(RANGES)}"
        )
    return chart_range


def parse_pair(raw: str) -> str:
    """``raw`` if it is a valid pair (as the events and tables require), else :class:`ParameterError`."""
    try:
        return validate_pair(raw)
    except EventError as error:
        raise ParameterError(str(error)) from None


def refuse_unknown(names: Iterable[str], allowed: Iterable[str]) -> None:
    """Raise naming the first query parameter not in ``allowed``: a misspelt one must not be ignored."""
    allowed_set = set(allowed)
    for name in names:
        if name not in allowed_set:
            expected = ", ".join(sorted(allowed_set)) or "none"
            raise ParameterError(
                f"query parameter {name[:MAX_PARAMETER_CHARS]!r} is not known; expected: {expected}"
            )
