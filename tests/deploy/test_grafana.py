"""Grafana: provisioning that points at real files, and dashboard SQL that returns the right series.

Every panel's query is expanded the way Grafana's PostgreSQL datasource expands it (grafana_sql)
and run against a real PostgreSQL database holding what the pipeline stores: price rows, API
allowance rows and dead letters written by franz_ivan.store.PriceStore, the consumer's writer.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
import pytest
import yaml
from psycopg import sql

from devtools.local_stack import Postgres, drop_database, local_postgres
from franz_ivan.events import AllowanceEvent, Market, PriceEvent
from franz_ivan.settings import read_sql
from franz_ivan.store import Batch, DeadLetter, Located, PriceStore
from tests.deploy.deploy_files import DASHBOARDS, PROVISIONING, ROOT
from tests.deploy.grafana_sql import QueryContext, expand, format_interval, rfc3339nano

pytestmark = pytest.mark.deploy

DATASOURCE_FILE = PROVISIONING / "datasources" / "crypto_prices.yaml"
INIT_SCRIPT = ROOT / "deploy" / "compose" / "postgres-init" / "10-crypto-prices.sql"
TOPIC = "crypto_prices"
RECORDING_DELAY = timedelta(seconds=2)
"""How long after an observation the consumer records it, in the test data."""
TIME_RANGE = timedelta(hours=3)
"""The dashboard's default time range (now-3h to now)."""

KRAKEN_BTC = Market("cryptowatch", "kraken", "btcusd")
COINBASE_BTC = Market("cryptowatch", "coinbase-pro", "btcusd")
KRAKEN_ETH = Market("cryptowatch", "kraken", "ethusd")
BINANCE_BTCUSDT = Market("binance", "binance", "btcusdt")
PARTITIONS = {KRAKEN_BTC: 0, COINBASE_BTC: 1, KRAKEN_ETH: 2, BINANCE_BTCUSDT: 0}
PRICE_TABLES = ["btcusd", "btcusdt", "ethusd"]
ALLOWANCE_PER_CALL = {"cryptowatch": (Decimal("10"), Decimal("0.005")), "binance": (Decimal("6000"), None)}
"""Each source's allowance at first and what a call costs: Cryptowatch credits, Binance request
weight (whose answers say what is left, not what a call cost)."""


def all_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in all_panels(dashboard) if panel.get("targets")]


DASHBOARD = json.loads((DASHBOARDS / "crypto_prices.json").read_text())
PANEL_TITLES = [panel["title"] for panel in query_panels(DASHBOARD)]


# --- The pipeline's data ----------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    market: Market
    observed_at: datetime
    price: Decimal
    remaining: Decimal
    cost: Decimal | None

    @property
    def recorded(self) -> datetime:
        return self.observed_at + RECORDING_DELAY


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    error: str
    recorded: datetime


@dataclass(frozen=True)
class Verdict:
    """A row of crypto_prices_quality_results, as the quality DAG writes it."""

    checked_at: datetime
    check: str
    market: str
    status: str
    observed: Decimal
    threshold: Decimal
    message: str


@dataclass(frozen=True)
class PipelineData:
    now: datetime
    observations: list[Observation]
    letters: list[Letter]
    verdicts: list[Verdict]

    def prices(self, pair: str) -> list[Observation]:
        return [item for item in self.observations if item.market.pair == pair]


def make_observations(now: datetime) -> list[Observation]:
    """BTC on two exchanges every minute for half an hour (and once five hours ago, outside the
    time range); ETH every minute until it stalled twenty minutes ago; BTC/USDT from Binance for
    the last five minutes."""
    moments = [(KRAKEN_BTC, minute, 10) for minute in range(1, 31)]
    moments += [(COINBASE_BTC, minute, 12) for minute in range(1, 31)]
    moments += [(KRAKEN_ETH, minute, 15) for minute in range(20, 41)]
    moments += [(BINANCE_BTCUSDT, minute, 20) for minute in range(1, 6)]
    moments += [(KRAKEN_BTC, 300, 10)]
    base_prices = {"btcusd": Decimal("24063.4"), "btcusdt": Decimal("24071.15"), "ethusd": Decimal("1650.25")}
    remaining = {source: first for source, (first, _) in ALLOWANCE_PER_CALL.items()}
    observations = []
    for market, minute, second in sorted(moments, key=lambda item: (-item[1], -item[2])):
        cost = ALLOWANCE_PER_CALL[market.source][1]
        remaining[market.source] -= cost or 2
        observations.append(
            Observation(
                market,
                now - timedelta(minutes=minute, seconds=second),
                base_prices[market.pair] + minute + (Decimal("0.5") if market.exchange == "kraken" else 0),
                remaining[market.source],
                cost,
            )
        )
    return observations


def write_pipeline_data(conn: Any, now: datetime, *, quality: bool = True) -> PipelineData:
    """Store the observations through PriceStore, one batch per minute as a drain would, and the
    quality DAG's verdicts unless ``quality`` is false."""
    observations = make_observations(now)
    letters = [
        Letter(1, 1000, "message is not UTF-8 JSON: Expecting value", now - timedelta(minutes=7, seconds=5)),
        Letter(2, 1001, "unknown schema_version 2 (this consumer reads 1)", now - timedelta(minutes=3)),
    ]
    store = PriceStore(conn, TOPIC, "crypto_prices_consumer")
    store.prepare()
    offsets: Counter[int] = Counter()
    batches: dict[datetime, Batch] = defaultdict(Batch)
    for item in observations:
        batch = batches[item.observed_at.replace(second=0, microsecond=0)]
        partition = PARTITIONS[item.market]
        batch.prices.append(
            Located(
                PriceEvent(str(uuid.uuid4()), item.market, item.observed_at, item.price),
                partition,
                offsets[partition],
            )
        )
        batch.allowances.append(
            Located(
                AllowanceEvent(str(uuid.uuid4()), item.market, item.observed_at, item.remaining, item.cost),
                partition,
                offsets[partition] + 1,
            )
        )
        offsets[partition] += 2
        batch.next_offsets[partition] = offsets[partition]
    batches[now].dead_letters.extend(
        DeadLetter(letter.partition, letter.offset, b"key", b"\xff not json", letter.error)
        for letter in letters
    )
    for _minute, batch in sorted(batches.items()):
        store.write(batch)
    # A drain records events as they arrive; the test cannot wait half an hour, so each row's
    # recording time is set to what a drain running every minute would have left.
    with conn.transaction():
        for table in [*PRICE_TABLES, "cryptowatch_api_allowance"]:
            conn.execute(f'UPDATE {table} SET "timestamp" = observed_at + %s', (RECORDING_DELAY,))
        for letter in letters:
            conn.execute(
                'UPDATE crypto_prices_dead_letter SET "timestamp" = %s'
                " WHERE kafka_partition = %s AND kafka_offset = %s",
                (letter.recorded, letter.partition, letter.offset),
            )
    verdicts = write_quality_verdicts(conn, now) if quality else []
    return PipelineData(now, observations, letters, verdicts)


def write_quality_verdicts(conn: Any, now: datetime) -> list[Verdict]:
    """Three runs of the quality DAG: five hours ago (outside the time range), 10 and 5 minutes ago."""
    verdicts = [
        Verdict(
            now - timedelta(hours=5),
            "spike",
            "kraken:kraken:btcusd",
            "fail",
            Decimal(900),
            Decimal(10),
            "old",
        ),
        Verdict(
            now - timedelta(minutes=10),
            "spike",
            "kraken:kraken:btcusd",
            "fail",
            Decimal(906),
            Decimal(10),
            "x",
        ),
        Verdict(
            now - timedelta(minutes=10),
            "staleness",
            "kraken:kraken:ethusd",
            "pass",
            Decimal(1),
            Decimal(10),
            "y",
        ),
        Verdict(now - timedelta(minutes=10), "divergence", "btcusd", "pass", Decimal("0.1"), Decimal(2), "z"),
        Verdict(
            now - timedelta(minutes=5), "spike", "kraken:kraken:btcusd", "pass", Decimal(1), Decimal(10), "ok"
        ),
        Verdict(
            now - timedelta(minutes=5),
            "staleness",
            "kraken:kraken:ethusd",
            "fail",
            Decimal(21),
            Decimal(10),
            "w",
        ),
    ]
    with conn.transaction():
        conn.execute(read_sql("quality_create_results"))
        for verdict in verdicts:
            conn.execute(
                "INSERT INTO crypto_prices_quality_results (checked_at, check_name, market, observed_value,"
                " threshold, status, message, dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    verdict.checked_at,
                    verdict.check,
                    verdict.market,
                    verdict.observed,
                    verdict.threshold,
                    verdict.status,
                    verdict.message,
                    f"run-{verdict.checked_at:%H%M}",
                ),
            )
    return verdicts


@pytest.fixture
def pipeline(pg: Any) -> PipelineData:
    return write_pipeline_data(pg, datetime.now(UTC).replace(microsecond=0))


# --- What each panel must show ------------------------------------------------------------------


def minute_of(moment: datetime) -> Decimal:
    return Decimal(int(moment.timestamp()) // 60 * 60)


def in_range(moment: datetime, context: QueryContext) -> bool:
    return context.time_from <= moment <= context.time_to


def expect_freshness(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    newest = {table: max(item.recorded for item in data.prices(table)) for table in PRICE_TABLES}
    ages = {table: (context.time_to - recorded).total_seconds() for table, recorded in newest.items()}
    return sorted(ages.items(), key=lambda item: -item[1])


def expect_rows_per_minute(
    data: PipelineData, context: QueryContext, pair: str | None
) -> list[tuple[Any, ...]]:
    counts = Counter(
        (datetime.fromtimestamp(int(minute_of(item.recorded)), UTC), item.market.pair)
        for item in data.observations
        if in_range(item.recorded, context)
    )
    return sorted((minute, table, count) for (minute, table), count in counts.items())


def expect_dead_letters(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    return sorted(Counter(minute_of(letter.recorded) for letter in data.letters).items())


def expect_newest_dead_letters(
    data: PipelineData, context: QueryContext, pair: str | None
) -> list[tuple[Any, ...]]:
    letters = sorted(data.letters, key=lambda letter: letter.recorded, reverse=True)
    return [(letter.recorded, TOPIC, letter.partition, letter.offset, letter.error) for letter in letters]


def per_minute_and_source(
    observations: list[Observation], context: QueryContext, figure: Callable[[list[Observation]], Decimal]
) -> list[tuple[Any, ...]]:
    groups: dict[tuple[Decimal, str], list[Observation]] = defaultdict(list)
    for item in observations:
        if in_range(item.observed_at, context):
            groups[minute_of(item.observed_at), item.market.source].append(item)
    return sorted((minute, source, figure(items)) for (minute, source), items in groups.items())


def expect_remaining(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    return per_minute_and_source(
        data.observations, context, lambda items: min(item.remaining for item in items)
    )


def expect_cost(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    charged = [item for item in data.observations if item.cost is not None]
    return per_minute_and_source(
        charged, context, lambda items: sum(Decimal(item.cost or 0) for item in items)
    )


def expect_prices(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    assert pair
    return sorted(
        (item.observed_at, f"{item.market.exchange} ({item.market.source})", item.price)
        for item in data.prices(pair)
        if in_range(item.observed_at, context)
    )


def expect_recorded(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    assert pair
    return sorted(
        (item.recorded, item.price) for item in data.prices(pair) if in_range(item.recorded, context)
    )


def expect_quality(data: PipelineData, context: QueryContext, pair: str | None) -> list[tuple[Any, ...]]:
    latest: dict[tuple[str, str], Verdict] = {}
    for verdict in sorted(data.verdicts, key=lambda verdict: verdict.checked_at):
        if in_range(verdict.checked_at, context):
            latest[verdict.check, verdict.market] = verdict
    return [
        (v.checked_at, v.check, v.market, v.status, v.observed, v.threshold, v.message)
        for v in sorted(latest.values(), key=lambda v: (v.status == "pass", v.check, v.market))
    ]


EXPECTED: dict[str, Callable[[PipelineData, QueryContext, str | None], list[tuple[Any, ...]]]] = {
    "Freshness: seconds since the newest row, per pair": expect_freshness,
    "Rows stored per minute, per pair": expect_rows_per_minute,
    "Dead letters": expect_dead_letters,
    "Newest dead letters": expect_newest_dead_letters,
    "Allowance remaining, per source": expect_remaining,
    "API cost, per source": expect_cost,
    "Data quality: latest verdict per check and market": expect_quality,
    "$pair: price per exchange": expect_prices,
    "$pair as recorded (the original dashboard's query)": expect_recorded,
}
APPROXIMATE = {"Freshness: seconds since the newest row, per pair"}
"""Panels measured against now(): compared within a tolerance, not exactly."""


def run(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    with conn.transaction():
        return [tuple(row) for row in conn.execute(sql).fetchall()]


def variable_values(conn: Any, context: QueryContext) -> list[str]:
    (variable,) = DASHBOARD["templating"]["list"]
    return [row[0] for row in run(conn, expand(variable["query"], context))]


# --- Tests ------------------------------------------------------------------------------------------


def test_macros_expand_as_grafana_expands_them() -> None:
    """The cases of Grafana's own macros_test.go for the PostgreSQL datasource."""
    start = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
    context = QueryContext(start, start + timedelta(minutes=5), timedelta(minutes=10))
    assert expand("select $__time(time_column)", context) == 'select time_column AS "time"'
    assert expand("WHERE $__timeFilter(time_column)", context) == (
        "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'"
    )
    assert expand("select $__timeFrom()", context) == "select '2018-04-12T18:00:00Z'"
    assert expand("select $__timeTo()", context) == "select '2018-04-12T18:05:00Z'"
    assert expand("SELECT $__timeGroup(time_column,'5m'), value", context) == (
        'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value'
    )
    assert expand("SELECT $__timeGroup(time_column,'5m') as time, value", context) == (
        "SELECT floor(extract(epoch from time_column)/300)*300 as time, value"
    )
    assert expand("$__timeGroupAlias(time_column , '5m')", context) == (
        'floor(extract(epoch from time_column)/300)*300 AS "time"'
    )
    assert expand("SELECT $__interval", context) == "SELECT 10m"
    assert rfc3339nano(datetime(1960, 2, 1, 7, 0, 0, 500000, tzinfo=UTC)) == "1960-02-01T07:00:00.5Z"
    assert format_interval(timedelta(seconds=90)) == "1m"
    with pytest.raises(ValueError, match="unknown macro"):
        expand("SELECT $__nope(x)", context)


def test_datasource_provisioning_reads_only_variables_the_grafana_service_sets(
    compose_local: dict[str, Any],
) -> None:
    provisioning = yaml.safe_load(DATASOURCE_FILE.read_text())
    (datasource,) = provisioning["datasources"]
    assert datasource["type"] == "grafana-postgresql-datasource"
    assert datasource["uid"]
    environment = compose_local["services"]["grafana"]["environment"]
    # Grafana expands $NAME and ${NAME} in the values of provisioning files from its environment.
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", json.dumps(provisioning)))
    assert used, "the datasource reads its settings from the environment"
    assert used <= set(environment), f"not set on the grafana service: {used - set(environment)}"
    postgres_env = compose_local["services"]["postgres"]["environment"]
    assert environment["GRAFANA_DB_USER"] == postgres_env["GRAFANA_DB_USER"]
    assert environment["GRAFANA_DB_PASSWORD"] == postgres_env["GRAFANA_DB_PASSWORD"]
    assert environment["CRYPTO_PRICES_DB"] == postgres_env["CRYPTO_PRICES_DB"]
    assert environment["CRYPTO_PRICES_DB_ADDRESS"] == "postgres:5432"


def test_dashboard_provisioning_points_at_the_dashboard_files(compose_local: dict[str, Any]) -> None:
    grafana = compose_local["services"]["grafana"]
    mounts = {
        PurePosixPath(volume["target"]): Path(volume["source"])
        for volume in grafana["volumes"]
        if volume["type"] == "bind"
    }
    assert mounts[PurePosixPath("/etc/grafana/provisioning")] == PROVISIONING

    def on_host(container_path: str) -> Path:
        path = PurePosixPath(container_path)
        for target, source in mounts.items():
            if path.is_relative_to(target):
                return source / path.relative_to(target)
        raise AssertionError(f"{container_path} is not mounted into the grafana service")

    providers = [
        provider
        for file in sorted((PROVISIONING / "dashboards").glob("*.yaml"))
        for provider in yaml.safe_load(file.read_text())["providers"]
    ]
    assert providers
    for provider in providers:
        folder = on_host(provider["options"]["path"])
        assert sorted(folder.glob("*.json")), f"provider {provider['name']} finds no dashboard in {folder}"
    home = on_host(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home.is_file()
    assert json.loads(home.read_text())["uid"]


def test_every_query_uses_the_provisioned_datasource(dashboard: dict[str, Any]) -> None:
    (datasource,) = yaml.safe_load(DATASOURCE_FILE.read_text())["datasources"]
    expected = {"type": datasource["type"], "uid": datasource["uid"]}
    queries = [*query_panels(dashboard), *dashboard["templating"]["list"]]
    for item in queries:
        assert item["datasource"] == expected, item.get("title", item.get("name"))
        for target in item.get("targets", []):
            assert target["datasource"] == expected, item["title"]
            assert target["rawSql"].strip(), item["title"]
    assert set(PANEL_TITLES) == set(EXPECTED), "every panel has an expected result below, and no other"
    assert len(PANEL_TITLES) == len(set(PANEL_TITLES)), "panel titles are unique"


@pytest.mark.integration
def test_pair_variable_lists_the_price_tables(pg: Any, pipeline: PipelineData) -> None:
    context = QueryContext(pipeline.now - TIME_RANGE, datetime.now(UTC))
    assert variable_values(pg, context) == PRICE_TABLES


@pytest.mark.integration
@pytest.mark.parametrize("title", PANEL_TITLES)
def test_panel_query_returns_the_expected_series(title: str, pg: Any, pipeline: PipelineData) -> None:
    (panel,) = [panel for panel in query_panels(DASHBOARD) if panel["title"] == title]
    (target,) = panel["targets"]
    context = QueryContext(pipeline.now - TIME_RANGE, datetime.now(UTC).replace(microsecond=0))
    repeated = "$pair" in target["rawSql"] or "${pair" in target["rawSql"]
    for pair in variable_values(pg, context) if repeated else [None]:
        variables = {"pair": pair} if pair else {}
        query = QueryContext(context.time_from, context.time_to, context.interval, variables)
        rows = run(pg, expand(target["rawSql"], query))
        expected = EXPECTED[title](pipeline, query, pair)
        assert rows, f"{title} ({pair}) returned nothing"
        if title in APPROXIMATE:
            assert [row[0] for row in rows] == [row[0] for row in expected]
            for (_, seconds), (_, expected_seconds) in zip(rows, expected, strict=True):
                assert abs(float(seconds) - expected_seconds) < 30, (title, rows, expected)
        else:
            assert rows == expected, f"{title} ({pair})"


@pytest.mark.integration
def test_every_panel_runs_on_a_fresh_deployment_before_the_quality_dag_has_run(pg: Any) -> None:
    """Only the producer's events, stored by the consumer: every table a panel reads exists from
    the first drain on (the quality results table included), so no panel shows an error."""
    data = write_pipeline_data(pg, datetime.now(UTC).replace(microsecond=0), quality=False)
    context = QueryContext(data.now - TIME_RANGE, datetime.now(UTC).replace(microsecond=0))
    for panel in query_panels(DASHBOARD):
        (target,) = panel["targets"]
        repeated = "$pair" in target["rawSql"] or "${pair" in target["rawSql"]
        for pair in variable_values(pg, context) if repeated else [None]:
            query = QueryContext(
                context.time_from, context.time_to, context.interval, {"pair": pair} if pair else {}
            )
            try:
                run(pg, expand(target["rawSql"], query))
            except psycopg.Error as error:
                pytest.fail(f"panel {panel['title']!r} ({pair}) fails on a fresh deployment: {error}")


@pytest.mark.integration
def test_original_dashboard_query_keeps_working(pg: Any, pipeline: PipelineData) -> None:
    rows = run(pg, 'SELECT "timestamp" AS "time", value FROM btcusd')
    assert sorted(rows) == sorted((item.recorded, item.price) for item in pipeline.prices("btcusd"))
    (panel,) = [panel for panel in query_panels(DASHBOARD) if "original" in panel["title"]]
    select_list = panel["targets"][0]["rawSql"].split(" FROM ")[0]
    assert select_list == 'SELECT "timestamp" AS "time", value'


@pytest.fixture
def init_script_database() -> Iterator[tuple[Postgres, dict[str, str]]]:
    """The compose init script run on the local server, with names of this test's own."""
    suffix = uuid.uuid4().hex[:8]
    names = {
        "CRYPTO_PRICES_DB": f"franz_test_init_{suffix}",
        "CRYPTO_PRICES_DB_USER": f"franz_test_pipeline_{suffix}",
        "CRYPTO_PRICES_DB_PASSWORD": "pipeline-password",
        "GRAFANA_DB_USER": f"franz_test_grafana_{suffix}",
        "GRAFANA_DB_PASSWORD": "grafana-password",
    }
    server = local_postgres("postgres")
    completed = subprocess.run(
        [
            "psql",
            "-X",
            "-h",
            server.host,
            "-p",
            str(server.port),
            "-U",
            server.user,
            "-d",
            "postgres",
            "-f",
            str(INIT_SCRIPT),
        ],
        env={**os.environ, **names},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    try:
        assert completed.returncode == 0, completed.stderr
        yield Postgres(server.host, server.port, server.user, names["CRYPTO_PRICES_DB"]), names
    finally:
        drop_database(server, names["CRYPTO_PRICES_DB"])
        with server.connect("postgres", autocommit=True) as admin:
            for role in (names["GRAFANA_DB_USER"], names["CRYPTO_PRICES_DB_USER"]):
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.integration
def test_grafana_role_reads_what_the_pipeline_writes(
    init_script_database: tuple[Postgres, dict[str, str]],
) -> None:
    database, names = init_script_database
    now = datetime.now(UTC).replace(microsecond=0)
    as_role = {
        role: Postgres(database.host, database.port, names[role], database.database)
        for role in ("CRYPTO_PRICES_DB_USER", "GRAFANA_DB_USER")
    }
    with as_role["CRYPTO_PRICES_DB_USER"].connect() as pipeline_conn:
        data = write_pipeline_data(pipeline_conn, now)
    context = QueryContext(now - TIME_RANGE, datetime.now(UTC))
    (freshness,) = [panel for panel in query_panels(DASHBOARD) if panel["title"].startswith("Freshness")]
    with as_role["GRAFANA_DB_USER"].connect() as grafana_conn:
        assert variable_values(grafana_conn, context) == PRICE_TABLES
        rows = run(grafana_conn, expand(freshness["targets"][0]["rawSql"], context))
        assert [pair for pair, _ in rows] == [pair for pair, _ in expect_freshness(data, context, None)]
        assert len(run(grafana_conn, "SELECT * FROM cryptowatch_api_allowance")) == len(data.observations)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            run(grafana_conn, "DELETE FROM btcusd")
