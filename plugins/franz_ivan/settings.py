"""Names and settings shared by the DAGs, in one place.

Secrets live only in Airflow connections (the ids below). Everything else is an environment
variable ``CRYPTO_PRICES_*`` with a default, all of them fields of :class:`Settings`, read by
:func:`settings`; the README's "Configuration at a glance" lists them
(tests/deploy/test_config_table.py holds it to :class:`Settings`). Reading the environment is
all this does, so the DAGs may call it at parse time. A bad value fails only what reads that
setting: the error is kept and raised when the setting is read, so a typo in the fetch budget
fails the producer's fetch, not the import of every DAG.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from franz_ivan.limits import DrainLimits, GroupLimits, PacingSettings

KAFKA_CONN_ID: Final = "crypto_prices_kafka"
POSTGRES_CONN_ID: Final = "crypto_prices_postgres"


def api_conn_id(source: str) -> str:
    """Each price source's optional connection (host = base URL, password = API key): ``<source>_api``."""
    return f"{source}_api"


MARKETS_VARIABLE: Final = "crypto_prices_markets"
DEFAULT_MARKETS: Final = ("kraken:btcusd",)
"""Kraken, Cryptowatch's successor: live and keyless, so a new deployment has prices at once."""

CONSUMER_GROUP: Final = "crypto_prices_consumer"

PREFIX: Final = "CRYPTO_PRICES_"
SOURCE_PLACEHOLDER: Final = "<SOURCE>"
ALLOWANCE_FLOOR_ENV: Final = f"{PREFIX}{SOURCE_PLACEHOLDER}_ALLOWANCE_FLOOR"
ALLOWANCE_FLOOR_PATTERN: Final = re.compile(f"{PREFIX}([A-Z0-9_]+)_ALLOWANCE_FLOOR")
DEFAULT_ALLOWANCE_FLOORS: Final = {"cryptowatch": Decimal("0.5"), "binance": Decimal("600")}
"""Cryptowatch: free credits (10 a day, 0.005 a call). Binance: request weight (6000 a minute)."""

DEFAULT_SQL_DIR: Final = Path(str(importlib.resources.files("franz_ivan.sql")))
"""The SQL statements: the package data ``franz_ivan.sql`` (``include/sql`` of the repository)."""

T = TypeVar("T")


def allowance_floor_env(source: str) -> str:
    """The variable of one source's allowance floor: ``CRYPTO_PRICES_<SOURCE>_ALLOWANCE_FLOOR``."""
    return ALLOWANCE_FLOOR_ENV.replace(SOURCE_PLACEHOLDER, source.upper())


def _text(name: str, raw: str) -> str:
    return raw


def _positive(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"environment variable {name}={raw!r} must be positive")
    return value


def _seconds_or_off(name: str, raw: str) -> float:
    """Seconds, or ``0`` for off."""
    return 0.0 if raw.strip() in {"0", "0.0"} else _positive(name, raw)


def _count(name: str, raw: str) -> int:
    return int(_positive(name, raw))


def _days(name: str, raw: str) -> int | None:
    """Whole days; ``forever`` (any case) for no limit."""
    if raw.strip().lower() == "forever":
        return None
    try:
        days = int(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={raw!r} is not a whole number of days or 'forever'"
        ) from None
    if days <= 0:
        raise ValueError(f"environment variable {name}={raw!r} must be positive (or 'forever')")
    return days


def _path(name: str, raw: str) -> Path:
    return Path(raw)


def _floor(name: str, raw: str) -> Decimal:
    try:
        floor = Decimal(raw.strip())
    except InvalidOperation:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None
    if not floor.is_finite() or floor < 0:
        raise ValueError(f"environment variable {name}={raw!r} must be zero or more")
    return floor


def _setting(env: str, default: T, parse: Callable[[str, str], T]) -> T:
    """A field read from ``env`` by ``parse(name, raw)``; unset or empty gives ``default``."""
    return field(default=default, metadata={"env": env, "parse": parse})


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every ``CRYPTO_PRICES_*`` setting, parsed and checked; see :func:`settings`.

    Each field's metadata names its variable (``env``) and how it is parsed; an unset or empty
    variable gives the field's default. A bad value raises ``ValueError`` naming the variable
    when that field is read (and only then: the other settings stay usable).
    """

    topic: str = _setting(PREFIX + "TOPIC", "crypto_prices", _text)
    topic_partition_count: int = _setting(PREFIX + "TOPIC_PARTITIONS", 3, _count)
    producer_schedule: str = _setting(PREFIX + "PRODUCER_SCHEDULE", "* * * * *", _text)
    producer_deadline_seconds: float = _setting(PREFIX + "PRODUCER_DEADLINE", 0.0, _seconds_or_off)
    history_after_seconds: float = _setting(PREFIX + "HISTORY_AFTER", 300.0, _positive)
    delivery_timeout_seconds: float = _setting(PREFIX + "DELIVERY_TIMEOUT", 30.0, _positive)
    fetch_concurrency: int = _setting(PREFIX + "FETCH_CONCURRENCY", 20, _count)
    fetch_attempts: int = _setting(PREFIX + "FETCH_ATTEMPTS", 4, _count)
    backoff_base_seconds: float = _setting(PREFIX + "BACKOFF_BASE", 1.0, _positive)
    fetch_budget_seconds: float = _setting(PREFIX + "FETCH_BUDGET", 45.0, _positive)
    source_timeout_seconds: float = _setting(PREFIX + "SOURCE_TIMEOUT", 10.0, _positive)
    allowance_floors: Mapping[str, Decimal] = field(
        default_factory=lambda: dict(DEFAULT_ALLOWANCE_FLOORS),
        metadata={"env": ALLOWANCE_FLOOR_ENV, "parse": _floor},
    )
    drain_batch_size: int = _setting(PREFIX + "DRAIN_BATCH_SIZE", 20_000, _count)
    drain_max_seconds: float = _setting(PREFIX + "DRAIN_MAX_SECONDS", 600.0, _positive)
    drain_stall_seconds: float = _setting(PREFIX + "DRAIN_STALL_SECONDS", 30.0, _positive)
    drain_max_groups: int = _setting(PREFIX + "DRAIN_MAX_GROUPS", 4, _count)
    drain_min_group_events: int = _setting(PREFIX + "DRAIN_MIN_GROUP_EVENTS", 100_000, _count)
    raw_retention_days: int | None = _setting(PREFIX + "RAW_RETENTION_DAYS", None, _days)
    sql_dir: Path = _setting(PREFIX + "SQL_DIR", DEFAULT_SQL_DIR, _path)  # noqa: RUF009 (a Path is immutable)
    _errors: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Why a field (or ``floor:<source>``) could not be parsed; raised when it is read."""

    if not TYPE_CHECKING:  # at runtime only, so that mypy still checks every attribute name

        def __getattribute__(self, name: str) -> Any:
            if not name.startswith("_"):
                error = object.__getattribute__(self, "_errors").get(name)
                if error is not None:
                    raise ValueError(error)
            return object.__getattribute__(self, name)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """The settings ``environ`` gives; raises ``ValueError`` naming a variable whose value is bad."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for item in fields(cls):
            if "env" not in item.metadata:
                continue
            env, parse = item.metadata["env"], item.metadata["parse"]
            if env == ALLOWANCE_FLOOR_ENV:
                floors = dict(DEFAULT_ALLOWANCE_FLOORS)
                for name, raw in sorted(environ.items()):
                    matched = ALLOWANCE_FLOOR_PATTERN.fullmatch(name)
                    if matched and raw:
                        try:
                            floors[matched[1].lower()] = parse(name, raw)
                        except ValueError as error:
                            errors[f"floor:{matched[1].lower()}"] = str(error)
                values[item.name] = floors
            elif environ.get(env):
                try:
                    values[item.name] = parse(env, environ[env])
                except ValueError as error:
                    errors[item.name] = str(error)
        return cls(**values, _errors=errors)

    def allowance_floor(self, source: str) -> Decimal:
        """Least allowance ``source`` must have left to be asked (its ``..._ALLOWANCE_FLOOR``)."""
        error = self._errors.get(f"floor:{source}")
        if error is not None:
            raise ValueError(error)
        return self.allowance_floors.get(source, Decimal(0))

    def drain_limits(self) -> DrainLimits:
        """Batch size, time and stall bounds of one drain."""

        return DrainLimits(
            batch_size=self.drain_batch_size,
            max_seconds=self.drain_max_seconds,
            stall_seconds=self.drain_stall_seconds,
        )

    def group_limits(self) -> GroupLimits:
        """How far one consumer run fans out over mapped drains."""

        return GroupLimits(max_groups=self.drain_max_groups, min_events_per_group=self.drain_min_group_events)

    def pacing(self) -> PacingSettings:
        """Attempts per market, first backoff and fetch budget of a source task."""

        return PacingSettings(
            attempts=self.fetch_attempts,
            backoff_base=self.backoff_base_seconds,
            budget=self.fetch_budget_seconds,
        )


@functools.lru_cache(maxsize=8)
def _parsed(environment: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env(dict(environment))


def settings() -> Settings:
    """This process's settings, parsed once per distinct set of ``CRYPTO_PRICES_*`` variables.

    Keyed on those variables rather than cached outright, so that a test's ``monkeypatch.setenv``
    (or a task given another environment) is seen without clearing anything.
    """
    return _parsed(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


@functools.cache
def _sql_text(sql_dir: Path, name: str) -> str:
    return (sql_dir / f"{name}.sql").read_text()


def read_sql(name: str) -> str:
    """The text of ``<name>.sql`` of the package data ``franz_ivan.sql`` (or ``CRYPTO_PRICES_SQL_DIR``),
    read once per folder and name."""
    return _sql_text(settings().sql_dir, name)
