"""The "reading the prices from your own DAG" example of docs/connections.md, run as written.

The example's DAG is taken from the page, put in a DAG folder of its own and run with
``airflow dags test`` for one hour, against a database holding rows on both edges of that hour:
its query must count the rows of the hour, which a zero-length data interval (a cron string
schedule under Airflow 3) would not.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from devtools.local_stack import ROOT, Stack
from franz_ivan.store import Batch, PriceStore
from tests.helpers import BTC, START, price_at

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DOC = ROOT / "docs" / "connections.md"


def example_dag() -> str:
    """The Python block of the page that defines ``btcusd_report``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    [example] = [block for block in blocks if "def btcusd_report" in block]
    return str(example)


def unwrapped(value: Any) -> Any:
    """An XCom value as Airflow's serde stored it (tuples and decimals as tagged dicts), plain."""
    if isinstance(value, dict) and "__data__" in value:
        return unwrapped(value["__data__"])
    if isinstance(value, list):
        return [unwrapped(item) for item in value]
    return value


def test_the_hourly_example_reads_the_rows_of_its_hour(airflow_stack: Stack, pg: Any, tmp_path: Path) -> None:
    # Seconds after 12:00 of START's day: the hour 12:00-13:00 holds 0, 1800 and 3599.
    seconds = [-1, 0, 1800, 3599, 3600]
    store = PriceStore(pg, airflow_stack.topic, "doc-example")
    store.prepare()
    store.write(Batch(prices=[price_at(second, BTC, offset) for offset, second in enumerate(seconds)]))
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "btcusd_report.py").write_text(example_dag())

    hour_end = START.replace(hour=13).isoformat()
    airflow_stack.airflow(
        "dags", "test", "btcusd_report", hour_end, env={"AIRFLOW__CORE__DAGS_FOLDER": str(dags)}
    )

    with sqlite3.connect(airflow_stack.airflow_home / "airflow.db") as metadata:
        interval, value = metadata.execute(
            "SELECT dag_run.data_interval_start || ' ' || dag_run.data_interval_end, xcom.value"
            " FROM xcom JOIN dag_run ON dag_run.id = xcom.dag_run_id"
            " WHERE xcom.dag_id = 'btcusd_report' AND xcom.task_id = 'last_hour'"
            " AND xcom.key = 'return_value' ORDER BY xcom.timestamp DESC LIMIT 1"
        ).fetchone()
    print(f"data interval {interval}: {value}")
    assert interval == "2026-11-27 12:00:00.000000 2026-11-27 13:00:00.000000", (
        f"the example's run covers {interval}, not the hour before 13:00"
    )
    [(low, high, _average, count)] = unwrapped(json.loads(value))
    assert count == 3, f"the example counted {count} rows of its hour, not 3 (data interval {interval})"
    assert (low, high) == (1000.25, 4599.25)
