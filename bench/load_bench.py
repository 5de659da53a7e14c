"""Load benchmark (issue 13): turns per second, latency and memory of the real stack, beside Rasa's
own starter bot trained and served in the same run.

Two scripts, sent through the REST channel by closed-loop senders (each sends its next message
as soon as the previous answer arrived), at 1 / 8 / 32 concurrent senders, loopback only:

- mixed: a citizen's short visit — greeting, a registration question, a prepaid-card question,
  a complaint opening, two form answers (name, phone), cancel — then a new conversation;
- long: one conversation of 60 turns (questions and small talk, no form), latency per block of
  ten turns, so a cost that grows with conversation length shows.

小安 runs as tests/e2e and bench/conversation_bench.py start it (Rasa server with
models/xiaoan.tar.gz, action server, fresh SQLite database and tracker store). The starter bot is
`rasa init --no-prompt` in var/bench/starter/ (trained once; its model is reused on later runs)
served by the same venv with its default in-memory tracker store.

    python -m bench load [--duration 20] [--clients 1,8,32] [--no-starter] [--no-long]
                         [--profile] [--model PATH] [--root DIR] [--json OUT]

Prints one table per target and script, RSS of every process (peak during the level), the first
answer after start-up, and the comparison with the issue's targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
STARTER_DIR = ROOT / "var" / "bench" / "starter"
DEFAULT_MODEL = ROOT / "models" / "xiaoan.tar.gz"

# The mixed citizen script (one conversation per round).
MIXED = [
    "你好",
    "个体户营业执照怎么办理",
    "健身房的预付卡老板跑路了能退钱吗",
    "我要投诉商家",
    "张伟",
    "13812345678",
    "算了",
]
# 60 turns in one conversation: questions the knowledge base answers and small talk, no form.
_LONG_CYCLE = [
    "你好",
    "个体户营业执照怎么办理",
    "网购七天无理由退货怎么算",
    "健身房的预付卡老板跑路了能退钱吗",
    "食品过期了怎么办",
    "谢谢",
]
LONG = [_LONG_CYCLE[i % len(_LONG_CYCLE)] for i in range(60)]

# Targets of issue 13 ("Done when").
TARGET_TPS = 25.0
TARGET_RATIO = 0.8
TARGET_P50_MS = 50.0
TARGET_P95_RATIO = 1.5
TARGET_RSS_MB = 1300.0
TARGET_MODEL_MB = 40.0
TARGET_FIRST_MS = 200.0


# Every turn of the load comes from this one address, as every citizen's comes from the web app's:
# the REST channel's per-address limit (1,200 a minute, xiaoan/channels/limits.py) would refuse a
# replica that serves more than 20 turns a second, and the limit is not what this measures.
LOAD_ENV = {"XIAOAN_LIMIT_REST_IP": "1000000/1m"}

# --- processes ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    """Resident set size of a process and its descendants, in MB (0 when gone)."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class RssSampler:
    """Samples the RSS of named processes every `interval` seconds in a thread; keeps the peak."""

    def __init__(self, pids: dict[str, int], interval: float = 0.5) -> None:
        self.pids = pids
        self.interval = interval
        self.peak = {name: 0.0 for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> dict[str, float]:
        now = {name: rss_mb(pid) for name, pid in self.pids.items()}
        for name, value in now.items():
            self.peak[name] = max(self.peak[name], value)
        return now

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass
class Target:
    """A running bot to load: where its REST channel is, what it needs, which processes it is."""

    name: str
    rest_url: str
    headers: dict
    pids: dict
    stop: callable = None  # type: ignore[valid-type]
    first_answer_ms: float | None = None
    model_mb: float | None = None


def start_xiaoan(model: Path, workdir: Path, root: Path = ROOT) -> Target:
    """小安 as tests/e2e starts it; `root` = the code of another checkout (a before/after run)."""
    from bench.conversation_bench import start_stack, stop_stack

    started = time.monotonic()
    stack = start_stack(root, model, workdir, extra_env=LOAD_ENV)
    ready_s = time.monotonic() - started
    target = Target(
        name="小安",
        rest_url=f"{stack.rasa_url}/webhooks/rest/webhook",
        headers={"X-Xiaoan-Rest-Secret": stack.env["XIAOAN_REST_SECRET"]},
        pids={name: proc.pid for name, proc in stack.procs.items()},
        stop=lambda: stop_stack(stack),
        model_mb=model.stat().st_size / 1e6,
    )
    target.ready_s = ready_s  # type: ignore[attr-defined]
    target.stack = stack  # type: ignore[attr-defined]
    return target


def starter_model(rebuild: bool = False) -> Path:
    """Rasa's starter bot (`rasa init --no-prompt`) in var/bench/starter/, trained once."""
    models = sorted((STARTER_DIR / "models").glob("*.tar.gz")) if STARTER_DIR.exists() else []
    if models and not rebuild:
        return models[-1]
    if STARTER_DIR.exists():
        shutil.rmtree(STARTER_DIR)
    STARTER_DIR.mkdir(parents=True)
    print("training Rasa's starter bot (rasa init --no-prompt) once into var/bench/starter/ …", flush=True)
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run([str(BIN / "rasa"), "init", "--no-prompt", "--init-dir", str(STARTER_DIR)],
                            cwd=STARTER_DIR, env=env, capture_output=True, text=True, timeout=3600)
    models = sorted((STARTER_DIR / "models").glob("*.tar.gz"))
    if result.returncode != 0 or not models:
        raise RuntimeError(f"rasa init failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return models[-1]


def start_starter(workdir: Path) -> Target:
    from tests.processes import free_port

    model = starter_model()
    port = free_port()
    env = dict(os.environ, RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2", SANIC_HOST="127.0.0.1")
    env.pop("PYTHONPATH", None)
    log = open(workdir / "starter.log", "w")
    proc = subprocess.Popen([str(BIN / "rasa"), "run", "-i", "127.0.0.1", "-p", str(port), "--model", str(model),
                             "--credentials", str(STARTER_DIR / "credentials.yml")],
                            cwd=STARTER_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    import requests

    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"starter bot exited:\n{(workdir / 'starter.log').read_text()[-3000:]}")
        try:
            if requests.get(f"{url}/", timeout=2).status_code < 500:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("starter bot did not start")
        time.sleep(1)

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()

    return Target(name="Rasa starter bot", rest_url=f"{url}/webhooks/rest/webhook", headers={},
                  pids={"rasa": proc.pid}, stop=stop, model_mb=model.stat().st_size / 1e6)


# --- load --------------------------------------------------------------------------------------


@dataclass
class LevelResult:
    """One script at one concurrency."""

    target: str
    script: str
    clients: int
    turns: int
    errors: int
    seconds: float
    latencies: list = field(default_factory=list)       # seconds
    by_turn: dict = field(default_factory=dict)         # block of 10 turns -> latencies (long script)
    by_text: dict = field(default_factory=dict)         # message -> latencies (which turn is slow)
    rss: dict = field(default_factory=dict)             # process -> peak MB

    @property
    def tps(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def summary(self) -> dict:
        return {"target": self.target, "script": self.script, "clients": self.clients, "turns": self.turns,
                "errors": self.errors, "seconds": round(self.seconds, 1), "turns_per_s": round(self.tps, 1),
                "p50_ms": round(self.pct(50), 1), "p95_ms": round(self.pct(95), 1), "p99_ms": round(self.pct(99), 1),
                "rss_mb": {k: round(v) for k, v in self.rss.items()},
                "by_turn_p50_ms": {k: round(percentile(v, 50) * 1000, 1) for k, v in sorted(self.by_turn.items())}}


def percentile(values: list, q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def send(session: aiohttp.ClientSession, target: Target, sender: str, text: str) -> float:
    """One turn; returns its latency in seconds (raises on an HTTP error)."""
    started = time.perf_counter()
    async with session.post(target.rest_url, json={"sender": sender, "message": text}, headers=target.headers) as r:
        body = await r.read()
        if r.status != 200:
            raise RuntimeError(f"HTTP {r.status}: {body[:200]!r}")
    return time.perf_counter() - started


async def _sender(target: Target, script: list[str], deadline: float, result: LevelResult, tag: str,
                  pace: float | None = None) -> None:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:  # keep-alive, like the web app's client
        while time.monotonic() < deadline:
            sender = f"load-{tag}-{uuid.uuid4().hex[:10]}"
            for index, text in enumerate(script):
                if time.monotonic() >= deadline:
                    return
                started = time.monotonic()
                try:
                    latency = await send(session, target, sender, text)
                except Exception:  # noqa: BLE001 - counted, the load goes on
                    result.errors += 1
                    await asyncio.sleep(0.2)
                    continue
                result.turns += 1
                result.latencies.append(latency)
                result.by_turn.setdefault(index // 10 * 10 + 1, []).append(latency)
                result.by_text.setdefault(text, []).append(latency)
                if pace:
                    await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))


async def run_level_async(target: Target, script_name: str, script: list[str], clients: int,
                          duration: float, pace: float | None = None) -> LevelResult:
    result = LevelResult(target=target.name, script=script_name, clients=clients, turns=0, errors=0, seconds=0.0)
    started = time.monotonic()
    deadline = started + duration
    await asyncio.gather(*(_sender(target, script, deadline, result, f"{script_name}{i}", pace)
                           for i in range(clients)))
    result.seconds = time.monotonic() - started
    return result


def run_level(target: Target, script_name: str, script: list[str], clients: int, duration: float) -> LevelResult:
    with RssSampler(target.pids) as sampler:
        result = asyncio.run(run_level_async(target, script_name, script, clients, duration))
    result.rss = dict(sampler.peak)
    return result


def first_answer_ms(target: Target) -> float:
    """Latency of the very first knowledge-base question after start-up (a new conversation)."""
    async def once() -> float:
        async with aiohttp.ClientSession() as session:
            return await send(session, target, f"first-{uuid.uuid4().hex[:8]}", "个体户营业执照怎么办理")
    return asyncio.run(once()) * 1000


# --- profile -----------------------------------------------------------------------------------


def py_spy_top(pid: int, seconds: int, workdir: Path, limit: int = 20) -> list[tuple[str, float]]:
    """Sample a process with py-spy for `seconds`; the functions with the most inclusive time,
    leaving out the trunk every sample passes through (server loop, request handler: > 80 %),
    then the leaf functions with the most samples of their own (marked "self")."""
    exe = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if not exe:
        return []
    out = workdir / f"pyspy-{pid}.txt"
    subprocess.run([exe, "record", "--pid", str(pid), "--duration", str(seconds), "--format", "raw",
                    "--output", str(out), "--nonblocking", "--rate", "50"], capture_output=True, timeout=seconds + 60)
    if not out.exists():
        return []
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return []
    ranked = [(f, n) for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1]) if n < 0.8 * total]
    own: dict[str, int] = {}
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if count.isdigit():
            leaf = stack.split(";")[-1]
            own[leaf] = own.get(leaf, 0) + int(count)
    leaves = sorted(own.items(), key=lambda kv: -kv[1])[:10]
    return ([(frame, 100.0 * n / total) for frame, n in ranked[:limit]]
            + [(f"self: {frame}", 100.0 * n / total) for frame, n in leaves])


# --- report ------------------------------------------------------------------------------------


def print_table(results: list[LevelResult]) -> None:
    head = f"| {'target':<16} | {'script':<6} | clients | turns/s | p50 ms | p95 ms | p99 ms | errors | peak RSS MB |"
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for r in results:
        rss = ", ".join(f"{k} {v:.0f}" for k, v in r.rss.items())
        print(f"| {r.target:<16} | {r.script:<6} | {r.clients:>7} | {r.tps:>7.1f} | {r.pct(50):>6.0f} | "
              f"{r.pct(95):>6.0f} | {r.pct(99):>6.0f} | {r.errors:>6} | {rss} |")


def print_by_text(results: list[LevelResult]) -> None:
    """Which message of the mixed script costs what (1 client: no queueing)."""
    ones = [r for r in results if r.script == "mixed" and r.clients == min(x.clients for x in results)]
    if not ones:
        return
    print(f"\nmixed script, {ones[0].clients} client(s): p50 / p95 ms per message")
    print("| message | " + " | ".join(r.target for r in ones) + " |")
    print("|---|" + "---|" * len(ones))
    for text in MIXED:
        cells = " | ".join(f"{percentile(r.by_text.get(text, []), 50) * 1000:.0f} / "
                           f"{percentile(r.by_text.get(text, []), 95) * 1000:.0f}" for r in ones)
        print(f"| {text} | {cells} |")


def print_long(results: list[LevelResult]) -> None:
    longs = [r for r in results if r.script == "long"]
    if not longs:
        return
    print("\nlong conversation: p50 ms by turn block")
    blocks = sorted({b for r in longs for b in r.by_turn})
    print("| target | clients | " + " | ".join(f"turns {b}-{b + 9}" for b in blocks) + " |")
    print("|---|---|" + "---|" * len(blocks))
    for r in longs:
        cells = " | ".join(f"{percentile(r.by_turn.get(b, []), 50) * 1000:.0f}" for b in blocks)
        print(f"| {r.target} | {r.clients} | {cells} |")


def verdicts(results: list[LevelResult], targets: list[Target]) -> list[tuple[str, str, bool | None]]:
    """(what, measured, met?) against the issue's targets; None = not measured this run."""
    def get(target: str, script: str, clients: int) -> LevelResult | None:
        return next((r for r in results if r.target == target and r.script == script and r.clients == clients), None)

    xa = next((t for t in targets if t.name == "小安"), None)
    rows: list[tuple[str, str, bool | None]] = []
    mixed = [r for r in results if r.target == "小安" and r.script == "mixed"]
    if mixed:
        best = max(mixed, key=lambda r: r.tps)
        rows.append((f"mixed ≥ {TARGET_TPS:.0f} turns/s", f"{best.tps:.1f} (at {best.clients} clients)",
                     best.tps >= TARGET_TPS))
        starter = [r for r in results if r.target != "小安" and r.script == "mixed"]
        if starter:
            sbest = max(starter, key=lambda r: r.tps)
            ratio = best.tps / sbest.tps if sbest.tps else 0
            rows.append((f"≥ {TARGET_RATIO}× starter bot", f"{ratio:.2f}× ({best.tps:.1f} / {sbest.tps:.1f})",
                         ratio >= TARGET_RATIO))
        one = get("小安", "mixed", 1)
        if one:
            rows.append((f"p50 at 1 client ≤ {TARGET_P50_MS:.0f} ms", f"{one.pct(50):.0f} ms", one.pct(50) <= TARGET_P50_MS))
        x32, s32 = get("小安", "mixed", 32), get("Rasa starter bot", "mixed", 32)
        if x32 and s32:
            ratio = x32.pct(95) / s32.pct(95)
            rows.append((f"p95 at 32 ≤ {TARGET_P95_RATIO}× starter", f"{x32.pct(95):.0f} / {s32.pct(95):.0f} ms = {ratio:.2f}×",
                         ratio <= TARGET_P95_RATIO))
        peak = max(r.rss.get("rasa", 0) for r in mixed)
        rows.append((f"Rasa server RSS ≤ {TARGET_RSS_MB:.0f} MB", f"{peak:.0f} MB", peak <= TARGET_RSS_MB))
    if xa is not None:
        rows.append((f"model file ≤ {TARGET_MODEL_MB:.0f} MB", f"{xa.model_mb:.0f} MB", xa.model_mb <= TARGET_MODEL_MB))
        if xa.first_answer_ms is not None:
            rows.append((f"first answer ≤ {TARGET_FIRST_MS:.0f} ms", f"{xa.first_answer_ms:.0f} ms",
                         xa.first_answer_ms <= TARGET_FIRST_MS))
    long1 = [r for r in results if r.target == "小安" and r.script == "long"]
    if long1:
        r = min(long1, key=lambda r: r.clients)
        blocks = sorted(r.by_turn)
        if len(blocks) >= 2:
            first, last = percentile(r.by_turn[blocks[0]], 50), percentile(r.by_turn[blocks[-1]], 50)
            ratio = last / first if first else float("nan")
            rows.append(("turn cost flat (turns 51-60 vs 1-10)", f"{first * 1000:.0f} → {last * 1000:.0f} ms = {ratio:.2f}×",
                         ratio <= 1.25))
    return rows


def print_verdicts(rows: list[tuple[str, str, bool | None]]) -> None:
    print("\nissue 13 targets")
    print("| target | measured | met |")
    print("|---|---|---|")
    for what, measured, ok in rows:
        print(f"| {what} | {measured} | {'yes' if ok else 'NO' if ok is not None else '-'} |")


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per script and concurrency (default 20)")
    ap.add_argument("--clients", default="1,8,32", help="concurrent senders, comma-separated (default 1,8,32)")
    ap.add_argument("--no-starter", action="store_true", help="skip Rasa's starter bot")
    ap.add_argument("--no-long", action="store_true", help="skip the 60-turn conversation script")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the Rasa server and the action server during the 8-client mixed level")
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--root", type=Path, default=ROOT,
                    help="run the code of another checkout (e.g. main before a change), with --model")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> list[LevelResult]:
    args = parse_args(argv)
    clients = [int(c) for c in args.clients.split(",") if c.strip()]
    if not args.model.exists():
        sys.exit(f"no trained model at {args.model}: run `make train`")
    results: list[LevelResult] = []
    targets: list[Target] = []
    profiles: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="xiaoan-load-") as tmp:
        work = Path(tmp)
        plans = [("xiaoan", lambda: start_xiaoan(args.model, work / "xiaoan", args.root.resolve()))]
        if not args.no_starter:
            plans.append(("starter", lambda: start_starter(work)))
        (work / "xiaoan").mkdir()
        for key, start in plans:
            target = start()
            targets.append(target)
            try:
                if key == "xiaoan":
                    target.first_answer_ms = first_answer_ms(target)
                    print(f"小安 ready in {target.ready_s:.0f} s; first answer {target.first_answer_ms:.0f} ms", flush=True)
                else:
                    first_answer_ms(target)  # its first turn loads lazily too; not a target
                scripts = [("mixed", MIXED)] + ([] if args.no_long else [("long", LONG)])
                for script_name, script in scripts:
                    for n in clients:
                        if key == "xiaoan" and args.profile and script_name == "mixed" and n == 8:
                            holder: dict = {}
                            spies = [threading.Thread(target=lambda name=name, pid=pid: holder.__setitem__(
                                name, py_spy_top(pid, max(5, int(args.duration) - 2), work)))
                                for name, pid in target.pids.items()]
                            for t in spies:
                                t.start()
                            r = run_level(target, script_name, script, n, args.duration)
                            for t in spies:
                                t.join()
                            profiles.update(holder)
                        else:
                            r = run_level(target, script_name, script, n, args.duration)
                        results.append(r)
                        print(f"  {target.name} {script_name} ×{n}: {r.tps:.1f} turns/s, p50 {r.pct(50):.0f} ms, "
                              f"p95 {r.pct(95):.0f} ms, errors {r.errors}", flush=True)
            finally:
                target.stop()
    print()
    print_table(results)
    print_by_text(results)
    print_long(results)
    rows = verdicts(results, targets)
    print_verdicts(rows)
    for name, top in profiles.items():
        print(f"\npy-spy, {name}: inclusive share of samples (8 clients, mixed)")
        for frame, share in top:
            print(f"  {share:5.1f}%  {frame[:150]}")
    if args.json:
        args.json.write_text(json.dumps({"levels": [r.summary() for r in results],
                                         "first_answer_ms": targets[0].first_answer_ms,
                                         "model_mb": targets[0].model_mb,
                                         "targets": [{"what": w, "measured": m, "met": ok} for w, m, ok in rows]},
                                        ensure_ascii=False, indent=2))
    return results


if __name__ == "__main__":
    main()
