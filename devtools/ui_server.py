"""Airflow's api-server alone (UI, REST API and the plugins' apps) on a :class:`Stack`, logged in as admin.

What the "Crypto prices" page needs and nothing more: the page's API tests, its browser test and its
latency benchmark start it here, on the stack's SQLite metadata (migrated by the caller), with the
simple auth manager and the same admin user and password file as ``make up``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from devtools.airflow_api import AirflowApi
from devtools.airflow_services import (
    ADMIN,
    SIMPLE_AUTH_MANAGER,
    admin_password,
    airflow_components,
    passwords_file,
)
from devtools.local_stack import Stack, free_port, wait_for_port, wait_until
from devtools.processes import Service

STARTUP_SECONDS = 240.0
PAGE_PREFIX = "/crypto-prices"


@dataclass
class UiServer:
    """A running api-server: its URL, the admin's password, and a logged-in REST client."""

    url: str
    password: str
    service: Service
    api: AirflowApi

    def token(self) -> str:
        """A fresh JWT for the admin, as ``POST /auth/token`` issues it."""
        import requests

        response = requests.post(
            f"{self.url}/auth/token", json={"username": ADMIN, "password": self.password}, timeout=30
        )
        response.raise_for_status()
        token: str = response.json()["access_token"]
        return token

    def get(self, path: str, token: str | None = None, **kwargs: Any) -> Any:
        """``GET`` a path of the page's app (``/api/prices``, say), with ``token`` if given."""
        import requests

        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{self.url}{PAGE_PREFIX}{path}", headers=headers, timeout=60, **kwargs)


def api_server_env(stack: Stack) -> dict[str, str]:
    return {
        **stack.airflow_env(),
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(stack.airflow_home)),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
        "AIRFLOW__API__WORKERS": "1",
    }


@contextmanager
def ui_api_server(stack: Stack, port: int | None = None) -> Iterator[UiServer]:
    """Start ``airflow api-server`` for ``stack`` (metadata already migrated); stop it when the block ends."""
    port = port or free_port()
    password = admin_password(stack.airflow_home)
    command = ["api-server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with airflow_components([command], api_server_env(stack), stack.airflow_home / "logs") as (service,):
        url = f"http://127.0.0.1:{port}"
        wait_for_port("127.0.0.1", port, STARTUP_SECONDS, "the api-server")
        api = AirflowApi(url, ADMIN, password)

        def healthy() -> bool | None:
            if not service.alive():
                raise RuntimeError(f"the api-server exited; end of {service.log_path}:\n{service.log_tail()}")
            return True if api.health() else None

        wait_until(healthy, STARTUP_SECONDS, f"the api-server at {url} to answer")
        yield UiServer(url, password, service, api)
