"""Every process the dev tools start (Tansu, socat, the price API, the Airflow components) is a
:class:`Service`: started by :func:`start_service`, its output in a log file, stopped as a whole.

A service runs under a guard, ``python -m devtools.processes -- COMMAND``, that leads the service's
process group and session. The guard asks Linux for two things (``prctl``):

- ``PR_SET_PDEATHSIG``: a signal when the process that started it dies, however it dies (SIGKILL
  included). The signal also comes when only the *thread* that started it ends, so the guard acts
  only once its parent process is really gone (``getppid()`` changed).
- ``PR_SET_CHILD_SUBREAPER``: whatever the service spawns and orphans (gunicorn workers, Airflow's
  task processes, which sit in process groups of their own) stays the guard's descendant instead
  of moving to init, so the guard can always find and stop all of it.

When the starter dies, or the group is asked to stop, the guard stops the command and then every
descendant left, and exits with the command's code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

ROOT = Path(__file__).resolve().parents[1]
STOP_SECONDS = 20.0
"""How long :meth:`Service.stop` waits for the group to end before it SIGKILLs what is left."""
ORPHAN_SECONDS = 5.0
"""How long the guard waits for leftover descendants, and for the command once its starter died."""
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
PARENT_DIED = signal.SIGUSR1


@dataclass
class Service:
    """A command under its guard, in a process group of its own; ``process`` is the guard."""

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

    def signal(self, signum: int) -> bool:
        """Send ``signum`` to the whole group; ``False`` once no process of the group is left."""
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            return False
        return True

    def kill(self) -> None:
        """SIGKILL the group and every descendant at once, as a crash of its machine would end it
        (no clean-up; Airflow's task processes, in groups of their own, included), and reap the guard."""
        import psutil

        descendants = self.descendants()
        self.signal(signal.SIGKILL)
        for process in descendants:
            with suppress(psutil.NoSuchProcess):
                process.kill()
        self.process.wait()

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """SIGTERM the group, wait up to ``timeout`` for it to end, then SIGKILL whatever is left."""

        deadline = time.monotonic() + timeout
        seen = {child.pid: child for child in self.descendants()}
        if self.signal(signal.SIGTERM):
            while time.monotonic() < deadline and self.signal(0):
                seen.update((child.pid, child) for child in self.descendants())
                self.process.poll()  # reap the guard, or the group never looks empty
                time.sleep(0.2)
            self.signal(signal.SIGKILL)
        self.process.wait()
        end_processes([child for child in seen.values() if child.is_running()], ORPHAN_SECONDS)


def start_service(
    name: str, command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> Service:
    """Start ``command`` under its guard in a new session, its output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    guard = [sys.executable, "-m", "devtools.processes", "--parent", str(os.getpid()), "--", *command]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            guard,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Service(name, process, log_path)


@contextmanager
def running_service(
    name: str, command: Sequence[str], log_path: Path, env: dict[str, str] | None = None
) -> Iterator[Service]:
    """:func:`start_service` for the ``with`` block; stopped when it ends, however it ends."""
    service = start_service(name, command, log_path, env)
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def frozen(service: Service) -> Iterator[None]:
    """The service is stopped (SIGSTOP) inside the block: its sockets stay open but nothing answers."""
    service.signal(signal.SIGSTOP)
    try:
        yield
    finally:
        service.signal(signal.SIGCONT)


def _prctl(option: int, value: int) -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, value, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}, {value}) failed")


def end_processes(processes: Sequence[psutil.Process], grace: float) -> None:
    """SIGTERM each process, SIGKILL those still running ``grace`` seconds later."""
    import psutil

    for process in processes:
        with suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(processes, timeout=grace)
    for process in alive:
        with suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=grace)


def guard(command: Sequence[str], parent: int) -> int:
    """Run ``command`` until it exits, its group is told to stop, or process ``parent`` dies."""
    stopping: list[int] = []

    def on_stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    def on_parent_thread_died(signum: int, _frame: object) -> None:
        if os.getppid() != parent:
            stopping.append(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, on_stop)
    signal.signal(PARENT_DIED, on_parent_thread_died)  # before arming it: its default action kills
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    _prctl(PR_SET_PDEATHSIG, PARENT_DIED)
    if os.getppid() != parent or stopping:  # the starter died, or asked to stop, before the start
        return 1
    child = subprocess.Popen(list(command))  # stays in the guard's group: a group signal reaches both
    while child.poll() is None and not stopping:
        time.sleep(0.1)
    if child.poll() is None and PARENT_DIED in stopping:
        # Nobody else will stop the group now: ask the command to end, then force it.
        with suppress(ProcessLookupError):
            child.terminate()
        try:
            child.wait(ORPHAN_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    returncode = child.wait()
    import psutil

    end_processes(psutil.Process().children(recursive=True), ORPHAN_SECONDS)
    return returncode if returncode >= 0 else 128 - returncode


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.processes", description=__doc__)
    parser.add_argument("--parent", type=int, required=True, help="the pid whose death stops everything")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")
    return guard(command, args.parent)


if __name__ == "__main__":
    sys.exit(main())
