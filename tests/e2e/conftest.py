"""Starts the whole assistant once per test session: Rasa server, action server and web app,
on free loopback ports, with a fresh database and tracker store, using the model `make train` built.
"""

from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests import processes
from tests.processes import BIN, MODEL, ROOT, free_port  # noqa: F401  (imported from here by older tests)


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
        return processes.xiaoan(self.env, *args, input=input)

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
        return processes.read_log(self.workdir / f"{name}.log")


def _wait(url: str, proc: subprocess.Popen, name: str, stack: Stack, timeout: float = 900) -> None:
    """Wait for a server of `stack` to answer (`tests.processes.wait_until_up`)."""
    processes.wait_until_up(url, proc, name, lambda: stack.log(name), timeout=timeout, interval=1.0)


def running_stack(tmp_path_factory):
    """The whole assistant, running: the generator behind the session fixture `stack`, which
    tests/conftest.py registers once for every folder (e2e, security) so that one session
    starts one stack."""
    from xiaoan.crypto import data_key_setting

    processes.require_model()
    work = tmp_path_factory.mktemp("stack")
    token = secrets.token_urlsafe(16)
    ports = {name: free_port() for name in ("rasa", "actions", "web")}
    rasa_url, action_url = processes.url(ports["rasa"]), processes.url(ports["actions"])
    env = processes.stack_env(
        work, token=token, rasa_url=rasa_url, action_url=action_url,
        XIAOAN_WEB_SECRET_KEY=secrets.token_urlsafe(32),
        # the key ring of this test process: tests read hand-off sessions and tickets the stack
        # encrypted (without it each process would make its own key in its own var/)
        XIAOAN_DATA_KEY=data_key_setting(),
    )
    stack = Stack(env=env, workdir=work, rasa_url=rasa_url, action_url=action_url,
                  web_url=processes.url(ports["web"]), token=token)
    for args in (["db", "upgrade"], ["kb", "import", str(ROOT / "knowledge_base")]):
        result = stack.cli(*args)
        assert result.returncode == 0, f"xiaoan {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"

    commands = {
        "actions": processes.actions_command(ports["actions"]),
        "rasa": processes.rasa_command(ports["rasa"], token),
        "web": processes.web_command(ports["web"]),
    }
    try:
        for name, cmd in commands.items():
            stack.procs[name] = processes.spawn(cmd, work / f"{name}.log", env)
        _wait(f"{stack.action_url}/health", stack.procs["actions"], "actions", stack)
        _wait(f"{stack.rasa_url}/status?token={token}", stack.procs["rasa"], "rasa", stack)
        _wait(f"{stack.web_url}/", stack.procs["web"], "web", stack)
        yield stack
    finally:
        processes.stop(stack.procs.values())


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
