"""Two Rasa replicas behind the router (tests/scale/cluster.py): the 50 × 20 test 10 times, and faults.

    python -m bench.replicas_bench                 # 10 runs of 50 conversations × 20 messages
    python -m bench.replicas_bench --faults        # PostgreSQL restarted, Redis stopped, RabbitMQ
                                                   # stopped, a replica killed, a rolling restart
    python -m bench.replicas_bench --runs 3 --conversations 20
    python -m bench.replicas_bench --runs 1 --faults   # both on one deployment

One deployment is started and used for every run (a fresh set of conversations each time). A
run is clean when the tracker store in PostgreSQL holds every answered message exactly once, in
order, with every turn whole (`tests.scale.cluster.check`). Under a fault a message may be
refused (the citizen gets a Chinese message from the router, or an empty answer from Rasa) but
no answered message may be lost or stored twice; "after" counts the failures among the messages
sent once the fault was over (recovery by itself: 0 expected).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.scale.cluster import Cluster, check, missing_requirements, run_load  # noqa: E402
from xiaoan.router import INTERRUPTED, UNAVAILABLE  # noqa: E402


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def runs(cluster: Cluster, n: int, conversations: int) -> None:
    rows, clean = [], 0
    for i in range(1, n + 1):
        start = time.monotonic()
        sent = run_load(cluster, conversations=conversations, tag=f"r{i}")
        seconds = time.monotonic() - start
        result = check(cluster, sent)
        ok = not result["problems"]
        clean += ok
        rows.append([i, result["sent"], result["answered"], result["stored_user_messages"], len(result["problems"]),
                     f"{seconds:.0f}", f"{result['sent'] / seconds:.1f}", "ok" if ok else "FAILED"])
        for problem in result["problems"][:5]:
            print("   ", problem, flush=True)
        print(f"run {i}: {rows[-1]}", flush=True)
    print()
    print(table(["run", "sent", "answered", "stored", "problems", "s", "turns/s", "result"], rows))
    print(f"\n{clean}/{n} runs clean ({conversations} conversations × 20 messages, two replicas)")


def faults(cluster: Cluster, conversations: int) -> None:
    pause = 0.5  # spread each conversation over the fault

    def pg():
        time.sleep(6)
        cluster.restart_postgres()
        return time.monotonic()

    def redis():
        time.sleep(6)
        cluster.stop_redis()
        time.sleep(10)
        cluster.start_redis()
        return time.monotonic()

    def rabbit():
        time.sleep(6)
        cluster.amqp_proxy.cut()
        time.sleep(10)
        cluster.amqp_proxy.restore()
        return time.monotonic()

    def kill():
        time.sleep(6)
        cluster.kill("rasa1")
        cluster.start_again("rasa1")  # what a process supervisor does
        return time.monotonic()

    def rolling():
        time.sleep(4)
        cluster.restart("rasa0")
        cluster.restart("rasa1")
        return time.monotonic()

    rows = []
    for name, fault in (("PostgreSQL restarted", pg), ("Redis stopped 10 s", redis),
                        ("RabbitMQ stopped 10 s", rabbit), ("replica killed (SIGKILL), restarted", kill),
                        ("rolling restart of both replicas", rolling)):
        ended: list[float] = []
        start = time.monotonic()
        sent = run_load(cluster, conversations=conversations, tag=f"f{len(rows)}", pause=pause, spread=False,
                        during=lambda f=fault: ended.append(f()))
        result = check(cluster, sent, strict=False)
        failed = [s for s in sent if not s.ok]
        chinese = sum(1 for s in failed if s.error in (INTERRUPTED, UNAVAILABLE))
        empty = sum(1 for s in failed if s.status == 200 and not s.replies)
        # failures among the messages whose conversation step began after the fault was over
        fault_end = ended[0] - start if ended else 0
        late = [s for s in sent if getattr(s, "sent_at", 0) > fault_end]
        after = sum(1 for s in late if not s.ok)
        rows.append([name, result["sent"], result["answered"], len(failed), chinese, empty, len(late), after,
                     len(result["problems"]), f"{fault_end:.0f}"])
        for problem in result["problems"][:5]:
            print("   ", problem, flush=True)
        print(f"{name}: {rows[-1]}", flush=True)
    print()
    print(table(["fault", "sent", "answered", "failed", "Chinese 502/503", "empty answer", "sent after fault",
                 "failed after fault", "lost/duplicated/reordered", "fault over at s"], rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=None, help="default 10 (0 with --faults)")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--faults", action="store_true", help="the fault scenarios instead of the runs")
    parser.add_argument("--lock-store", default="", choices=("", "rasa"),
                        help="rasa: Rasa OSS's own RedisLockStore (shows the race)")
    args = parser.parse_args(argv)
    reason = missing_requirements()
    if reason:
        sys.exit(f"cannot start the two-replica deployment: {reason}")
    cluster = Cluster(Path(tempfile.mkdtemp(prefix="xiaoan-replicas-")), lock_kind=args.lock_store)
    started = time.monotonic()
    try:
        cluster.start()
        print(f"deployment ready in {time.monotonic() - started:.0f} s (logs in {cluster.work})", flush=True)
        n = args.runs if args.runs is not None else (0 if args.faults else 10)
        if n:
            runs(cluster, n, args.conversations)
        if args.faults:
            faults(cluster, min(args.conversations, 20))
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
