"""A production-like deployment on loopback, and the load that proves it keeps conversations whole.

`Cluster` starts: its own PostgreSQL (initdb in a temporary folder: project database + Rasa
tracker store, restartable without touching anyone else's server), its own Redis (lock store
db 1, shared rate-limit counters db 2), a queue of its own on the machine's RabbitMQ reached
through a TCP proxy the harness can cut ("RabbitMQ stopped" without stopping the shared
server), two action servers, two Rasa replicas (replica i calls action server i), two web apps
and the router (`xiaoan.router`) in front of them.

`run_load` sends N conversations × M messages at once. Even conversations go through the
router (a conversation stays on one replica); odd ones go straight to the replicas, each request
to the other replica than the one before, and every other step sends two messages of the same
conversation at the same moment, one to each replica (what a router without stickiness, or a
failover, does). `check` then reads Rasa's tracker store in PostgreSQL and reports every
message lost or stored twice, every step out of order and every turn broken into by another.

Used by tests/scale/test_replicas.py and bench/replicas_bench.py (10 runs, faults).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from tests import processes
from tests.processes import MODEL, ROOT, free_port

AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672

#: Twenty different citizen messages: knowledge-base questions, a form opened, answered and
#: cancelled, small talk. The checks compare texts, so they must differ.
MESSAGES = [
    "你好", "个体户营业执照怎么办", "网购的衣服不合适能退吗", "我要投诉", "王小明", "13812345678",
    "算了不投诉了", "食品过期了向哪里举报", "营业执照丢了怎么补办", "健身房关门跑路了怎么办",
    "查询工单进度", "XA-261126-0001", "你是谁", "怎么申请食品经营许可证", "商品价格欺诈怎么投诉",
    "好的", "周末上班吗", "预付卡退款难怎么办", "谢谢你", "再见",
]
#: Steps of one conversation: 1 = one message, 2 = two messages at the same moment.
STEPS = [1, 2] * 6 + [1, 1]
assert sum(STEPS) == len(MESSAGES)


def missing_requirements() -> Optional[str]:
    """Why the cluster cannot run on this machine, or None."""
    if not MODEL.exists():
        return f"no trained model at {MODEL}: run `make train`"
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        return "PostgreSQL server binaries (initdb) not installed"
    if shutil.which("redis-server") is None:
        return "redis-server not installed"
    try:
        import socket

        with socket.create_connection((AMQP_HOST, AMQP_PORT), timeout=2):
            pass
    except OSError:
        return f"RabbitMQ not reachable at {AMQP_HOST}:{AMQP_PORT}"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user to run PostgreSQL as"
    return None


class TcpProxy:
    """A loopback TCP proxy that can be cut (every connection dropped, new ones refused) and restored."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._server = None
        self._writers: set = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.restore()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    async def _pipe(self, reader, writer) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except Exception:  # noqa: BLE001 - either side closed
            pass
        finally:
            writer.close()

    async def _handle(self, reader, writer) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        self._writers.clear()

    def cut(self) -> None:
        self._call(self._stop())

    def restore(self) -> None:
        self._call(self._start())

    def close(self) -> None:
        self.cut()
        self.loop.call_soon_threadsafe(self.loop.stop)


@dataclass
class Cluster:
    work: Path
    balance: str = "hash"
    lock_kind: str = ""
    ports: dict = field(default_factory=dict)
    procs: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)
    queue: str = ""
    amqp_proxy: Optional[TcpProxy] = None

    # ---------------------------------------------------------------- start / stop
    def start(self) -> "Cluster":
        self.work.mkdir(parents=True, exist_ok=True)
        names = ["pg", "redis", "router"] + [f"{k}{i}" for k in ("rasa", "actions", "web") for i in (0, 1)]
        self.ports = {name: free_port() for name in names}
        self.queue = f"xiaoan_scale_{uuid.uuid4().hex[:8]}"
        self._start_postgres()
        self.start_redis()
        self.amqp_proxy = TcpProxy(AMQP_HOST, AMQP_PORT)
        pg = f"postgresql://postgres@127.0.0.1:{self.ports['pg']}"
        self.token = secrets.token_urlsafe(16)
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": f"{pg}/xiaoan",
            "XIAOAN_TRACKER_STORE_URL": f"{pg}/rasa",
            "XIAOAN_LOCK_STORE_URL": f"redis://127.0.0.1:{self.ports['redis']}/1",
            "XIAOAN_REDIS_URL": f"redis://127.0.0.1:{self.ports['redis']}/2",
            "XIAOAN_EVENT_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{self.amqp_proxy.port}",
            "XIAOAN_EVENT_BROKER_QUEUE": self.queue,
            "XIAOAN_VAR_DIR": str(self.work / "var"),
            "XIAOAN_RASA_TOKEN": self.token,
            "XIAOAN_RASA_URL": f"http://127.0.0.1:{self.ports['router']}",
            "XIAOAN_WEB_SECRET_KEY": secrets.token_urlsafe(32),
            "XIAOAN_REST_SECRET": secrets.token_urlsafe(32),
            "XIAOAN_ACTION_SECRET": secrets.token_urlsafe(32),
            "XIAOAN_TRUSTED_PROXY_HOPS": "1",
            # Rasa keeps connections to the action server open (aiohttp, 15 s); Sanic closes idle
            # ones after 5 s, and a request sent on a connection being closed fails ("Cannot
            # write to closing transport"): the server must keep them longer than the client
            "SANIC_KEEP_ALIVE_TIMEOUT": "75",
            # every conversation of the load comes from this one address, as all citizens come from
            # the web app's: the per-address limit of the REST channel (1,200 a minute, over three
            # times the hotline's estimated peak, README "容量估算") is what a faster cluster hits
            # first, and it is not what this test measures (runs back to back reached 21 turns/s)
            "XIAOAN_LIMIT_REST_IP": "100000/1m",
            **processes.QUIET_ENV,
        })
        if self.lock_kind:
            env["XIAOAN_LOCK_STORE_KIND"] = self.lock_kind
        env.pop("XIAOAN_TICKET_API_URL", None)
        self.env = env
        processes.prepare_database(env)
        self._create_tracker_table()
        for i in (0, 1):
            self._spawn(f"actions{i}")
        for i in (0, 1):
            self._spawn(f"rasa{i}")
        for i in (0, 1):
            self._spawn(f"web{i}")
        self._spawn("router")
        for i in (0, 1):
            self.wait_ready(f"actions{i}")
        for i in (0, 1):
            self.wait_ready(f"rasa{i}", timeout=600)
            self.wait_ready(f"web{i}")
        self.wait_ready("router")
        return self

    def _command(self, name: str) -> list[str]:
        kind, i = name.rstrip("01"), name[-1]
        if kind == "actions":
            return processes.actions_command(self.ports[name])
        if kind == "rasa":
            return processes.rasa_command(self.ports[name], self.token)
        if kind == "web":
            return processes.web_command(self.ports[name])
        return [sys.executable, "-m", "xiaoan.router", "--port", str(self.ports["router"]), "--balance", self.balance,
                "--rasa", ",".join(self.url(f"rasa{j}") for j in (0, 1)),
                "--web", ",".join(self.url(f"web{j}") for j in (0, 1))]

    def _spawn(self, name: str) -> None:
        env = dict(self.env)
        if name.startswith("rasa"):
            env["XIAOAN_ACTION_URL"] = f"{self.url('actions' + name[-1])}/webhook"
        self.procs[name] = processes.spawn(self._command(name), self.work / f"{name}.log", env, append=True,
                                           start_new_session=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def health_url(self, name: str) -> str:
        path = {"actions": "/health", "rasa": f"/status?token={self.token}", "web": "/healthz",
                "router": "/_router/stats"}[name.rstrip("01")]
        return self.url(name) + path

    def wait_ready(self, name: str, timeout: float = 240) -> float:
        """Wait until the process answers its health check; the seconds it took."""
        return processes.wait_until_up(self.health_url(name), self.procs[name], name, lambda: self.log(name),
                                       timeout=timeout)

    def log(self, name: str) -> str:
        return processes.read_log(self.work / f"{name}.log")

    def stop(self) -> None:
        processes.stop(self.procs.values())
        self.stop_redis()
        self._pg_ctl("stop", "-m", "immediate")
        shutil.rmtree(self.pgdir, ignore_errors=True)
        if self.amqp_proxy is not None:
            self.amqp_proxy.close()
        self._delete_queue()

    # ---------------------------------------------------------------- replicas
    def kill(self, name: str) -> None:
        """SIGKILL (a crash: in-flight messages fail)."""
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(timeout=10)

    def restart(self, name: str) -> float:
        """Graceful stop (SIGTERM: in-flight requests finish), start again; seconds until ready."""
        proc = self.procs[name]
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        return self.start_again(name)

    def start_again(self, name: str) -> float:
        start = time.monotonic()
        self._spawn(name)
        self.wait_ready(name, timeout=600)
        return time.monotonic() - start

    # ---------------------------------------------------------------- PostgreSQL
    def _pg_bin(self, tool: str) -> str:
        return sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))[-1]

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    @property
    def pgdir(self) -> Path:
        if not getattr(self, "_pgdir", None):
            import tempfile

            self._pgdir = Path(tempfile.mkdtemp(prefix="xiaoan-scale-pg-"))  # the postgres user must reach it
            self._pgdir.chmod(0o755)
            if os.geteuid() == 0:
                shutil.chown(self._pgdir, "postgres")
        return self._pgdir

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess:
        data = self.pgdir / "data"
        opts = f"-p {self.ports['pg']} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        return subprocess.run(self._as_postgres([self._pg_bin("pg_ctl"), "-D", str(data), "-o", opts, "-l",
                                                 str(self.pgdir / "pg.log"), "-w", *args]),
                              capture_output=True, text=True, timeout=120)

    def _start_postgres(self) -> None:
        data = self.pgdir / "data"
        r = subprocess.run(self._as_postgres([self._pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U",
                                              "postgres", "--no-sync", "-E", "UTF8", "--locale", "C.UTF-8"]),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        r = self._pg_ctl("start")
        assert r.returncode == 0, r.stderr + self._read(self.pgdir / "pg.log")
        for db in ("xiaoan", "rasa"):
            subprocess.run(self._as_postgres([self._pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.ports["pg"]),
                                              "-U", "postgres", db]), check=True, timeout=60)

    def restart_postgres(self) -> None:
        """Fast restart: every open connection is dropped."""
        r = self._pg_ctl("restart", "-m", "fast")
        assert r.returncode == 0, r.stderr

    def _create_tracker_table(self) -> None:
        from rasa.core.tracker_store import SQLTrackerStore

        store = SQLTrackerStore(host=self.env["XIAOAN_TRACKER_STORE_URL"])
        store.engine.dispose()

    @staticmethod
    def _read(path: Path) -> str:
        return path.read_text(errors="replace") if path.exists() else ""

    def tracker_events(self) -> dict[str, list[dict]]:
        """Every stored event by conversation, in the order the tracker store keeps them."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.env["XIAOAN_TRACKER_STORE_URL"], future=True)
        out: dict[str, list[dict]] = {}
        with engine.connect() as conn:
            for sender, data in conn.execute(text("SELECT sender_id, data FROM events ORDER BY id")):
                out.setdefault(sender, []).append(json.loads(data))
        engine.dispose()
        return out

    # ---------------------------------------------------------------- Redis / RabbitMQ
    def start_redis(self) -> None:
        self.procs["redis"] = subprocess.Popen(
            ["redis-server", "--port", str(self.ports["redis"]), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.work)], stdout=open(self.work / "redis.log", "a"),
            stderr=subprocess.STDOUT)
        import redis

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                redis.Redis(port=self.ports["redis"]).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("redis-server did not start")

    def stop_redis(self) -> None:
        proc = self.procs.get("redis")
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=20)

    def broker_events(self) -> dict[str, int]:
        """How many events each conversation has in the RabbitMQ queue (read without consuming)."""
        import aio_pika

        async def read() -> dict[str, int]:
            conn = await aio_pika.connect(f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/", timeout=10)
            counts: dict[str, int] = {}
            try:
                channel = await conn.channel()
                try:
                    queue = await channel.declare_queue(self.queue, passive=True)
                except aio_pika.exceptions.ChannelNotFoundEntity:
                    return counts  # no replica ever published
                while True:
                    message = await queue.get(no_ack=False, fail=False)
                    if message is None:
                        break
                    sender = json.loads(message.body).get("sender_id", "")
                    counts[sender] = counts.get(sender, 0) + 1
            finally:
                await conn.close()  # unacknowledged messages go back to the queue
            return counts

        return asyncio.run(read())

    def _delete_queue(self) -> None:
        import aio_pika

        async def delete() -> None:
            conn = await aio_pika.connect(f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/", timeout=10)
            try:
                await (await conn.channel()).queue_delete(self.queue)
            finally:
                await conn.close()

        try:
            asyncio.run(delete())
        except Exception:  # noqa: BLE001 - best effort: the queue is bounded anyway
            pass


# -------------------------------------------------------------------- load and checks
@dataclass
class Sent:
    conversation: str
    step: int
    text: str
    target: str
    status: int = 0
    replies: list = field(default_factory=list)
    error: str = ""
    sent_at: float = 0.0  # seconds since the load started

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.replies)


async def _post(session, cluster: Cluster, sent: Sent) -> None:
    import aiohttp

    url = cluster.url(sent.target) + "/webhooks/rest/webhook"
    try:
        async with session.post(url, json={"sender": sent.conversation, "message": sent.text},
                                headers={"X-Xiaoan-Rest-Secret": cluster.env["XIAOAN_REST_SECRET"]}) as r:
            sent.status = r.status
            body = await r.json(content_type=None)
            if r.status == 200 and isinstance(body, list):
                sent.replies = body
            else:
                sent.error = (body or {}).get("error", "") if isinstance(body, dict) else str(body)[:200]
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        sent.error = exc.__class__.__name__


async def _conversation(session, cluster: Cluster, index: int, tag: str, out: list, pause: float,
                        spread: bool) -> None:
    started = START[0]
    conversation = f"scale-{tag}-{index:03d}"
    direct = spread and index % 2 == 1
    position = 0
    turn = 0
    for step, size in enumerate(STEPS):
        batch = []
        for _ in range(size):
            target = f"rasa{turn % 2}" if direct else "router"
            batch.append(Sent(conversation, step, MESSAGES[position], target))
            position += 1
            turn += 1
        for s in batch:
            s.sent_at = time.monotonic() - started
        out.extend(batch)
        await asyncio.gather(*(_post(session, cluster, s) for s in batch))
        if pause:
            await asyncio.sleep(pause)


START = [0.0]


def run_load(cluster: Cluster, conversations: int = 50, tag: str = "", pause: float = 0.0,
             during=None, spread: bool = True) -> list[Sent]:
    """All conversations at once; `during()` runs in a thread meanwhile (a fault). spread=False:
    every conversation goes through the router (what citizens do); True: odd conversations go
    straight to the replicas, alternating (the worst case for the lock store)."""
    import aiohttp

    tag = tag or uuid.uuid4().hex[:6]
    out: list[Sent] = []

    async def main() -> None:
        START[0] = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=180)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as session:
            tasks = [_conversation(session, cluster, i, tag, out, pause, spread) for i in range(conversations)]
            if during is not None:
                fault = asyncio.get_running_loop().run_in_executor(None, during)
                await asyncio.gather(*tasks, fault)
            else:
                await asyncio.gather(*tasks)

    asyncio.run(main())
    return out


def check(cluster: Cluster, sent: list[Sent], strict: bool = True) -> dict:
    """Compare what was sent with Rasa's tracker store.

    strict: every message must have been answered (no fault). Otherwise a message that got an
    error may be missing (it was refused or cut off) but never stored twice; every message that
    was answered must be stored exactly once.
    """
    stored = cluster.tracker_events()
    problems: list[str] = []
    by_conv: dict[str, list[Sent]] = {}
    for s in sent:
        by_conv.setdefault(s.conversation, []).append(s)
    for conv, messages in by_conv.items():
        events = stored.get(conv, [])
        texts = [e.get("text") for e in events if e.get("event") == "user"]
        for s in messages:
            n = texts.count(s.text)
            if s.ok and n != 1:
                problems.append(f"{conv}: answered message {s.text!r} stored {n} times")
            elif not s.ok and n > 1:
                problems.append(f"{conv}: refused message {s.text!r} stored {n} times")
            if strict and not s.ok:
                problems.append(f"{conv}: {s.text!r} not answered (HTTP {s.status} {s.error})")
        step_of = {s.text: s.step for s in messages}
        steps = [step_of[t] for t in texts if t in step_of]
        if steps != sorted(steps):
            problems.append(f"{conv}: messages stored out of order (steps {steps})")
        stamps = [e.get("timestamp") or 0 for e in events]
        if stamps != sorted(stamps):
            problems.append(f"{conv}: event timestamps go backwards")
        last_action = None
        for e in events:
            if e.get("event") == "user" and last_action not in (None, "action_listen"):
                problems.append(f"{conv}: a message came in while the turn before was unfinished ({last_action})")
            if e.get("event") == "action":
                last_action = e.get("name")
        keys = [json.dumps(e, sort_keys=True) for e in events]
        if len(keys) != len(set(keys)):
            problems.append(f"{conv}: an event is stored twice")
    answered = sum(s.ok for s in sent)
    return {"sent": len(sent), "answered": answered, "refused": len(sent) - answered,
            "stored_user_messages": sum(1 for c in by_conv for e in stored.get(c, []) if e.get("event") == "user"),
            "problems": problems}
