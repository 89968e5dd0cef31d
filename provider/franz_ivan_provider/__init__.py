"""Airflow provider metadata of franz-ivan: the ``franz_ivan_postgres`` connection type.

Only names, as strings: the hook class is imported by Airflow when a connection of this type is
used, from the plugins folder (``franz_ivan`` is not installed into site-packages).
"""

from __future__ import annotations

from typing import Any

CONNECTION_TYPE = "franz_ivan_postgres"
HOOK_CLASS = "franz_ivan.hooks.postgres.PricesPostgresHook"


def get_provider_info() -> dict[str, Any]:
    """What Airflow's ProvidersManager reads from the ``apache_airflow_provider`` entry point."""
    return {
        "package-name": "franz-ivan-airflow-provider",
        "name": "franz-ivan",
        "description": "PostgreSQL connections with the TLS CA, certificate and key held inline as PEM.",
        "versions": ["1.0.0"],
        "connection-types": [{"hook-class-name": HOOK_CLASS, "connection-type": CONNECTION_TYPE}],
    }
