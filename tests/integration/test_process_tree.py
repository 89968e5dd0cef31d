"""A process that starts services and is then killed outright (SIGKILL) leaves nothing running.

The starter here starts Tansu, the price API, and a service that spawns like Airflow does: a child
in a session of its own (the task supervisor's task process), a grandchild, and a daemon whose
parent exits at once. One more service is started from a thread that then ends, which must not
stop it. Then the starter is SIGKILLed, and every process it had below it must be gone. The same
for a throwaway PostgreSQL cluster (the fault and TLS tests' own server).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from devtools.local_stack import ROOT

pytestmark = pytest.mark.integration

SLEEP = "import time; time.sleep(600)"
SPAWNER = textwrap.dedent(
    f"""
    import os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", {SLEEP!r}], start_new_session=True)
    subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                      "subprocess.Popen([sys.executable, '-c', {SLEEP!r}]); time.sleep(600)"])
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            time.sleep(600)
        os._exit(0)
    os.waitpid(first, 0)
    time.sleep(600)
    """
)
STARTER = textwrap.dedent(
    f"""
    import sys, threading, time
    from pathlib import Path
    from devtools.local_stack import free_port, start_broker
    from devtools.processes import start_service

    logs = Path(sys.argv[1])
    start_broker(logs)
    start_service("price-api", [sys.executable, "-m", "devtools.price_api", "--port", str(free_port())],
                  logs / "price-api.log")
    start_service("spawner", [sys.executable, "-c", {SPAWNER!r}], logs / "spawner.log")
    thread = threading.Thread(
        target=start_service, args=("from-a-thread", [sys.executable, "-c", {SLEEP!r}], logs / "thread.log")
    )
    thread.start()
    thread.join()
    print("ready", flush=True)
    time.sleep(600)
    """
)
EXPECTED = 2 + 2 + 6 + 2
"""Guard and command for Tansu, the price API and the thread's service; the spawner's guard, itself,
its own-session child, its child and grandchild, and the daemon."""


def descendants(pid: int) -> list[psutil.Process]:
    return list(psutil.Process(pid).children(recursive=True))


@dataclass
class Starter:
    """A Python process running a starter script; ``tree`` is what it started, once looked at."""

    process: subprocess.Popen[str]
    tree: list[psutil.Process] = field(default_factory=list)
    commands: dict[int, str] = field(default_factory=dict)

    def first_line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def look(self) -> list[psutil.Process]:
        """What runs below the starter now, its names and command lines read while each lives.

        A short-lived child (``pg_ctl`` ending after the cluster started, say) can exit between
        being listed and being read: it is left out rather than failing the look.
        """
        self.tree = []
        for process in descendants(self.process.pid):
            with suppress(psutil.NoSuchProcess):
                process.name()  # psutil keeps the name it read
                self.commands[process.pid] = " ".join(process.cmdline())
                self.tree.append(process)
        return self.tree

    def command(self, process: psutil.Process) -> str:
        return self.commands.get(process.pid, "")

    def kill_outright(self) -> list[str]:
        """SIGKILL the starter; the command lines of what it had started still running 20 s later."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        _, alive = psutil.wait_procs(self.tree, timeout=20)
        return [self.command(process) or str(process.pid) for process in alive]


@contextmanager
def starter(script: str, *args: str) -> Iterator[Starter]:
    """Run ``script`` in a new Python; afterwards (if the test failed) kill it and all it started."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    running = Starter(
        subprocess.Popen(
            [sys.executable, "-c", script, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
    )
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        for process in running.tree:  # only if the test failed: what survived its starter
            with suppress(psutil.NoSuchProcess):
                process.kill()


def test_services_die_with_their_starter_even_when_it_is_killed_outright(tmp_path: Path) -> None:
    with starter(STARTER, str(tmp_path)) as running:
        assert running.first_line() == "ready"
        deadline = time.monotonic() + 30
        while len(running.look()) < EXPECTED and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1)  # the daemon's parent has exited; the thread that started a service is gone
        tree = running.look()
        names = sorted(running.command(process)[:80] for process in tree)
        assert len(tree) == EXPECTED, names
        assert all(process.is_running() for process in tree)

        assert running.kill_outright() == []


CLUSTER_STARTER = textwrap.dedent(
    """
    import time
    from devtools.pg_cluster import throwaway_postgres

    with throwaway_postgres() as cluster:
        print(cluster.data, flush=True)
        time.sleep(600)
    """
)


def test_a_throwaway_postgres_dies_with_its_starter_even_when_it_is_killed_outright() -> None:
    data = ""
    try:
        with starter(CLUSTER_STARTER) as running:
            data = running.first_line()
            assert data, "the starter printed no data folder: the cluster did not start"
            tree = running.look()
            postmasters = [p for p in tree if p.name() == "postgres" and data in running.command(p)]
            assert len(postmasters) == 1, sorted(running.command(p)[:80] for p in tree)
            assert len([p for p in tree if p.name() == "postgres"]) > 1  # and its background processes

            assert running.kill_outright() == []
    finally:
        if data:  # the starter's own clean-up never ran: the cluster's folder is ours to remove
            shutil.rmtree(Path(data).parent, ignore_errors=True)
