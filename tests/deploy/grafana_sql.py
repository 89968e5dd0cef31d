"""What Grafana does to a panel's SQL before PostgreSQL sees it, so tests can run dashboard queries.

Three steps, in Grafana's order:

1. the frontend replaces dashboard variables: ``${name:raw}`` by the value as it is, ``$name`` and
   ``${name}`` of a multi-value variable by a quoted literal (the SQL datasources' default format);
2. the backend replaces ``$__interval_ms`` and ``$__interval`` (``sqleng.Interpolate``);
3. the PostgreSQL macro engine expands ``$__macro(args)``
   (``pkg/tsdb/grafana-postgresql-datasource/macros.go``), the same regular expression, the same
   texts, and an error for a macro it does not know.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
VARIABLE = re.compile(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)")
INTERVAL = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")
INTERVAL_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
    "y": timedelta(days=365),
}


class MacroError(ValueError):
    """Grafana would refuse this query (unknown macro, missing argument, bad interval)."""


@dataclass(frozen=True)
class QueryContext:
    """The dashboard state a query is sent with: time range, interval and variable values."""

    time_from: datetime
    time_to: datetime
    interval: timedelta = timedelta(minutes=1)
    variables: Mapping[str, str] = field(default_factory=dict)
    """Each variable's single selected value (a repeated panel sees one value of a multi variable)."""


def rfc3339nano(moment: datetime) -> str:
    """Go's ``time.RFC3339Nano`` of ``moment`` in UTC: trailing zeros of the fraction dropped."""
    utc = moment.astimezone(UTC)
    fraction = f"{utc.microsecond:06d}".rstrip("0")
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{fraction}" if fraction else "") + "Z"


def format_interval(interval: timedelta) -> str:
    """``gtime.FormatInterval``: the largest unit that fits, truncated (90 s is ``1m``)."""
    for unit in ("y", "d", "h", "m", "s", "ms"):
        if interval >= INTERVAL_UNITS[unit]:
            return f"{interval // INTERVAL_UNITS[unit]}{unit}"
    return "1ms"


def parse_interval(text: str) -> timedelta:
    match = INTERVAL.fullmatch(text.strip("'"))
    if not match:
        raise MacroError(f"error parsing interval {text}")
    return int(match.group(1)) * INTERVAL_UNITS[match.group(2)]


def go_number(value: float) -> str:
    """Go's ``%v`` of a float64 as the macros print it: ``300``, ``0.5``."""
    return str(int(value)) if value == int(value) else repr(value)


def replace_variables(sql: str, variables: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name.startswith("__") or name not in variables:
            return match.group(0)
        value = variables[name]
        if match.group(2) == "raw":
            return value
        if match.group(2) is not None:
            raise MacroError(f"variable format {match.group(2)!r} is not supported here")
        return "'" + value.replace("'", "''") + "'"

    return VARIABLE.sub(replace, sql)


def evaluate_macro(name: str, args: list[str], context: QueryContext) -> str:
    column = args[0]
    if name in ("__timeGroup", "__timeGroupAlias"):
        if len(args) != 2:
            raise MacroError(f"macro {name} needs a time column and an interval (fill modes: not modelled)")
        seconds = go_number(parse_interval(args[1]).total_seconds())
        group = f"floor(extract(epoch from {column})/{seconds})*{seconds}"
        return group + (' AS "time"' if name == "__timeGroupAlias" else "")
    time_from, time_to = rfc3339nano(context.time_from), rfc3339nano(context.time_to)
    start, end = int(context.time_from.timestamp()), int(context.time_to.timestamp())
    expansions = {
        "__time": f'{column} AS "time"',
        "__timeEpoch": f'extract(epoch from {column}) as "time"',
        "__timeFilter": f"{column} BETWEEN '{time_from}' AND '{time_to}'",
        "__timeFrom": f"'{time_from}'",
        "__timeTo": f"'{time_to}'",
        "__unixEpochFilter": f"{column} >= {start} AND {column} <= {end}",
    }
    if name not in expansions:
        raise MacroError(f"unknown macro {name!r}")
    return expansions[name]


def expand(sql: str, context: QueryContext) -> str:
    """``sql`` as Grafana's PostgreSQL datasource sends it for ``context``."""
    sql = replace_variables(sql, context.variables)
    sql = sql.replace("$__interval_ms", str(context.interval // timedelta(milliseconds=1)))
    sql = sql.replace("$__interval", format_interval(context.interval))

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        # Before Grafana 5.3, $__timeGroup(...) followed by a comma also named the column "time".
        if name == "__timeGroup" and sql[match.end() : match.end() + 1] == ",":
            name = "__timeGroupAlias"
        return evaluate_macro(name, [arg.strip(" ") for arg in match.group(2).split(",")], context)

    return MACRO.sub(replace, sql)
