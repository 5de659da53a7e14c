"""Starting the project's own processes for tests and benchmarks, in one place.

Used by the end-to-end stack (tests/e2e/conftest.py), the kill -9 stack
(tests/security/crash_stack.py), the scale cluster (tests/scale/cluster.py) and the benchmarks:
free loopback ports, the environment every process of a test stack shares, the commands of the
Rasa server, the action server and the web app, waiting until a process answers, and stopping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, TypeVar

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "xiaoan.tar.gz"
LOOPBACK = "127.0.0.1"

#: Quiet, unbuffered, offline: what every process of a test stack runs with.
QUIET_ENV = {
    "SANIC_HOST": LOOPBACK,
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONUNBUFFERED": "1",
    "RASA_TELEMETRY_ENABLED": "false",
}


_Stack = TypeVar("_Stack")


def require_model() -> None:
    """Skip the test when `make train` has not built the model (fail instead under CI)."""
    if not MODEL.exists():
        msg = f"no trained model at {MODEL}: run `make train` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)


@contextlib.contextmanager
def started(stack: _Stack) -> Iterator[_Stack]:
    """`stack.start()` (which returns the stack), and `stack.stop()` on the way out whatever happened
    (a start that fails half-way stops what it started)."""
    try:
        yield stack.start()
    finally:
        stack.stop()


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def stack_env(workdir: Path, *, token: str, rasa_url: str, action_url: str, **extra: str) -> dict:
    """This process's environment plus what a stack in `workdir` needs: its own SQLite database
    and tracker store, `var/` folder, Rasa token and URLs, fresh door secrets (the REST channel's
    and the action server's), quiet logging; the external ticket platform unset. `extra` is added
    last (it may replace any of these)."""
    env = dict(os.environ)
    env.pop("XIAOAN_TICKET_API_URL", None)
    env.update({
        "DATABASE_URL": f"sqlite:///{workdir / 'xiaoan.db'}",
        "XIAOAN_TRACKER_STORE_URL": f"sqlite:///{workdir / 'tracker.db'}",
        "XIAOAN_VAR_DIR": str(workdir / "var"),
        "XIAOAN_RASA_TOKEN": token,
        "XIAOAN_RASA_URL": rasa_url,
        "XIAOAN_ACTION_URL": f"{action_url}/webhook",
        "XIAOAN_REST_SECRET": secrets.token_urlsafe(32),  # sent to Rasa's REST channel
        "XIAOAN_ACTION_SECRET": secrets.token_urlsafe(32),  # Rasa sends it to the action server
        **QUIET_ENV,
    })
    env.update(extra)
    return env


def with_pythonpath(env: dict, root: Path) -> str:
    """PYTHONPATH with `root` first (the code a benchmark compares may stand elsewhere)."""
    return os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)


def actions_command(port: int) -> list[str]:
    return [str(BIN / "rasa"), "run", "actions", "-p", str(port), "--actions", "actions"]


def rasa_command(port: int, token: str, model: Path = MODEL) -> list[str]:
    return [str(BIN / "rasa"), "run", "--enable-api", f"--auth-token={token}", "-i", LOOPBACK,
            "-p", str(port), "--model", str(model), "--endpoints", "endpoints.yml",
            "--credentials", "credentials.yml"]


def web_command(port: int) -> list[str]:
    return [str(BIN / "xiaoan"), "web", "--host", LOOPBACK, "--port", str(port)]


def xiaoan(env: dict, *args: str, cwd: Path = ROOT, timeout: float = 120,
           input: Optional[str] = None) -> subprocess.CompletedProcess:
    """The `xiaoan` command with `env`, run in `cwd`."""
    return subprocess.run([str(BIN / "xiaoan"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          input=input, timeout=timeout)


def prepare_database(env: dict, root: Path = ROOT, timeout: float = 300) -> None:
    """`xiaoan db upgrade` and `xiaoan kb import knowledge_base/`; RuntimeError with the output if one fails."""
    for args in (["db", "upgrade"], ["kb", "import", str(root / "knowledge_base")]):
        result = xiaoan(env, *args, cwd=root, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"xiaoan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def spawn(cmd: list[str], log_path: Path, env: dict, *, cwd: Path = ROOT, append: bool = False,
          **popen: object) -> subprocess.Popen:
    """Start `cmd` with its output (stdout and stderr) written to `log_path`."""
    log = open(log_path, "a" if append else "w")
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, **popen)


def read_log(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_until_up(url: str, proc: subprocess.Popen, name: str, log: Callable[[], str], timeout: float = 300,
                  interval: float = 0.5) -> float:
    """Wait until `url` answers below 500; the seconds it took. RuntimeError with the tail of the
    log when the process exits first or `timeout` passes (the bound only stops a hung start: a
    loaded machine loads the model slowly)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{log()[-4000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return time.monotonic() - start
        except requests.RequestException:
            pass
        time.sleep(interval)
    raise RuntimeError(f"{name} did not start within {timeout}s:\n{log()[-4000:]}")


def stop(procs: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """SIGTERM to every process still running, then wait; SIGKILL to those that do not end in time."""
    procs = list(procs)
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
