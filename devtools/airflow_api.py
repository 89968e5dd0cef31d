"""A small client of the Airflow 3 public REST API (``/api/v2``), logged in as a simple-auth user."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from devtools.local_stack import StackError


class AirflowApi:
    """A small client of the Airflow 3 public REST API (``/api/v2``), logged in as a simple-auth user."""

    def __init__(self, url: str, username: str, password: str) -> None:
        import requests

        self.url = url
        self.username = username
        self.password = password
        self.session = requests.Session()

    def login(self) -> None:
        response = self.session.post(
            f"{self.url}/auth/token", json={"username": self.username, "password": self.password}, timeout=10
        )
        if response.status_code != 201:
            raise StackError(
                f"login as {self.username!r} refused: HTTP {response.status_code} {response.text}"
            )
        self.session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def call(self, method: str, path: str, *, missing_ok: bool = False, **kwargs: Any) -> Any:
        """``method`` ``/api/v2{path}``: the decoded JSON answer (``None`` for a 404 if ``missing_ok``).

        Logs in when the token is missing or has expired.
        """
        for _ in range(2):
            if "Authorization" not in self.session.headers:
                self.login()
            response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=30, **kwargs)
            if response.status_code != 401:
                break
            del self.session.headers["Authorization"]
        if missing_ok and response.status_code == 404:
            return None
        if not response.ok:
            raise StackError(f"{method} /api/v2{path}: HTTP {response.status_code} {response.text[:500]}")
        return response.json()

    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed); empty while the server does not answer."""
        import requests

        try:
            response = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5)
        except (requests.ConnectionError, requests.Timeout):
            return {}
        return dict(response.json()) if response.ok else {}

    def dag_exists(self, dag_id: str) -> bool:
        return self.call("GET", f"/dags/{dag_id}", missing_ok=True) is not None

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str) -> dict[str, Any]:
        """A manual run now: what the UI's Trigger dialog sends (it adds the time as logical date)."""
        run: dict[str, Any] = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None})
        return run

    def dag_runs(self, dag_id: str) -> list[dict[str, Any]]:
        """Every run of ``dag_id``, oldest first."""
        runs: list[dict[str, Any]] = []
        while True:
            page = self.call(
                "GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, "offset": len(runs), "order_by": "id"}
            )["dag_runs"]
            runs.extend(page)
            if len(page) < 100:
                return runs

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        run: dict[str, Any] = self.call("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")
        return run

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        answer = self.call("GET", path, params={"limit": 100})
        instances: list[dict[str, Any]] = answer["task_instances"]
        return instances
