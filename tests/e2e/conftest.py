"""Starts the whole assistant once per test session: Rasa server, action server and web app,
on free loopback ports, with a fresh database and tracker store, using the model `make train` built.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MODEL = ROOT / "models" / "xiaoan.tar.gz"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Stack:
    """The running processes and how to reach them."""

    env: dict
    workdir: Path
    rasa_url: str
    action_url: str
    web_url: str
    token: str
    procs: dict = field(default_factory=dict)

    def cli(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        """Run the `xiaoan` command against this stack's database."""
        return subprocess.run([str(BIN / "xiaoan"), *args], env=self.env, cwd=ROOT, capture_output=True,
                              text=True, input=input, timeout=120)

    def say(self, sender: str, text: str) -> list[dict]:
        """Send a message through Rasa's REST channel; returns the bot's messages."""
        r = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                          headers={"X-Xiaoan-Rest-Secret": self.env.get("XIAOAN_REST_SECRET", "")}, timeout=60)
        r.raise_for_status()
        return r.json()

    def tracker(self, sender: str) -> dict:
        r = requests.get(f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.token}, timeout=30)
        r.raise_for_status()
        return r.json()

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _wait(url: str, proc: subprocess.Popen, name: str, stack: Stack, timeout: float = 900) -> None:
    """Wait for a server to answer; the bound only stops a hung start (a loaded machine loads the model slowly)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{stack.log(name)[-4000:]}")
        try:
            if requests.get(url, timeout=2).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise RuntimeError(f"{name} did not start within {timeout}s:\n{stack.log(name)[-4000:]}")


def running_stack(tmp_path_factory):
    """The whole assistant, running: the generator behind the session fixture `stack`, which
    tests/conftest.py registers once for every folder (e2e, security) so that one session
    starts one stack."""
    from xiaoan.crypto import data_key_setting

    if not MODEL.exists():
        msg = f"no trained model at {MODEL}: run `make train` (make test does)"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    work = tmp_path_factory.mktemp("stack")
    token = secrets.token_urlsafe(16)
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": f"sqlite:///{work / 'xiaoan.db'}",
        "XIAOAN_TRACKER_STORE_URL": f"sqlite:///{work / 'tracker.db'}",
        "XIAOAN_VAR_DIR": str(work / "var"),
        "XIAOAN_RASA_TOKEN": token,
        "XIAOAN_RASA_URL": f"http://127.0.0.1:{ports['rasa']}",
        "XIAOAN_ACTION_URL": f"http://127.0.0.1:{ports['actions']}/webhook",
        "XIAOAN_WEB_SECRET_KEY": secrets.token_urlsafe(32),
        "XIAOAN_REST_SECRET": secrets.token_urlsafe(32),  # the web app and say() send it to the REST channel
        "XIAOAN_ACTION_SECRET": secrets.token_urlsafe(32),  # Rasa sends it to the action server (endpoints.yml)
        "SANIC_HOST": "127.0.0.1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
        "RASA_TELEMETRY_ENABLED": "false",
        # the key ring of this test process: tests read hand-off sessions and tickets the stack
        # encrypted (without it each process would make its own key in its own var/)
        "XIAOAN_DATA_KEY": data_key_setting(),
    })
    env.pop("XIAOAN_TICKET_API_URL", None)
    stack = Stack(env=env, workdir=work, rasa_url=env["XIAOAN_RASA_URL"],
                  action_url=f"http://127.0.0.1:{ports['actions']}", web_url=f"http://127.0.0.1:{ports['web']}",
                  token=token)
    for args in (["db", "upgrade"], ["kb", "import", str(ROOT / "knowledge_base")]):
        result = stack.cli(*args)
        assert result.returncode == 0, f"xiaoan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    commands = {
        "actions": [str(BIN / "rasa"), "run", "actions", "-p", str(ports["actions"]), "--actions", "actions"],
        "rasa": [str(BIN / "rasa"), "run", "--enable-api", f"--auth-token={token}", "-i", "127.0.0.1",
                 "-p", str(ports["rasa"]), "--model", str(MODEL), "--endpoints", "endpoints.yml",
                 "--credentials", "credentials.yml"],
        "web": [str(BIN / "xiaoan"), "web", "--host", "127.0.0.1", "--port", str(ports["web"])],
    }
    try:
        for name, cmd in commands.items():
            logfile = open(work / f"{name}.log", "w")
            stack.procs[name] = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logfile, stderr=subprocess.STDOUT)
        _wait(f"{stack.action_url}/health", stack.procs["actions"], "actions", stack)
        _wait(f"{stack.rasa_url}/status?token={token}", stack.procs["rasa"], "rasa", stack)
        _wait(f"{stack.web_url}/", stack.procs["web"], "web", stack)
        yield stack
    finally:
        for proc in stack.procs.values():
            proc.terminate()
        for proc in stack.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the tail of each server's log to the report (what CI prints)."""
    outcome = yield
    report = outcome.get_result()
    stack = item.funcargs.get("stack") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(stack, Stack):
        for name in ("actions", "rasa", "web"):
            report.sections.append((f"{name} server log (tail)", stack.log(name)[-3000:]))


# The headless-Chromium fixtures of the browser tests, for the live-stack page tests here.
from tests.browser.conftest import browser_context, chromium_executable, page, playwright  # noqa: E402,F401
