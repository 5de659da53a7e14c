"""Soak benchmark (issue 13): the mixed citizen script at half capacity for 30 minutes, printing
RSS of each process and latency minute by minute; flat RSS and latency and no errors pass.

The stack is started as bench/load_bench.py starts it. Capacity is measured first (the mixed
script, 8 closed-loop senders, 20 s) unless `--rate` is given; then 8 senders each send at an
even pace so that together they offer half of it (an open loop: a slow answer does not lower
the offered load).

    python -m bench soak [--minutes 30] [--rate TURNS_PER_S] [--senders 8] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from bench.load_bench import DEFAULT_MODEL, MIXED, percentile, rss_mb, run_level, send, start_xiaoan

RSS_GROWTH_LIMIT = 1.10   # last minute's RSS ≤ 110 % of the second minute's (the first one warms up)
P95_GROWTH_LIMIT = 1.50


async def soak(target, rate: float, senders: int, minutes: float, report) -> list[dict]:
    """Offer `rate` turns/s for `minutes`; calls `report(row)` at the end of every minute."""
    interval = senders / rate  # seconds between two messages of one sender
    started = time.monotonic()
    deadline = started + minutes * 60
    buckets: dict[int, dict] = {}

    def bucket(now: float) -> dict:
        return buckets.setdefault(int((now - started) // 60), {"lat": [], "errors": 0})

    async def sender(i: int) -> None:
        await asyncio.sleep(interval * i / senders)  # spread the senders over one interval
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            next_at = time.monotonic()
            while time.monotonic() < deadline:
                conversation = f"soak-{i}-{uuid.uuid4().hex[:10]}"
                for text in MIXED:
                    if time.monotonic() >= deadline:
                        return
                    try:
                        latency = await send(session, target, conversation, text)
                        bucket(time.monotonic())["lat"].append(latency)
                    except Exception:  # noqa: BLE001 - counted
                        bucket(time.monotonic())["errors"] += 1
                    next_at += interval
                    await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def reporter() -> list[dict]:
        rows = []
        minute = 0
        while True:
            end = started + (minute + 1) * 60
            if end > deadline + 0.5:
                break
            await asyncio.sleep(max(0.0, end - time.monotonic()))
            b = buckets.get(minute, {"lat": [], "errors": 0})
            lat = b["lat"]
            row = {"minute": minute + 1, "turns": len(lat), "turns_per_s": round(len(lat) / 60, 1),
                   "p50_ms": round(percentile(lat, 50) * 1000, 1), "p95_ms": round(percentile(lat, 95) * 1000, 1),
                   "p99_ms": round(percentile(lat, 99) * 1000, 1), "errors": b["errors"],
                   "rss_mb": {name: round(rss_mb(pid)) for name, pid in target.pids.items()}}
            rows.append(row)
            report(row)
            minute += 1
        return rows

    results = await asyncio.gather(reporter(), *(sender(i) for i in range(senders)))
    return results[0]


def print_row(row: dict) -> None:
    rss = " | ".join(f"{v}" for v in row["rss_mb"].values())
    print(f"| {row['minute']:>3} | {row['turns']:>6} | {row['turns_per_s']:>6} | {row['p50_ms']:>6} | {row['p95_ms']:>6} | "
          f"{row['p99_ms']:>6} | {row['errors']:>6} | {rss} |", flush=True)


def verdict(rows: list[dict]) -> list[tuple[str, str, bool]]:
    if len(rows) < 2:
        return []
    base, last = rows[1] if len(rows) > 2 else rows[0], rows[-1]
    out = []
    for name in base["rss_mb"]:
        a, b = base["rss_mb"][name], last["rss_mb"][name]
        out.append((f"RSS {name} flat (≤ {RSS_GROWTH_LIMIT:.2f}×)", f"{a} → {b} MB", b <= a * RSS_GROWTH_LIMIT))
    out.append((f"p95 flat (≤ {P95_GROWTH_LIMIT:.2f}×)", f"{base['p95_ms']} → {last['p95_ms']} ms",
                last["p95_ms"] <= base["p95_ms"] * P95_GROWTH_LIMIT))
    errors = sum(r["errors"] for r in rows)
    out.append(("no errors", str(errors), errors == 0))
    return out


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--rate", type=float, help="offered turns/s (default: half the measured capacity)")
    ap.add_argument("--senders", type=int, default=8)
    ap.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if not args.model.exists():
        sys.exit(f"no trained model at {args.model}: run `make train`")
    with tempfile.TemporaryDirectory(prefix="xiaoan-soak-") as tmp:
        (Path(tmp) / "xiaoan").mkdir()
        target = start_xiaoan(args.model, Path(tmp) / "xiaoan")
        try:
            rate = args.rate
            if rate is None:
                probe = run_level(target, "mixed", MIXED, 8, 20)
                rate = max(1.0, probe.tps / 2)
                print(f"capacity (mixed, 8 senders, 20 s): {probe.tps:.1f} turns/s → soak at {rate:.1f} turns/s")
            names = " | ".join(f"RSS {n} MB" for n in target.pids)
            print(f"\nsoak: {args.minutes:g} min at {rate:.1f} turns/s offered, {args.senders} senders")
            print(f"| min | turns | turns/s | p50 ms | p95 ms | p99 ms | errors | {names} |")
            print("|---|---|---|---|---|---|---|" + "---|" * len(target.pids))
            rows = asyncio.run(soak(target, rate, args.senders, args.minutes, print_row))
        finally:
            target.stop()
    checks = verdict(rows)
    print("\n| check | measured | met |\n|---|---|---|")
    for what, measured, ok in checks:
        print(f"| {what} | {measured} | {'yes' if ok else 'NO'} |")
    if args.json:
        args.json.write_text(json.dumps({"rate": rate, "minutes": rows,
                                         "checks": [{"what": w, "measured": m, "met": ok} for w, m, ok in checks]},
                                        ensure_ascii=False, indent=2))
    return rows


if __name__ == "__main__":
    main()
