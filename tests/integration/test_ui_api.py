"""The "Crypto prices" page's API, served by a real ``airflow api-server`` with the plugin loaded.

One api-server and one PostgreSQL database for the module; each test seeds pairs of its own.
Expected answers are computed here from the seeded rows, independently of the SQL.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from devtools.local_stack import Broker, Postgres, Stack, drop_database, local_postgres
from devtools.ui_seed import (
    PriceRow,
    create_quality_results,
    create_tables,
    insert_allowance,
    insert_prices,
)
from devtools.ui_server import UiServer, ui_api_server

pytestmark = [pytest.mark.integration]

SECRET = "pg-password-" + uuid.uuid4().hex
"""The PostgreSQL connection's password (trust auth ignores it): it must appear in no answer."""
ROUTES = ["/", "/static/uPlot.iife.min.js", "/api/overview", "/api/prices?pair=btcusd&range=1h", "/api/lag"]


@dataclass
class Ui:
    server: UiServer
    postgres: Postgres
    topic: str
    bootstrap: str
    token: str

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.server.get(path, self.token, **kwargs)
        assert SECRET not in response.text
        return response

    def json(self, path: str) -> Any:
        response = self.get(path)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="module")
def ui(migrated_airflow_home: Path, broker: Broker) -> Iterator[Ui]:
    from franz_ivan.publish import ensure_topic

    database = f"franz_ui_{uuid.uuid4().hex[:10]}"
    topic = f"crypto_prices_ui_{uuid.uuid4().hex[:10]}"
    postgres = local_postgres(database)
    connection = {
        "conn_type": "postgres",
        "host": postgres.host,
        "port": postgres.port,
        "login": postgres.user,
        "password": SECRET,
        "schema": database,
    }
    stack = Stack(
        broker, postgres, "http://unused", migrated_airflow_home, topic=topic,
        connections={"CRYPTO_PRICES_POSTGRES": connection},
    )  # fmt: skip
    ensure_topic({"bootstrap.servers": broker.bootstrap}, topic, 1, timeout=30)
    try:
        with postgres.connect() as conn:
            create_tables(conn, [])
        with ui_api_server(stack) as server:
            yield Ui(server, postgres, topic, broker.bootstrap, server.token())
    finally:
        drop_database(postgres, database)


def new_pair() -> str:
    return "t" + uuid.uuid4().hex[:12]


def seed(ui: Ui, pair: str, rows: list[PriceRow]) -> None:
    with ui.postgres.connect() as conn:
        create_tables(conn, [pair])
        insert_prices(conn, pair, rows)


def floor_to(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + ((moment - epoch) // width) * width


def expected_lines(rows: list[PriceRow], width: timedelta, since: datetime) -> list[dict[str, Any]]:
    """The downsampling the API promises: per line and bin, first open, max high, min low, last close."""
    bins: dict[tuple[str, str, str], dict[datetime, list[PriceRow]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if row.observed_at >= since:
            bins[(row.source, row.exchange, row.kind)][floor_to(row.observed_at, width)].append(row)
    lines = []
    for (source, exchange, kind), by_bin in sorted(bins.items()):
        points = []
        for start, members in sorted(by_bin.items()):
            members.sort(key=lambda row: row.observed_at)
            points.append(
                [
                    int(start.timestamp()),
                    str(members[0].open if members[0].open is not None else members[0].value),
                    str(max(max(row.high or row.value, row.value) for row in members)),
                    str(min(min(row.low or row.value, row.value) for row in members)),
                    str(members[-1].value),
                    len(members),
                ]
            )
        lines.append({"source": source, "exchange": exchange, "kind": kind, "points": points})
    return lines


def test_anonymous_and_forged_requests_are_refused(ui: Ui) -> None:
    for route in ROUTES:
        assert ui.server.get(route).status_code == 401, route
        assert ui.server.get(route, token="not-a-jwt").status_code == 403, route
        forged = ui.token[:-4] + ("AAAA" if not ui.token.endswith("AAAA") else "BBBB")
        assert ui.server.get(route, token=forged).status_code == 403, route
    assert ui.get("/").status_code == 200
    assert ui.server.get("/", cookies={"_token": ui.token}).status_code == 200, "the UI's login cookie"


def test_the_api_is_read_only(ui: Ui) -> None:
    import requests

    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for route in ROUTES:
            response = requests.request(
                method, f"{ui.server.url}/crypto-prices{route}", timeout=30,
                headers={"Authorization": f"Bearer {ui.token}"},
            )  # fmt: skip
            assert response.status_code == 405, (method, route, response.status_code)


def test_the_database_session_refuses_writes(monkeypatch: pytest.MonkeyPatch, ui: Ui) -> None:
    import psycopg

    from franz_ivan.ui.page_app import read_only_connection

    monkeypatch.setenv(
        "AIRFLOW_CONN_CRYPTO_PRICES_POSTGRES",
        json.dumps({"conn_type": "postgres", "host": ui.postgres.host, "port": ui.postgres.port,
                    "login": ui.postgres.user, "schema": ui.postgres.database}),
    )  # fmt: skip
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), read_only_connection() as conn:
        conn.execute("CREATE TABLE ui_must_not_exist (x int)")
    with ui.postgres.connect() as conn:
        assert conn.execute("SELECT to_regclass('ui_must_not_exist')").fetchone() == (None,)


def test_one_hour_of_ticks_is_binned_per_minute_with_one_line_per_source(ui: Ui) -> None:
    pair = new_pair()
    start = floor_to(datetime.now(UTC), timedelta(minutes=1)) - timedelta(minutes=10)
    rows = [
        PriceRow(start + timedelta(seconds=20 * k), Decimal("100.5") + k, "coinbase-pro", "coinbase-pro")
        for k in range(15)
    ] + [
        PriceRow(start + timedelta(seconds=30 * k + 7), Decimal("99.25") - k, "kraken", "kraken")
        for k in range(8)
    ]
    rows.append(PriceRow(start - timedelta(hours=2), Decimal(1), "kraken", "kraken"))  # outside 1 h
    seed(ui, pair, rows)

    answer = ui.json(f"/api/prices?pair={pair}&range=1h")

    since = datetime.fromtimestamp(answer["since"], UTC)
    assert (answer["pair"], answer["range"], answer["bin_seconds"], answer["truncated"]) == (
        pair,
        "1h",
        60,
        False,
    )
    assert answer["since"] % 60 == 0
    assert timedelta(hours=1) <= datetime.fromtimestamp(answer["until"], UTC) - since < timedelta(minutes=65)
    assert answer["lines"] == expected_lines(rows, timedelta(minutes=1), since)
    coinbase = answer["lines"][0]["points"]
    assert [point[5] for point in coinbase] == [3, 3, 3, 3, 3], "three ticks per minute"
    assert coinbase[-1][4] == "114.5", "the last price of the line"


def test_a_week_is_binned_per_hour_and_older_rows_are_left_out(ui: Ui) -> None:
    pair = new_pair()
    hour = floor_to(datetime.now(UTC), timedelta(hours=1))
    rows = [
        PriceRow(hour - timedelta(hours=h) + timedelta(minutes=m), Decimal(f"{1000 + h}.{m:02d}"))
        for h in range(1, 31)
        for m in (0, 15, 30, 45)
    ]
    rows.append(PriceRow(hour - timedelta(days=8), Decimal(5)))
    seed(ui, pair, rows)

    week = ui.json(f"/api/prices?pair={pair}&range=7d")
    day = ui.json(f"/api/prices?pair={pair}&range=24h")

    assert week["bin_seconds"] == 3600
    assert week["lines"] == expected_lines(
        rows, timedelta(hours=1), datetime.fromtimestamp(week["since"], UTC)
    )
    assert len(week["lines"][0]["points"]) == 30
    assert [point[5] for point in week["lines"][0]["points"]] == [4] * 30
    assert day["bin_seconds"] == 600
    assert day["lines"] == expected_lines(
        rows, timedelta(minutes=10), datetime.fromtimestamp(day["since"], UTC)
    )


def test_candles_keep_their_own_open_high_and_low(ui: Ui) -> None:
    pair = new_pair()
    start = floor_to(datetime.now(UTC), timedelta(minutes=10)) - timedelta(minutes=30)
    candles = [
        PriceRow(
            start + timedelta(minutes=m), Decimal(200 + m), "kraken", "kraken", "candle",
            open=Decimal(199 + m), high=Decimal(210 + m), low=Decimal(190 - m),
        )
        for m in range(12)
    ]  # fmt: skip
    ticks = [
        PriceRow(start + timedelta(minutes=m, seconds=30), Decimal(300 + m), "kraken", "kraken")
        for m in range(3)
    ]
    seed(ui, pair, candles + ticks)

    day = ui.json(f"/api/prices?pair={pair}&range=24h")

    assert day["lines"] == expected_lines(
        candles + ticks, timedelta(minutes=10), datetime.fromtimestamp(day["since"], UTC)
    )
    candle_line = next(line for line in day["lines"] if line["kind"] == "candle")
    first_bin = candle_line["points"][0]
    assert first_bin[1:6] == ["199", "219", "181", "209", 10], (
        "open of the first, max high, min low, last close"
    )


def test_a_table_from_before_candles_is_drawn_as_ticks(ui: Ui) -> None:
    from psycopg import sql

    pair = new_pair()
    start = floor_to(datetime.now(UTC), timedelta(minutes=1)) - timedelta(minutes=5)
    rows = [PriceRow(start + timedelta(seconds=30 * k), Decimal(50 + k)) for k in range(6)]
    with ui.postgres.connect() as conn:
        create_tables(conn, [pair], candle_columns=False)
        for n, row in enumerate(rows):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (value, source, exchange, observed_at, event_id, kafka_partition, "
                    "kafka_offset) VALUES (%s, %s, %s, %s, %s, 0, %s)"
                ).format(sql.Identifier(pair)),
                (row.value, row.source, row.exchange, row.observed_at, uuid.uuid4(), n),
            )
        conn.commit()

    answer = ui.json(f"/api/prices?pair={pair}&range=1h")

    assert answer["lines"] == expected_lines(
        rows, timedelta(minutes=1), datetime.fromtimestamp(answer["since"], UTC)
    )
    assert [point[5] for point in answer["lines"][0]["points"]] == [2, 2, 2]


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("pair=btc%3Bdrop%20table%20btcusd&range=1h", "pair"),
        ("pair=" + "a" * 5000 + "&range=1h", "pair"),
        ("pair=BTCUSD&range=1h", "pair"),
        ("pair=btcusd&range=30d", "range"),
        ("pair=btcusd&range=1h%27%20or%201%3D1", "range"),
        ("pair=btcusd&range=1h&limit=100000000", "limit"),
        ("pair=btcusd&pair=ethusd&range=1h", "pair"),
        ("range=1h", "pair"),
    ],
)
def test_hostile_parameters_get_a_4xx_naming_the_problem(ui: Ui, query: str, named: str) -> None:
    response = ui.get(f"/api/prices?{query}")
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert named in detail
    assert len(detail) < 400, "the error does not echo a huge parameter back"


def test_unknown_pairs_and_files_are_404(ui: Ui) -> None:
    assert ui.get("/api/prices?pair=nosuchpair&range=1h").status_code == 404
    assert "nosuchpair" in ui.get("/api/prices?pair=nosuchpair&range=1h").json()["detail"]
    for name in ("..%2Fpage_app.py", "index.html", "..%2F..%2F..%2Fsettings.py", "page_app.py"):
        assert ui.get(f"/static/{name}").status_code == 404, name
    assert ui.get("/api/overview?debug=1").status_code == 422


def test_overview_shows_freshness_allowance_dead_letters_and_failing_checks(ui: Ui) -> None:
    pair = new_pair()
    now = datetime.now(UTC)
    seed(
        ui,
        pair,
        [
            PriceRow(now - timedelta(minutes=5), Decimal(1), "kraken", "kraken"),
            PriceRow(now - timedelta(minutes=2), Decimal(2), "kraken", "kraken"),
            PriceRow(now - timedelta(hours=3), Decimal(3), "cryptowatch", "coinbase-pro"),
        ],
    )
    silent = new_pair()
    seed(ui, silent, [PriceRow(now - timedelta(days=9), Decimal(4))])
    body = "MESSAGE-BODY-" + uuid.uuid4().hex
    with ui.postgres.connect() as conn:
        for source, remaining, minutes_ago in (("kraken", 40, 9), ("kraken", 37, 1), ("binance", 5900, 3)):
            insert_allowance(
                conn,
                source=source,
                exchange=source,
                pair=pair,
                remaining=Decimal(remaining),
                at=now - timedelta(minutes=minutes_ago),
            )
        for offset, age in ((1, timedelta(hours=1)), (2, timedelta(hours=2)), (3, timedelta(hours=25))):
            conn.execute(
                'INSERT INTO crypto_prices_dead_letter ("timestamp", topic, kafka_partition, kafka_offset, '
                "message_key, message_value, error) VALUES (%s, %s, 0, %s, NULL, %s, %s)",
                (now - age, ui.topic, offset, body.encode(), f"<script>alert({offset})</script> bad price"),
            )
        conn.commit()

    overview = ui.json("/api/overview")
    assert body not in json.dumps(overview)

    assert {pair, silent} <= set(overview["pairs"])
    mine = [market for market in overview["freshness"] if market["pair"] == pair]
    assert [(m["source"], m["exchange"]) for m in mine] == [
        ("cryptowatch", "coinbase-pro"),
        ("kraken", "kraken"),
    ]
    assert datetime.fromisoformat(mine[1]["newest_observed_at"]) == now - timedelta(minutes=2)
    assert 120 <= mine[1]["age_seconds"] < 120 + 300
    assert 3 * 3600 <= mine[0]["age_seconds"] < 3 * 3600 + 300
    assert [m for m in overview["freshness"] if m["pair"] == silent] == [
        {"pair": silent, "source": None, "exchange": None, "newest_observed_at": None, "age_seconds": None}
    ]
    allowance = {a["source"]: a for a in overview["allowance"]}
    assert (allowance["kraken"]["remaining"], allowance["binance"]["remaining"]) == ("37", "5900")
    dead = overview["dead_letters_24h"]
    assert dead["count"] == 2
    assert [(d["partition"], d["offset"]) for d in dead["latest"]] == [(0, 1), (0, 2)]
    assert overview["failing_checks"] is None, "no quality table yet"

    with ui.postgres.connect() as conn:
        create_quality_results(conn)
        insert = "INSERT INTO crypto_prices_quality_results VALUES (%s, %s, %s, %s, %s, %s, %s, 'run_1')"
        conn.execute(
            insert, (now - timedelta(hours=2), "freshness", "kraken:btcusd", 900, 300, "fail", "old")
        )
        conn.execute(insert, (now - timedelta(hours=1), "freshness", "kraken:btcusd", 30, 300, "pass", "ok"))
        conn.execute(insert, (now - timedelta(hours=1), "spread", "kraken:btcusd", 5, 2, "fail", "5 % apart"))
        conn.execute(insert, (now - timedelta(hours=1), "spread", "binance:btcusdt", 1, 2, "pass", "ok"))
        conn.commit()
    checks = ui.json("/api/overview")["failing_checks"]
    assert [(c["check_name"], c["market"], c["observed_value"], c["message"]) for c in checks] == [
        ("spread", "kraken:btcusd", "5", "5 % apart")
    ]


def test_lag_is_end_offsets_minus_stored_positions(ui: Ui) -> None:
    from confluent_kafka import Producer

    from franz_ivan.settings import CONSUMER_GROUP

    producer = Producer({"bootstrap.servers": ui.bootstrap})
    for n in range(5):
        producer.produce(ui.topic, value=f"event {n}".encode(), partition=0)
        assert producer.flush(30) == 0  # one batch per message: Tansu's high watermark is then exact

    lag = ui.json("/api/lag")
    assert lag == {"topic": ui.topic, "consumer_group": CONSUMER_GROUP, "partitions": {"0": 5}, "total": 5}

    with ui.postgres.connect() as conn:
        conn.execute(
            "INSERT INTO crypto_prices_consumer_offsets "
            "(consumer_group, topic, kafka_partition, next_offset) VALUES (%s, %s, 0, 2)",
            (CONSUMER_GROUP, ui.topic),
        )
        conn.commit()
    assert ui.json("/api/lag")["partitions"] == {"0": 3}


def test_the_page_loads_its_chart_library_from_the_plugin(ui: Ui) -> None:
    page = ui.get("/")
    assert page.status_code == 200
    assert "frame-ancestors 'self'" in page.headers["Content-Security-Policy"]
    assert 'src="static/uPlot.iife.min.js"' in page.text
    assert "http://" not in page.text, "nothing from a CDN"
    assert "https://" not in page.text, "nothing from a CDN"
    library = ui.get("/static/uPlot.iife.min.js")
    assert library.status_code == 200
    assert library.text.startswith("/*! https://github.com/leeoniya/uPlot (v1.6.32) */")
    assert (
        "MIT" in ui.get("/static/uPlot.LICENSE").text
        or "Permission is hereby granted" in ui.get("/static/uPlot.LICENSE").text
    )
