"""``make up``: the pipeline running by itself, with the real Airflow services, until Ctrl-C.

Starts Tansu, uses the local PostgreSQL database ``crypto_prices``, starts the local price API as a
process (unless ``--api-url`` names a real one), then the four Airflow 3 components — scheduler
(LocalExecutor), triggerer, dag-processor and api-server — on a project-local ``AIRFLOW_HOME``
(``.airflow-local/up``) with its metadata in the local PostgreSQL (:func:`metadata_database`).
Both DAGs are unpaused, so the producer runs every minute and the sensor-triggered consumer stores
what it publishes, with nobody touching anything.

Every process is started in its own process group and the whole group is stopped on exit, Ctrl-C
and errors included.

``--measure-freshness N`` runs the same stack for ``N`` scheduled producer runs, then prints the
p50/p95 of freshness — ``"timestamp"`` (recorded by PostgreSQL) minus ``observed_at`` — and stops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from devtools.local_stack import (
    ROOT,
    Postgres,
    Stack,
    StackError,
    free_port,
    local_postgres,
    running_stack,
    wait_for_port,
)

if TYPE_CHECKING:
    import psutil

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
DEFAULT_HOME = ROOT / ".airflow-local" / "up"
DEFAULT_MARKETS = ("coinbase-pro:btcusd", "coinbase-pro:ethusd")
ACTIVE_STATES = frozenset({"queued", "running"})
STARTUP_SECONDS = 240.0
STOP_SECONDS = 20.0

T = TypeVar("T")


def wait_until(check: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    """Call ``check`` until it returns something other than ``None``; raise after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise StackError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@dataclass
class Service:
    """A process started in its own process group, so that stopping it stops all it spawned.

    Airflow's task supervisor puts each task process in a group of its own, so the descendants
    seen while the service runs are tracked too and stopped with it.
    """

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def descendants(self) -> list[psutil.Process]:
        import psutil

        try:
            return list(psutil.Process(self.process.pid).children(recursive=True))
        except psutil.NoSuchProcess:
            return []

    def _signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the group; ``False`` once no process of the group is left."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM the group, wait up to ``timeout`` for it to end, then SIGKILL whatever is left."""
        import psutil

        deadline = time.monotonic() + timeout
        seen = {child.pid: child for child in self.descendants()}
        if self._signal_group(signal.SIGTERM):
            while time.monotonic() < deadline and self._signal_group(0):
                seen.update((child.pid, child) for child in self.descendants())
                self.process.poll()  # reap the leader, or the group never looks empty
                time.sleep(0.2)
            self._signal_group(signal.SIGKILL)
        self.process.wait()
        stragglers = [child for child in seen.values() if child.is_running()]
        for child in stragglers:
            with suppress(psutil.NoSuchProcess):
                child.terminate()
        _, alive = psutil.wait_procs(stragglers, timeout=5)
        for child in alive:
            with suppress(psutil.NoSuchProcess):
                child.kill()


def start_service(name: str, command: Sequence[str], env: dict[str, str], log_dir: Path) -> Service:
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            list(command),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process, log_path)


@contextmanager
def price_api_process(log_dir: Path) -> Iterator[str]:
    """Run :mod:`devtools.price_api` as a process on a free port; yield its URL."""
    port = free_port()
    service = start_service(
        "price-api",
        [sys.executable, "-m", "devtools.price_api", "--port", str(port)],
        dict(os.environ),
        log_dir,
    )
    try:
        wait_for_port("127.0.0.1", port, 15, "the price API")
        yield f"http://127.0.0.1:{port}"
    finally:
        service.stop()


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
        "AIRFLOW__CORE__PARALLELISM": "4",
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
def airflow_services(stack: Stack, port: int, startup_timeout: float = STARTUP_SECONDS) -> Iterator[Airflow]:
    """Migrate the metadata, start the four components, wait until they are healthy, unpause both DAGs.

    Every component is stopped again (its whole process group) when the block ends, however it ends.
    """
    ensure_port_free(port)
    env = services_env(stack, port)
    stack.airflow_home.mkdir(parents=True, exist_ok=True)
    stack.airflow("db", "migrate", env=env)
    password = admin_password(stack.airflow_home)
    airflow_bin = str(Path(sys.executable).parent / "airflow")
    with ExitStack() as stops:
        services: list[Service] = []
        for name in COMPONENTS:
            service = start_service(name, [airflow_bin, name], env, stack.airflow_home / "logs")
            stops.callback(service.stop)
            services.append(service)
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


def create_topic(stack: Stack) -> None:
    """Create the topic up front, as a deployment provisions it, so the consumer's first wait finds it."""
    from franz_ivan.publish import ensure_topic
    from franz_ivan.settings import settings

    config = {"bootstrap.servers": stack.broker.bootstrap, "log_level": 4}  # librdkafka: warnings and worse
    ensure_topic(config, stack.topic, settings().topic_partition_count, timeout=30)


def pairs_of(markets: Sequence[str]) -> list[str]:
    """The pairs, and so the price tables, that ``markets`` (entries of the markets Variable) fill."""
    from franz_ivan.markets import parse_market

    return sorted({parse_market(market).pair for market in markets})


@dataclass(frozen=True)
class TopicEvent:
    """One message of the topic, as far as the checks need it."""

    type: str
    pair: str
    event_id: str


def topic_events(bootstrap: str, topic: str, timeout: float = 30.0) -> list[TopicEvent]:
    """Every message of ``topic`` from the beginning to the current end, read without a consumer group."""
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition

    from franz_ivan.hooks.kafka import PricesConsumerHook

    consumer = PricesConsumerHook(
        config={"bootstrap.servers": bootstrap}, consumer_group="devtools-inspect"
    ).get_conn
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        if metadata.error is not None:
            raise StackError(f"cannot read topic {topic!r}: {metadata.error}")
        partitions = sorted(metadata.partitions)
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        events: list[TopicEvent] = []
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while len(at_end) < len(partitions):
            if time.monotonic() > deadline:
                raise StackError(f"reading topic {topic!r} took over {timeout:g} s")
            for message in consumer.consume(num_messages=500, timeout=0.5):
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(message.partition() or 0)
                elif error is not None:
                    raise StackError(f"reading topic {topic!r} failed: {error.str()}")
                else:
                    body = json.loads(message.value() or b"null")
                    events.append(TopicEvent(body["type"], body["pair"], body["event_id"]))
        return events
    finally:
        consumer.close()


def stored_event_ids(postgres: Postgres, pairs: Sequence[str]) -> dict[str, list[str]]:
    """Per table (each pair, and ``cryptowatch_api_allowance``), the event ids stored; empty if absent."""
    from psycopg import sql

    stored: dict[str, list[str]] = {}
    with postgres.connect() as conn:
        for table in [*pairs, "cryptowatch_api_allowance"]:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
                stored[table] = []
                continue
            rows = conn.execute(sql.SQL("SELECT event_id::text FROM {}").format(sql.Identifier(table)))
            stored[table] = [row[0] for row in rows]
    return stored


def wait_until_drained(airflow: Airflow, timeout: float) -> list[TopicEvent]:
    """Wait for a quiet moment: no producer run active and every event of the topic stored.

    The producer's run list is read before and after the topic and the tables, so a run that
    published in between is noticed and the check repeated. Returns the topic's events.
    """
    stack = airflow.stack
    pairs = pairs_of(stack.markets)

    def drained() -> list[TopicEvent] | None:
        airflow.check_alive()
        runs = {run["dag_run_id"]: run["state"] for run in airflow.api.dag_runs(PRODUCER)}
        if ACTIVE_STATES & set(runs.values()):
            return None
        events = topic_events(stack.broker.bootstrap, stack.topic)
        stored = {event_id for ids in stored_event_ids(stack.postgres, pairs).values() for event_id in ids}
        again = {run["dag_run_id"]: run["state"] for run in airflow.api.dag_runs(PRODUCER)}
        complete = {event.event_id for event in events} <= stored
        return events if complete and again == runs else None

    return wait_until(drained, timeout, "the consumer to store every published event", interval=2)


@dataclass(frozen=True)
class Freshness:
    """Seconds from a price's observation to its row being recorded, over ``rows`` rows."""

    rows: int
    p50: float
    p95: float
    worst: float


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def measure_freshness(postgres: Postgres, pairs: Sequence[str], since: datetime) -> Freshness:
    """Freshness of every price row observed at or after ``since``."""
    from psycopg import sql

    delays: list[float] = []
    with postgres.connect() as conn:
        for pair in pairs:
            query = sql.SQL(
                'SELECT extract(epoch FROM "timestamp" - observed_at) FROM {} WHERE observed_at >= %s'
            )
            delays += [float(row[0]) for row in conn.execute(query.format(sql.Identifier(pair)), (since,))]
    if not delays:
        raise StackError(f"no price rows observed since {since.isoformat()}")
    delays.sort()
    return Freshness(len(delays), percentile(delays, 0.5), percentile(delays, 0.95), delays[-1])


def scheduled_runs_done(api: AirflowApi, since: datetime) -> list[dict[str, Any]]:
    """Successful scheduled producer runs that started at or after ``since``."""
    return [
        run
        for run in api.dag_runs(PRODUCER)
        if run["run_type"] == "scheduled"
        and run["state"] == "success"
        and datetime.fromisoformat(run["start_date"]) >= since
    ]


def announce(airflow: Airflow) -> None:
    stack = airflow.stack
    print(
        f"""
Airflow is up, and both DAGs are unpaused: {PRODUCER} runs every minute, {CONSUMER} listens.

  UI            {airflow.url}   (log in as {ADMIN} / {airflow.password})
  password file {passwords_file(stack.airflow_home)}
  REST API      {airflow.url}/api/v2   (POST {airflow.url}/auth/token for a token)
  Kafka (Tansu) {stack.broker.bootstrap}, topic {stack.topic}
  PostgreSQL    {stack.postgres.host}:{stack.postgres.port}/{stack.postgres.database} as {stack.postgres.user}
  price API     {stack.api_url}
  logs          {stack.airflow_home / "logs"}

Ctrl-C stops everything this started.
""",
        flush=True,
    )


def follow(airflow: Airflow, interval: float = 30.0) -> None:
    """Print the row counts every ``interval`` seconds until interrupted or a component dies."""
    pairs = pairs_of(airflow.stack.markets)
    while True:
        time.sleep(interval)
        airflow.check_alive()
        counts = {table: len(ids) for table, ids in stored_event_ids(airflow.stack.postgres, pairs).items()}
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        print(
            f"{stamp} rows: " + ", ".join(f"{table}={count}" for table, count in counts.items()), flush=True
        )


def run_freshness(airflow: Airflow, runs: int, since: datetime, timeout: float) -> Freshness:
    """Wait for ``runs`` scheduled producer runs after ``since`` and their rows; measure them."""
    wait_until(
        lambda: True if len(scheduled_runs_done(airflow.api, since)) >= runs else None,
        timeout,
        f"{runs} scheduled producer runs",
        interval=5,
    )
    events = wait_until_drained(airflow, timeout=180)
    freshness = measure_freshness(airflow.stack.postgres, pairs_of(airflow.stack.markets), since)
    print(
        f"Freshness over {len(scheduled_runs_done(airflow.api, since))} scheduled producer runs, "
        f"{len(events)} events in the topic, {freshness.rows} price rows: "
        f"p50 {freshness.p50:.1f} s, p95 {freshness.p95:.1f} s, worst {freshness.worst:.1f} s",
        flush=True,
    )
    return freshness


def interrupt_once() -> None:
    """Ctrl-C and SIGTERM interrupt once; later ones are ignored, so that the clean-up can finish."""

    def interrupt(signum: int, frame: object) -> None:
        for ignored in (signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8080, help="the UI and REST API port (default 8080)")
    parser.add_argument("--api-url", help="a market-data API to use instead of starting the local one")
    parser.add_argument("--markets", default=",".join(DEFAULT_MARKETS), help="comma-separated markets")
    parser.add_argument(
        "--database", default="crypto_prices", help="PostgreSQL database (default %(default)s)"
    )
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME, help="AIRFLOW_HOME (default %(default)s)")
    parser.add_argument(
        "--measure-freshness",
        type=int,
        metavar="N",
        help="run N scheduled producer runs, print p50/p95, stop",
    )
    args = parser.parse_args(argv)
    interrupt_once()
    markets = [market.strip() for market in args.markets.split(",") if market.strip()]
    try:
        with ExitStack() as stack:
            api_url = args.api_url or stack.enter_context(price_api_process(args.home / "logs"))
            services = stack.enter_context(running_stack(args.home, args.database, api_url, markets))
            create_topic(services)
            print(f"Starting Airflow in {args.home} (logs in {args.home / 'logs'}) ...", flush=True)
            started = datetime.now(UTC)
            airflow = stack.enter_context(airflow_services(services, args.port))
            announce(airflow)
            if args.measure_freshness:
                run_freshness(
                    airflow, args.measure_freshness, started, timeout=90 * args.measure_freshness + 120
                )
            else:
                follow(airflow)
    except KeyboardInterrupt:
        print("\nStopped; everything it started is stopped too.", flush=True)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
