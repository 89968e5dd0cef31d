"""The one way to run Airflow's long-running components (api-server, dag-processor, triggerer,
scheduler) for ``make up``, the end-to-end tests and the TLS tests.

:func:`airflow_components` starts any of them as :class:`devtools.processes.Service` s and stops them
in reverse order; :func:`airflow_services` is ``make up``'s whole Airflow: metadata in the local
PostgreSQL (:func:`metadata_database`), the markets Variable seeded there, the consumer's pool
created (:func:`set_drains_pool`), the four components, health waited for, DAGs unpaused.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from devtools.airflow_api import AirflowApi
from devtools.local_stack import Stack, StackError, free_port, local_postgres, wait_until
from devtools.processes import Service, start_service

PRODUCER = "crypto_prices_producer"
CONSUMER = "crypto_prices_consumer"
QUALITY = "crypto_prices_quality"
DAG_IDS = (PRODUCER, CONSUMER, QUALITY)
SENSOR_TASK = "wait_for_events"
COMPONENTS = ("api-server", "dag-processor", "triggerer", "scheduler")
"""In start order; they stop in reverse, the scheduler first while the API still serves its tasks."""
COMPONENT_HEALTH = ("scheduler", "triggerer", "dag_processor")
"""The parts of ``/monitor/health`` besides the metadata database that must report healthy."""
ADMIN = "admin"
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
STARTUP_SECONDS = 240.0
PARALLELISM = 8
"""Worker slots (the LocalExecutor's task processes): the producer's peak of six and two drains."""


def ensure_port_free(port: int) -> None:
    """Refuse a port something else listens on: health checks would otherwise ask that other server."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is fine
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StackError(f"port {port} is in use; pick another with --port") from None


def admin_password(airflow_home: Path) -> str:
    """The admin's password, kept in the simple auth manager's password file (made on first use)."""
    path = passwords_file(airflow_home)
    if not path.exists():
        airflow_home.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({ADMIN: secrets.token_urlsafe(12)}) + "\n")
        path.chmod(0o600)
    password: str = json.loads(path.read_text())[ADMIN]
    return password


def passwords_file(airflow_home: Path) -> Path:
    return airflow_home / "simple_auth_manager_passwords.json"


def metadata_database(airflow_home: Path) -> str:
    """The PostgreSQL database holding this Airflow home's metadata (one per home, kept between starts).

    Four components write the metadata at once. On SQLite the busy two-core machine saw one of them
    hold the write lock for over a minute, stalling the API and the triggerer, so the long-running
    services use the local PostgreSQL server, as a real deployment does.
    """
    return "airflow_meta_" + hashlib.sha256(str(airflow_home.resolve()).encode()).hexdigest()[:12]


def services_env(stack: Stack, port: int) -> dict[str, str]:
    """The stack's Airflow environment plus what the long-running components need to work together."""
    server = local_postgres(metadata_database(stack.airflow_home))
    return {
        **stack.airflow_env(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.database}"
        ),
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Tasks report to the API; under load an answer took over the default 5 s, the task's
        # client sent its start again, and the scheduler failed the task over the duplicate.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        # As the deployments: a producer run unfinished 3 minutes after it was queued alerts.
        "CRYPTO_PRICES_PRODUCER_DEADLINE": "180",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords_file(stack.airflow_home)),
        # One secret for every component of this run: the scheduler signs the tokens the API checks.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(64),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        # The log servers' fixed default ports (8793, 8794) clash between stacks on one machine.
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
    }


@dataclass
class Airflow:
    """The running Airflow services of a :class:`Stack`."""

    stack: Stack
    port: int
    password: str
    services: list[Service]
    api: AirflowApi

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def markets(self) -> list[str]:
        """The markets the producer's next run reads: the Variable as stored now (a person may have
        edited it since it was seeded), else the producer's default. Raises ``MarketsError`` for a
        Variable the producer would refuse."""
        from franz_ivan.markets import parse_markets
        from franz_ivan.settings import DEFAULT_MARKETS, MARKETS_VARIABLE

        variable = self.api.call("GET", f"/variables/{MARKETS_VARIABLE}", missing_ok=True)
        raw = variable["value"] if variable else json.dumps(DEFAULT_MARKETS)
        return [market.key for market in parse_markets(raw)]

    def check_alive(self) -> None:
        """Raise, with the end of its log, if a component has exited."""
        for service in self.services:
            if not service.alive():
                raise StackError(
                    f"airflow {service.name} exited with {service.process.returncode}; "
                    f"end of {service.log_path}:\n{service.log_tail()}"
                )

    def wait_healthy(self, timeout: float) -> None:
        def healthy() -> bool | None:
            self.check_alive()
            health = self.api.health()
            states = {
                part: health.get(part, {}).get("status") for part in ("metadatabase", *COMPONENT_HEALTH)
            }
            return True if health and all(state == "healthy" for state in states.values()) else None

        wait_until(healthy, timeout, f"every Airflow component to report healthy at {self.url}")

    def wait_for_dags(self, timeout: float) -> None:
        def parsed() -> bool | None:
            self.check_alive()
            return True if all(self.api.dag_exists(dag_id) for dag_id in DAG_IDS) else None

        wait_until(parsed, timeout, f"the dag-processor to parse {', '.join(DAG_IDS)}", interval=2)

    def wait_for_listening_consumer(self, timeout: float) -> None:
        """Wait until a consumer run's sensor is deferred, i.e. its trigger polls in the triggerer.

        The producer starts only then, as in a deployment where the consumer is always there. A
        sensor that defers while events are already pending is resumed before the scheduler has
        seen it defer, and Airflow 3.3.2 then fails that try ("finished with state success, but
        the task instance's state attribute is queued"); the retry recovers, at a cost.
        """

        def listening() -> bool | None:
            self.check_alive()
            runs = [run for run in self.api.dag_runs(CONSUMER) if run["state"] == "running"]
            return next(
                (
                    True
                    for run in runs
                    for ti in self.api.task_instances(CONSUMER, run["dag_run_id"])
                    if (ti["task_id"], ti["state"]) == (SENSOR_TASK, "deferred")
                ),
                None,
            )

        wait_until(listening, timeout, f"{CONSUMER}.{SENSOR_TASK} to defer", interval=2)


@contextmanager
def airflow_components(
    commands: Sequence[Sequence[str]], env: dict[str, str], log_dir: Path
) -> Iterator[list[Service]]:
    """Start ``airflow COMMAND`` for each command in order (``["triggerer"]``, ``["api-server", "--port",
    ...]``), each logging to ``log_dir/<component>.log``; stop them in reverse order when the block ends.
    """
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    with ExitStack() as stops:
        services: list[Service] = []
        for command in commands:
            service = start_service(command[0], [airflow_bin, *command], log_dir / f"{command[0]}.log", env)
            stops.callback(service.stop)
            services.append(service)
        yield services


def set_drains_pool(stack: Stack, env: dict[str, str], slots: int | None = None) -> int:
    """Create (or resize) the consumer's pool, as each deployment's init step does: ``slots``, by
    default the worker slots (``[core] parallelism``) minus the producer's peak. Returns the slots."""
    from franz_ivan.dag_defaults import DRAINS_POOL, PRODUCER_PEAK_TASKS

    if slots is None:
        slots = int(env["AIRFLOW__CORE__PARALLELISM"]) - PRODUCER_PEAK_TASKS
    if slots < 1:
        raise StackError(
            f"the pool {DRAINS_POOL} needs a slot: raise [core] parallelism above {PRODUCER_PEAK_TASKS}"
        )
    description = "crypto_prices_consumer: worker slots minus the producer's peak"
    stack.airflow("pools", "set", DRAINS_POOL, str(slots), description, env=env)
    return slots


METADATA_RETENTION_DAYS = 30
"""What ``make up`` keeps of its metadata, as the compose and Helm cleanups do (docs/operations.md)."""
CLEANED_TABLES = "dag_run,task_instance,log,xcom,job,asset_event"


def clean_metadata(airflow: Airflow, retention_days: int = METADATA_RETENTION_DAYS) -> None:
    """``airflow db clean`` of what is older than ``retention_days``, no archive kept: the step the
    compose service ``airflow-cleanup`` and the Helm CronJob run daily, run by ``make up`` at start."""
    import datetime as dt

    cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=retention_days)).isoformat(timespec="seconds")
    env = services_env(airflow.stack, airflow.port)
    airflow.stack.airflow(
        "db", "clean", "--clean-before-timestamp", cutoff, "--tables", CLEANED_TABLES,
        "--skip-archive", "--yes", env=env,
    )  # fmt: skip


@contextmanager
def airflow_services(
    stack: Stack,
    port: int,
    startup_timeout: float = STARTUP_SECONDS,
    *,
    env: Mapping[str, str] | None = None,
    drains_pool_slots: int | None = None,
) -> Iterator[Airflow]:
    """Migrate the metadata, seed the markets Variable unless it is stored already, create the
    consumer's pool (``drains_pool_slots``, default: :func:`set_drains_pool`'s), start the four
    components, wait until they are healthy, unpause both DAGs.

    ``env`` is added to every component's environment (a test's settings, say). Every component is
    stopped again (its whole process group) when the block ends, however it ends.
    """
    ensure_port_free(port)
    environment = {**services_env(stack, port), **(env or {})}
    stack.airflow_home.mkdir(parents=True, exist_ok=True)
    stack.airflow("db", "migrate", env=environment)
    stack.seed_markets(environment)
    set_drains_pool(stack, environment, drains_pool_slots)
    password = admin_password(stack.airflow_home)
    components = [[name] for name in COMPONENTS]
    with airflow_components(components, environment, stack.airflow_home / "logs") as services:
        airflow = Airflow(
            stack, port, password, services, AirflowApi(f"http://127.0.0.1:{port}", ADMIN, password)
        )
        airflow.wait_healthy(startup_timeout)
        airflow.wait_for_dags(startup_timeout)
        airflow.api.set_paused(CONSUMER, False)
        airflow.wait_for_listening_consumer(startup_timeout)
        airflow.api.set_paused(PRODUCER, False)
        airflow.api.set_paused(QUALITY, False)
        yield airflow
