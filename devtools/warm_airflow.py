"""A warm ``airflow`` command line for the tests: each command runs in a fork of one process that has
imported Airflow already.

A fresh ``airflow dags test`` spent about 10 of its 12 s on the shared two-core machine before the
first task started: importing Airflow (2 s), building the in-process Execution API (4 s of FastAPI
routes) and Cadwyn's versioned routers on its first request (3 s). :func:`serve` does all of that
once, for one Airflow home, and then forks per command: the child sets the command's environment,
working directory and output files, and runs ``airflow.__main__.main`` with the command's
arguments, as the ``airflow`` script does, in a session of its own. The same Airflow code runs the
same command against the same services; only the imports are shared. A command runs about 2 s.

What Airflow reads while it is imported (its home, its ``AIRFLOW__*`` configuration, the paths) is
fixed when the server starts, so :meth:`WarmAirflow.accepts` takes only commands whose environment
differs from the server's in what is read when used: connections and Variables given as
``AIRFLOW_CONN_*`` / ``AIRFLOW_VAR_*``, the project's ``CRYPTO_PRICES_*`` settings and pytest's own
variables. :meth:`devtools.local_stack.Stack.airflow` runs any other command as a plain subprocess.

The server runs as a :class:`devtools.processes.Service`, so it and every command it forked stop
with the process that started it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from devtools.processes import ROOT, Service, start_service

READY_SECONDS = 180.0
"""How long :func:`start_warm_airflow` waits for the server to import Airflow and listen."""
REAP_SECONDS = 30.0
"""How long a command killed at its timeout may take to be reaped by the server."""
PER_COMMAND_PREFIXES = ("AIRFLOW_CONN_", "AIRFLOW_VAR_", "CRYPTO_PRICES_", "PYTEST_")
"""Environment variables read when used, not when Airflow is imported: they may differ per command."""

WARM_MODULES = (
    "airflow.__main__",
    "airflow.cli.commands.dag_command",
    "airflow.sdk.execution_time.task_runner",
)
"""Imported before the first fork: the command line, ``airflow dags test`` and the task runner it runs."""

_serving: dict[Path, WarmAirflow] = {}


def serving(airflow_home: Path) -> WarmAirflow | None:
    """The warm server registered for ``airflow_home``, if one is."""
    return _serving.get(airflow_home.resolve())


def differing_keys(base: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """The variables, other than :data:`PER_COMMAND_PREFIXES`, whose values differ between the two."""
    return sorted(
        key
        for key in base.keys() | env.keys()
        if not key.startswith(PER_COMMAND_PREFIXES) and base.get(key) != env.get(key)
    )


@dataclass
class WarmAirflow:
    """A running warm server (see the module docstring) and the environment it imported Airflow with."""

    service: Service
    socket_path: Path
    env: dict[str, str]
    output_dir: Path
    commands: int = 0
    cold: list[tuple[list[str], list[str]]] = field(default_factory=list)
    """Commands run as plain subprocesses instead, with the variables that differed, for the record."""

    def accepts(self, args: Sequence[str], env: Mapping[str, str]) -> bool:
        differing = differing_keys(self.env, env)
        if differing:
            self.cold.append((list(args), differing))
        return not differing

    def run(
        self, argv: Sequence[str], env: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` (``[airflow, *args]``) like ``subprocess.run(argv, env=env, timeout=timeout,
        capture_output=True, text=True)``, in a fork of the server."""
        self.commands += 1
        stdout = self.output_dir / f"command-{self.commands}.stdout"
        stderr = self.output_dir / f"command-{self.commands}.stderr"
        request = {"argv": list(argv), "env": dict(env), "cwd": os.getcwd()}
        request |= {"stdout": str(stdout), "stderr": str(stderr)}
        deadline = time.monotonic() + timeout
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(self.socket_path))
            conn.sendall(json.dumps(request).encode() + b"\n")
            answers = conn.makefile("r")
            pid = int(json.loads(self._answer(answers))["pid"])
            try:
                conn.settimeout(max(deadline - time.monotonic(), 0.001))
                returncode = int(json.loads(self._answer(answers))["returncode"])
            except TimeoutError:
                os.killpg(pid, signal.SIGKILL)
                conn.settimeout(REAP_SECONDS)
                self._answer(answers)
                raise subprocess.TimeoutExpired(
                    list(argv), timeout, output=read_text(stdout), stderr=read_text(stderr)
                ) from None
        completed = subprocess.CompletedProcess(list(argv), returncode, read_text(stdout), read_text(stderr))
        stdout.unlink(missing_ok=True)
        stderr.unlink(missing_ok=True)
        return completed

    def _answer(self, answers: object) -> str:
        line: str = answers.readline()  # type: ignore[attr-defined]
        if not line:
            raise RuntimeError(
                f"the warm Airflow server hung up; end of {self.service.log_path}:\n{self.service.log_tail()}"
            )
        return line

    def stop(self) -> None:
        """Stop the server, and leave in its folder which commands it ran and which it could not."""
        _serving.pop(Path(self.env["AIRFLOW_HOME"]).resolve(), None)
        self.service.stop()
        record = {"warm": self.commands, "cold": [{"args": a, "differing": d} for a, d in self.cold]}
        (self.output_dir / "commands.json").write_text(json.dumps(record, indent=1) + "\n")


def read_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def start_warm_airflow(env: Mapping[str, str], run_dir: Path) -> WarmAirflow:
    """Start a server for the Airflow home of ``env`` (``AIRFLOW_HOME``), wait until it listens, and
    register it, so that :meth:`devtools.local_stack.Stack.airflow` of that home runs its commands there.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    socket_path = run_dir / "airflow.sock"
    command = [sys.executable, "-m", "devtools.warm_airflow", "--socket", str(socket_path)]
    service = start_service("warm-airflow", command, run_dir / "warm-airflow.log", dict(env))
    warm = WarmAirflow(service, socket_path, dict(env), run_dir)
    deadline = time.monotonic() + READY_SECONDS
    while not socket_path.exists():
        if not service.alive() or time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(
                f"the warm Airflow server did not listen within {READY_SECONDS:g} s; "
                f"end of {service.log_path}:\n{service.log_tail()}"
            )
        time.sleep(0.05)
    _serving[Path(env["AIRFLOW_HOME"]).resolve()] = warm
    return warm


# --- the server ----------------------------------------------------------------------------------


def warm_up() -> None:
    """Import what every command needs, build the in-process Execution API ``airflow dags test`` uses,
    and send it one request so that its versioned routes are built too. No thread is left running:
    a fork copies only the thread that forks."""
    import asyncio
    import importlib

    import httpx

    for module in WARM_MODULES:
        importlib.import_module(module)
    from airflow.sdk.execution_time.supervisor import in_process_api_server

    app = in_process_api_server().app

    async def first_request() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://warm") as client:
            await client.get("/health")

    asyncio.run(first_request())


def run_command(request: dict[str, object]) -> int:
    """In the forked child: become the command of ``request`` and run it; its exit status."""
    import atexit

    os.setsid()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])  # type: ignore[arg-type]
    os.chdir(str(request["cwd"]))
    for fd, key in ((1, "stdout"), (2, "stderr")):
        target = os.open(str(request[key]), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [str(arg) for arg in request["argv"]]  # type: ignore[attr-defined]
    from airflow.__main__ import main

    try:
        result = main()
        code = result if isinstance(result, int) else 0
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:  # reported as the interpreter would, then the process ends
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # what a normal interpreter exit runs: log handlers flushed, pools closed
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def serve(socket_path: Path) -> None:
    """Warm up, then run each request (one JSON line) in a fork, answering its pid and exit status."""
    warm_up()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(socket_path) + ".new")
        server.listen()
        os.replace(str(socket_path) + ".new", socket_path)  # appears only once it accepts
        print(f"warm: listening on {socket_path}", flush=True)
        while True:
            conn, _ = server.accept()
            with conn, conn.makefile("rw") as stream:
                request = json.loads(stream.readline())
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    server.close()
                    conn.close()
                    os._exit(run_command(request))
                try:
                    stream.write(json.dumps({"pid": pid}) + "\n")
                    stream.flush()
                except OSError:  # the client is gone: nobody waits for this command any more
                    os.killpg(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                with suppress(OSError):
                    stream.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
                    stream.flush()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devtools.warm_airflow", description=__doc__)
    parser.add_argument("--socket", type=Path, required=True, help="the Unix socket to listen on")
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    serve(args.socket)
    return 0


if __name__ == "__main__":
    sys.exit(main())
