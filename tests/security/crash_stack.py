"""A Rasa server and an action server whose action server can be killed with SIGKILL mid-ticket.

Shared by tests/security/test_crash.py (a few runs) and bench/crash_bench.py (100 runs). The action
server runs with `XIAOAN_FAULT_ARM_FILE` (see `xiaoan.faults`): writing a crash point's name into
that file makes the action server kill itself with SIGKILL when it reaches that point while
creating the ticket. One run:

1. a citizen fills the complaint form over Rasa's REST channel and reaches the read-back;
2. the crash point is armed and the citizen confirms; the action server dies (checked);
3. the action server is started again (as a process supervisor would);
4. the citizen sends one more message; its reply must carry the ticket number;
5. the database must hold exactly one ticket for the conversation, with that number.
"""

from __future__ import annotations

import random
import re
import secrets
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from tests import processes
from tests.e2e.test_conversations import COMPLAINT_ANSWERS, texts
from tests.processes import MODEL, ROOT, free_port
TICKET_NO = re.compile(r"XA-\d{6}-\d{4}")

OPENING = "浦东的健身房老板跑路了，卡里还有两千块"
#: The complaint form's answers of the end-to-end conversations (without the read-back's).
ANSWERS = {slot: value for slot, value in COMPLAINT_ANSWERS.items() if slot not in ("anonymous", "confirmation")}
CRASH_POINTS = ("submit:before_create", "ticket_create:before_commit", "ticket_create:after_commit",
                "submit:after_create")
NEXT_MESSAGES = ("你好", "喂？怎么没反应了", "工单号是多少", "在吗")


@dataclass
class RunResult:
    """The outcome of one kill -9 run."""

    point: str
    conversation_id: str
    crashed: bool
    tickets: list[str]
    told: list[str]
    reply: str
    reasked: bool = False

    @property
    def lost(self) -> bool:
        """No ticket, and the citizen was not shown the read-back again (a silent loss)."""
        return not self.tickets and not self.reasked

    @property
    def duplicate(self) -> bool:
        return len(self.tickets) > 1

    @property
    def told_right(self) -> bool:
        return len(self.tickets) == 1 and set(self.told) == {self.tickets[0]}

    @property
    def ok(self) -> bool:
        return self.crashed and (self.told_right or (self.reasked and not self.tickets))


class CrashStack:
    """Rasa (REST channel, real model) + an action server that can be SIGKILLed and restarted."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.arm_file = self.workdir / "fault-arm"
        self.token = secrets.token_urlsafe(24)
        self.ports = {"rasa": free_port(), "actions": free_port()}
        self.rasa_url = f"http://127.0.0.1:{self.ports['rasa']}"
        self.action_url = f"http://127.0.0.1:{self.ports['actions']}"
        self.db_path = self.workdir / "xiaoan.db"
        env = processes.stack_env(
            self.workdir, token=self.token, rasa_url=self.rasa_url, action_url=self.action_url,
            XIAOAN_FAULT_ARM_FILE=str(self.arm_file),
        )
        for name in ("XIAOAN_EVENT_BROKER_URL", "XIAOAN_LOCK_STORE_URL", "XIAOAN_ENV"):
            env.pop(name, None)
        env["PYTHONPATH"] = processes.with_pythonpath(env, ROOT)
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}
        self.action_starts = 0

    # -- processes --------------------------------------------------------------------------

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        proc = processes.spawn(cmd, self.workdir / f"{name}.log", self.env, append=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return processes.read_log(self.workdir / f"{name}.log")

    def _wait_up(self, url: str, name: str, timeout: float = 300) -> None:
        processes.wait_until_up(url, self.procs[name], name, lambda: self.log(name), timeout=timeout)

    def start_actions(self) -> None:
        self.action_starts += 1
        self._spawn("actions", processes.actions_command(self.ports["actions"]))
        self._wait_up(f"{self.action_url}/health", "actions")

    def start(self) -> "CrashStack":
        processes.prepare_database(self.env)
        self._spawn("rasa", processes.rasa_command(self.ports["rasa"], self.token))
        self.start_actions()
        self._wait_up(f"{self.rasa_url}/status?token={self.token}", "rasa")
        return self

    def stop(self) -> None:
        processes.stop(self.procs.values())

    def wait_actions_dead(self, timeout: float = 30) -> bool:
        """True once the action server process has exited (by the injected SIGKILL)."""
        try:
            code = self.procs["actions"].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return code == -9

    # -- conversation ------------------------------------------------------------------------

    def say(self, sender: str, text: str) -> list[dict]:
        r = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                          headers={"X-Xiaoan-Rest-Secret": self.env["XIAOAN_REST_SECRET"]}, timeout=120)
        r.raise_for_status()
        return r.json()

    def tracker(self, sender: str) -> dict:
        r = requests.get(f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": self.token},
                         timeout=60)
        r.raise_for_status()
        return r.json()

    def fill_to_readback(self, sender: str, max_turns: int = 20) -> None:
        """Open a complaint and answer every question until the read-back asks for confirmation."""
        replies = self.say(sender, OPENING)
        for _ in range(max_turns):
            tracker = self.tracker(sender)
            requested = tracker["slots"].get("requested_slot")
            if requested == "confirmation":
                return
            if not (tracker.get("active_loop") or {}).get("name") or requested not in ANSWERS:
                raise AssertionError(f"unexpected state: form {tracker.get('active_loop')}, asked "
                                     f"{requested!r}; replies: {texts(replies)}")
            replies = self.say(sender, ANSWERS[requested])
        raise AssertionError(f"no read-back after {max_turns} turns; last replies: {texts(replies)}")

    def tickets_of(self, sender: str) -> list[str]:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            rows = conn.execute("SELECT ticket_no FROM tickets WHERE conversation_id = ? ORDER BY id",
                                (sender,)).fetchall()
        return [r[0] for r in rows]

    def run_once(self, point: str, *, next_message: str = "你好", sender: str | None = None) -> RunResult:
        """One kill -9 run at `point` (see the module docstring).

        `point` is a `xiaoan.faults` crash point, or "external:<ms>": the action server is sent
        SIGKILL from outside that many milliseconds after the confirmation was sent, wherever
        it is then (before, during or after the ticket's creation).
        """
        sender = sender or f"crash-{uuid.uuid4().hex[:12]}"
        self.fill_to_readback(sender)
        confirm_error = None
        confirm_reply = ""
        if point.startswith("external:"):
            delay = int(point.split(":", 1)[1]) / 1000
            outcome: dict = {}

            def confirm() -> None:
                try:
                    outcome["reply"] = texts(self.say(sender, "确认"))
                except requests.RequestException as exc:
                    outcome["error"] = exc

            thread = threading.Thread(target=confirm)
            thread.start()
            time.sleep(delay)
            self.procs["actions"].send_signal(signal.SIGKILL)
            thread.join(180)
            confirm_reply, confirm_error = outcome.get("reply", ""), outcome.get("error")
        else:
            self.arm_file.write_text(point)
            try:
                confirm_reply = texts(self.say(sender, "确认"))
            except requests.RequestException as exc:  # Rasa answers even when the action server died
                confirm_error = exc
        crashed = self.wait_actions_dead()
        if self.arm_file.exists():  # never reached: disarm, so the restarted server does not crash later
            self.arm_file.unlink()
        if self.procs["actions"].poll() is None:
            self.procs["actions"].kill()
            self.procs["actions"].wait()
        self.start_actions()
        reply = f"{confirm_reply}\n{texts(self.say(sender, next_message))}"
        if confirm_error is not None:
            reply = f"[确认 failed: {confirm_error}]\n{reply}"
        tickets = self.tickets_of(sender)
        reasked = False
        if not tickets:
            # killed before the confirmation was even processed (possible only with an outside
            # kill): the form is still open and the citizen sees the read-back again
            state = self.tracker(sender)
            reasked = bool((state.get("active_loop") or {}).get("name")) and \
                state["slots"].get("requested_slot") == "confirmation"
        return RunResult(point=point, conversation_id=sender, crashed=crashed, tickets=tickets,
                         told=TICKET_NO.findall(reply), reply=reply, reasked=reasked)

    def random_run(self, rng: random.Random) -> RunResult:
        """A run at a random crash point, or (one run in five) killed from outside after 0-400 ms."""
        point = rng.choice(CRASH_POINTS) if rng.random() < 0.8 else f"external:{rng.randint(0, 400)}"
        return self.run_once(point, next_message=rng.choice(NEXT_MESSAGES))
