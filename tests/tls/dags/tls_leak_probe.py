"""
### TLS leak probe (tests only)

Logs the pipeline's connections the careless ways a DAG author might: the whole extra, each value,
the password, and ``print``. The TLS tests run it to see what Airflow's masking leaves visible.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from franz_ivan.settings import KAFKA_CONN_ID, POSTGRES_CONN_ID


@dag(
    dag_id="tls_leak_probe",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["test"],
    default_args={"retries": 0},
)
def tls_leak_probe() -> None:
    @task
    def log_connections() -> None:
        """Log and print every field of both connections."""
        import logging

        from airflow.sdk import BaseHook

        log = logging.getLogger("tls_leak_probe")
        for conn_id in (KAFKA_CONN_ID, POSTGRES_CONN_ID):
            conn = BaseHook.get_connection(conn_id)
            log.info("%s extra: %s", conn_id, conn.extra_dejson)
            for key, value in conn.extra_dejson.items():
                log.info("%s %s = %s", conn_id, key, value)
                print(f"{conn_id} {key} = {value}")  # what a careless author does
            log.info("%s password: %s", conn_id, conn.password)
            print(f"{conn_id} password = {conn.password}")

    log_connections()


tls_leak_probe()
