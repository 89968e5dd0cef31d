"""The one way to run Airflow's long-running components (api-server, dag-processor, triggerer,
scheduler, Celery workers) for ``make up``, the end-to-end tests and the TLS tests.

:func:`airflow_components` starts any of them as :class:`devtools.processes.Service` s and stops them
in reverse order; :func:`airflow_services` is ``make up``'s whole Airflow: metadata in the local
PostgreSQL (:func:`metadata_database`), the markets Variable seeded there, the consumer's pool
created (:func:`set_drains_pool`), the four components (and with :class:`CeleryWorkers`, the
CeleryExecutor and its workers on the local Redis), health waited for, DAGs unpaused.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
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
REDIS_URL = os.environ.get("CRYPTO_PRICES_REDIS_URL", "redis://127.0.0.1:6379/0")
"""The Celery broker of ``make up EXECUTOR=celery`` and the Celery tests: the machine's Redis."""
WORKER_NAME_ENV = "FRANZ_IVAN_WORKER_NAME"
"""Set for each Celery worker: the name :func:`worker_hostname` gives Airflow for its task instances."""


@dataclass(frozen=True)
class CeleryWorkers:
    """The CeleryExecutor instead of the LocalExecutor: ``count`` ``airflow celery worker`` processes.

    :param count: how many workers; each is a Celery node of its own (``worker-1@host`` ...).
    :param concurrency: task slots per worker (Celery's prefork pool size).
    :param queues: the Celery queues every worker serves (Airflow's tasks go to ``default``).
    :param broker_url: the Redis the scheduler sends tasks through.
    """

    count: int = 2
    concurrency: int = 2
    queues: tuple[str, ...] = ("default",)
    broker_url: str = REDIS_URL

    def names(self) -> list[str]:
        host = socket.gethostname()
        return [f"worker-{number}@{host}" for number in range(1, self.count + 1)]


def worker_hostname() -> str:
    """Airflow's ``[core] hostname_callable`` in the Celery workers started here: the worker's
    Celery node name. Workers on one machine would otherwise all record the machine's name on
    their task instances, as if one worker ran everything."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def check_redis(url: str) -> None:
    """Raise :class:`StackError` naming Redis, and how to start it, unless it answers at ``url``."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
    except redis.RedisError as error:
        raise StackError(
            f"Redis does not answer at {url} ({error}); the CeleryExecutor sends its tasks through it. "
            "Start it (redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no; "
            "Debian package redis-server) or point CRYPTO_PRICES_REDIS_URL at one."
        ) from None


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


def services_env(stack: Stack, port: int, celery: CeleryWorkers | None = None) -> dict[str, str]:
    """The stack's Airflow environment plus what the long-running components need to work together;
    with ``celery``, the CeleryExecutor's settings too."""
    server = local_postgres(metadata_database(stack.airflow_home))
    metadata = f"postgresql+psycopg2://{server.user}@{server.host}:{server.port}/{server.database}"
    return {
        **stack.airflow_env(),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        **(celery_env(celery, metadata, server.database) if celery else {}),
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


def celery_env(celery: CeleryWorkers, metadata: str, database: str) -> dict[str, str]:
    """The CeleryExecutor with ``celery.broker_url`` as broker and the metadata database as result backend."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": celery.broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(celery.concurrency),
        # Every stack on this machine shares the one Redis: its keys (queues, unacked messages)
        # carry the metadata database's name, so two stacks never take each other's tasks.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": f"{database}:",
        # A message a dead worker took comes back after this; Airflow's own heartbeat timeout
        # retries its task first (this only says it aloud: 24 h is the provider's default too).
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
    }


def worker_service(node: str) -> str:
    """The service and log name of the Celery worker ``node`` (``worker-1@host``: ``celery-worker-1``)."""
    return "celery-" + node.partition("@")[0]


def worker_commands(celery: CeleryWorkers) -> list[tuple[str, list[str], dict[str, str]]]:
    """(service name, ``airflow`` arguments, extra environment) of each Celery worker.

    The workers share the Airflow home, so the API server reads their task logs from its files:
    they serve none (``--skip-serve-logs``, whose fixed port several workers would fight over).
    """
    workers = []
    for name in celery.names():
        command = [
            "celery", "worker", "--celery-hostname", name, "--queues", ",".join(celery.queues),
            "--concurrency", str(celery.concurrency),
            "--skip-serve-logs", "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        hostname = {WORKER_NAME_ENV: name, "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname"}
        workers.append((worker_service(name), command, hostname))
    return workers


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

    def workers(self) -> list[Service]:
        """The Celery workers' services (none under the LocalExecutor)."""
        return [service for service in self.services if service.name.startswith("celery-")]

    def wait_for_workers(self, timeout: float) -> None:
        """Wait until every Celery worker consumes its queues (Celery logs ``<node name> ready.``)."""

        def ready() -> bool | None:
            self.check_alive()
            return (
                True
                if all(" ready." in worker.log_path.read_text(errors="replace") for worker in self.workers())
                else None
            )

        wait_until(ready, timeout, "every Celery worker to be ready", interval=1)

    def kill_worker(self, hostname: str) -> Service:
        """SIGKILL the Celery worker whose node name is ``hostname`` (a task instance's hostname) and
        everything it runs, as a lost machine ends; from then on :meth:`check_alive` leaves it out."""
        [worker] = [service for service in self.workers() if service.name == worker_service(hostname)]
        worker.kill()
        self.services.remove(worker)
        return worker

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
    commands: Sequence[Sequence[str]],
    env: dict[str, str],
    log_dir: Path,
    named: Sequence[tuple[str, Sequence[str], Mapping[str, str]]] = (),
) -> Iterator[list[Service]]:
    """Start ``airflow COMMAND`` for each command in order (``["triggerer"]``, ``["api-server", "--port",
    ...]``), each logging to ``log_dir/<component>.log``, then each of ``named`` (name, arguments, extra
    environment: the Celery workers); stop them in reverse order when the block ends.
    """
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    with ExitStack() as stops:
        services: list[Service] = []
        for name, args, extra in [*((command[0], command, {}) for command in commands), *named]:
            service = start_service(name, [airflow_bin, *args], log_dir / f"{name}.log", {**env, **extra})
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
    celery: CeleryWorkers | None = None,
    env: Mapping[str, str] | None = None,
    unpause: Sequence[str] = (PRODUCER, QUALITY),
    drains_pool_slots: int | None = None,
) -> Iterator[Airflow]:
    """Migrate the metadata, seed the markets Variable unless it is stored already, create the
    consumer's pool (``drains_pool_slots``, default: :func:`set_drains_pool`'s), start the four
    components (and ``celery``'s workers, the CeleryExecutor on Redis), wait until they are healthy,
    unpause the consumer, wait for its sensor to listen, then unpause ``unpause``.

    ``env`` is added to every component's environment (settings of a test, say; a test that keeps a
    DAG paused also sets ``AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION``). Every component is
    stopped again (its whole process group) when the block ends, however it ends.
    """
    ensure_port_free(port)
    if celery is not None:
        check_redis(celery.broker_url)
    environment = {**services_env(stack, port, celery), **(env or {})}
    stack.airflow_home.mkdir(parents=True, exist_ok=True)
    stack.airflow("db", "migrate", env=environment)
    stack.seed_markets(environment)
    set_drains_pool(stack, environment, drains_pool_slots)
    password = admin_password(stack.airflow_home)
    components = [[name] for name in COMPONENTS]
    workers = worker_commands(celery) if celery is not None else []
    with airflow_components(components, environment, stack.airflow_home / "logs", workers) as services:
        airflow = Airflow(
            stack, port, password, services, AirflowApi(f"http://127.0.0.1:{port}", ADMIN, password)
        )
        airflow.wait_healthy(startup_timeout)
        airflow.wait_for_workers(startup_timeout)
        airflow.wait_for_dags(startup_timeout)
        for dag_id in set(DAG_IDS) - {CONSUMER, *unpause}:
            airflow.api.set_paused(dag_id, True)
        airflow.api.set_paused(CONSUMER, False)
        airflow.wait_for_listening_consumer(startup_timeout)
        for dag_id in unpause:
            airflow.api.set_paused(dag_id, False)
        yield airflow
