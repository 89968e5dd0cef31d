"""The shipped metadata cleanup keeps the metadata database bounded, on a simulated week.

One real producer run (``airflow dags test``) gives the rows a run leaves in each table the cleanup
covers (its run, task instances, XComs, Asset event, log entries; jobs are the services', not the
runs', and ``dags test`` makes none); those rows are copied back
in time to make a week of scheduled runs, one every 10 minutes (a tenth of the producer's density,
to keep the test short: the bound is per day, the density only scales it). Then the Helm CronJob's
own script runs (compose's ``airflow-cleanup`` runs the same commands daily: tests/deploy) with a
retention of 3 days: what is older goes, from every table, and no archive is left.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.local_stack import Stack
from tests.deploy.deploy_files import HELM_VALUES

pytestmark = pytest.mark.integration

PRODUCER = "crypto_prices_producer"
TABLES = ("dag_run", "task_instance", "xcom", "asset_event", "log", "job")
DAYS = 7
EVERY = timedelta(minutes=10)
RETENTION_DAYS = 3
TIME_COLUMNS = {
    "dag_run": "run_after",
    "task_instance": "start_date",
    "xcom": "timestamp",
    "asset_event": "timestamp",
    "log": "dttm",
    "job": "start_date",
}


@contextmanager
def metadata(stack: Stack) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(stack.airflow_home / "airflow.db")) as conn:
        conn.row_factory = sqlite3.Row
        yield conn


def timestamp_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})") if row["type"] == "TIMESTAMP"}


def shifted(row: dict[str, Any], columns: set[str], by: timedelta) -> dict[str, Any]:
    moved = dict(row)
    for name in columns:
        if moved.get(name):
            moved[name] = (datetime.fromisoformat(moved[name]) + by).isoformat(sep=" ")
    return moved


def insert(conn: sqlite3.Connection, table: str, row: dict[str, Any]) -> int:
    names = ", ".join(f'"{name}"' for name in row)
    cursor = conn.execute(
        f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(row))})", list(row.values())
    )
    return int(cursor.lastrowid or 0)


def simulate_week(conn: sqlite3.Connection, now: datetime) -> int:
    """Copy the producer run's rows back in time, one scheduled run every :data:`EVERY` over :data:`DAYS`
    days before ``now``; return how many runs were made."""
    # The producer run the test just made (the newest): the copied home may hold earlier ones.
    template = dict(
        conn.execute(
            "SELECT * FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (PRODUCER,)
        ).fetchone()
    )
    run_id, run_pk = template["run_id"], template["id"]
    rows = {
        "task_instance": conn.execute("SELECT * FROM task_instance WHERE run_id = ?", (run_id,)).fetchall(),
        "xcom": conn.execute("SELECT * FROM xcom WHERE dag_run_id = ?", (run_pk,)).fetchall(),
        "asset_event": conn.execute(
            "SELECT * FROM asset_event WHERE source_run_id = ?", (run_id,)
        ).fetchall(),
        "log": conn.execute("SELECT * FROM log WHERE run_id = ?", (run_id,)).fetchall(),
    }
    assert all(rows.values()), {table: len(found) for table, found in rows.items()}
    columns = {table: timestamp_columns(conn, table) for table in TABLES}
    origin = datetime.fromisoformat(template["run_after"]).replace(tzinfo=UTC)
    count = int(timedelta(days=DAYS) / EVERY)
    for number in range(count):
        by = (now - timedelta(days=DAYS) + number * EVERY) - origin
        new_run = f"scheduled__simulated_{number}"
        run = shifted({**template, "run_id": new_run, "run_type": "scheduled"}, columns["dag_run"], by)
        run.pop("id")
        pk = insert(conn, "dag_run", run)
        for table, found in rows.items():
            for row in found:
                copy = shifted(dict(row), columns[table], by)
                copy.pop("id", None) if table != "task_instance" else copy.update(id=uuid.uuid4().hex)
                if table in {"task_instance", "xcom", "log"}:
                    copy["run_id"] = new_run
                if table == "xcom":
                    copy["dag_run_id"] = pk
                if table == "asset_event":
                    copy["source_run_id"] = new_run
                insert(conn, table, copy)
    conn.commit()
    return count


def older_than(conn: sqlite3.Connection, cutoff: datetime) -> dict[str, int]:
    stamp = cutoff.replace(tzinfo=None).isoformat(sep=" ")
    return {
        table: conn.execute(f'SELECT count(*) FROM {table} WHERE "{column}" < ?', (stamp,)).fetchone()[0]
        for table, column in TIME_COLUMNS.items()
    }


def counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}


def test_the_shipped_cleanup_keeps_only_the_retention_of_a_simulated_week(
    airflow_stack: Stack, tmp_path: Path
) -> None:
    # A metadata database of its own (a copy of the worker's migrated one): the cleanup deletes rows
    # that the worker's other tests read.
    shutil.copy(airflow_stack.airflow_home / "airflow.db", tmp_path / "airflow.db")
    airflow_stack = replace(airflow_stack, airflow_home=tmp_path)
    airflow_stack.airflow("dags", "test", PRODUCER)
    now = datetime.now(UTC)
    with metadata(airflow_stack) as conn:
        recent = counts(conn)  # this test's run, and any the copy brought along: all kept
        existing = recent["dag_run"]
        runs = simulate_week(conn, now)
        before = counts(conn)
    assert before["dag_run"] == runs + existing

    script = yaml.safe_load(HELM_VALUES.read_text())["cleanup"]["args"][0]
    completed = subprocess.run(
        ["bash", "-c", script],
        env={**airflow_stack.airflow_env(), "METADATA_RETENTION_DAYS": str(RETENTION_DAYS)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]

    cutoff = now - timedelta(days=RETENTION_DAYS)
    with metadata(airflow_stack) as conn:
        after = counts(conn)
        left_behind = older_than(conn, cutoff - timedelta(minutes=5))  # the script's clock ran later
        archives = conn.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE '_airflow_deleted%'")
        assert archives.fetchone()[0] == 0, "an archive table keeps the database as large as before"
    print(f"\nsimulated week: {before}\nafter the cleanup ({RETENTION_DAYS} days kept): {after}")
    assert left_behind == dict.fromkeys(TIME_COLUMNS, 0), left_behind
    kept_runs = int(timedelta(days=RETENTION_DAYS) / EVERY) + existing  # and the real runs
    assert kept_runs - 2 <= after["dag_run"] <= kept_runs + 1
    for table in ("task_instance", "xcom", "asset_event", "log"):
        simulated, kept = before[table] - recent[table], after[table] - recent[table]
        assert kept <= simulated * (RETENTION_DAYS + 0.1) / DAYS, (table, before, after)
