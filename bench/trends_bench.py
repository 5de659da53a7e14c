"""How long the supervisors' trends, the /console/stats figures and the weekly report take on a
large synthetic database (SQLite in a temporary folder; no citizen data: generated rows only).

    python -m bench trends [--tickets 20000] [--days 90] [--pdf]

Prints one table: median of 3 runs (ms) for each step. No assertions (tests check correctness).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

INTENTS = ["complain_refund", "complain_prepaid", "complain_general", "report_violation"]
DISTRICTS = ["pudong", "xuhui", "jingan", "huangpu", "changning", "putuo", "hongkou", "yangpu", "minhang",
             "baoshan", "jiading", "songjiang", "qingpu", "fengxian", "jinshan", "chongming", None]
FACTS = ["健身房关门跑路了，卡里还有钱", "买的东西坏了不给退", "办了卡不给退", "无证经营", "饭菜不新鲜"]


def populate(url: str, tickets: int, days: int, seed: int = 7) -> None:
    from sqlalchemy import create_engine

    import xiaoan.models  # noqa: F401
    from xiaoan.db import Base, session_scope
    from xiaoan.handoff.models import HandoffSession
    from xiaoan.kb.models import KbUnanswered, KbVote
    from xiaoan.ratings import ServiceRating
    from xiaoan.tickets.models import Ticket

    engine = create_engine(url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    rng = random.Random(seed)
    now = dt.datetime.now(dt.timezone.utc)
    with session_scope(url) as s:
        for i in range(tickets):
            at = now - dt.timedelta(seconds=rng.uniform(0, days * 86400))
            intent = rng.choice(INTENTS)
            district = rng.choice(DISTRICTS)
            ticket = Ticket(
                ticket_no=f"XA-{at:%y%m%d}-{i:05d}"[:20], kind="report" if intent == "report_violation" else "complaint",
                intent=intent, status="created", created_at=at, updated_at=at, channel="web",
                conversation_id=f"bench-{i}", respondent_name=f"商家{rng.randrange(tickets // 5 + 1)}",
                district=district, agency=f"dist-{district}" if district else "city-amr", facts=rng.choice(FACTS),
                claim="退款", amount=Decimal(rng.randrange(0, 5000)), privacy_notice_version="bench",
                contact_by=(at + dt.timedelta(days=2)).date(), resolve_by=(at + dt.timedelta(days=10)).date(),
                idempotency_key=f"bench-{i}")
            if rng.random() < 0.6:
                ticket.record_status("answered", "bench", at=at + dt.timedelta(days=rng.uniform(1, 15)))
            s.add(ticket)
            if i % 2000 == 1999:
                s.flush()
        for i in range(tickets // 4):
            at = now - dt.timedelta(seconds=rng.uniform(0, days * 86400))
            s.add(HandoffSession(conversation_id=f"bench-h{i}", channel="web", reason="requested", status="closed",
                                 waiting_since=at))
            s.add(KbVote(entry_id="consumer.prepaid-card", conversation_id=f"bench-v{i}", helpful=rng.random() < .7,
                         created_at=at))
            s.add(KbUnanswered(text=f"问题{rng.randrange(200)}", conversation_id=f"bench-u{i}", created_at=at))
            s.add(ServiceRating(conversation_id=f"bench-{i}", channel="web",
                                level=rng.choice(["satisfied", "basic", "dissatisfied"]), created_at=at))


def timed(func, runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench trends")
    parser.add_argument("--tickets", type=int, default=20000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--pdf", action="store_true", help="also time printing the PDF (needs Chromium)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xiaoan-trends-bench-") as tmp:
        os.environ["XIAOAN_VAR_DIR"] = tmp
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        start = time.perf_counter()
        populate(url, args.tickets, args.days)
        fill_s = time.perf_counter() - start

        from xiaoan.db import session_scope
        from xiaoan.supervision import report, stats, trends

        monday = report.last_full_week()
        rows = []
        with session_scope(url) as s:
            rows.append(("趋势 按日 30 天", timed(lambda: trends.trends(s, "day"))))
            rows.append(("趋势 按周 12 周", timed(lambda: trends.trends(s, "week"))))
            rows.append(("统计表 近7天（overview）", timed(lambda: stats.overview(s, stats.make_window("7d")))))
            rows.append(("周报数据（build_weekly）", timed(lambda: report.build_weekly(s, monday))))
            data = report.build_weekly(s, monday)
        rows.append(("周报 HTML（render_html）", timed(lambda: report.render_html(data))))
        if args.pdf:
            out = Path(tmp) / "out"
            rows.append(("周报 HTML+PDF（write_report）", timed(lambda: report.write_report(data, out), runs=1)))
    print(f"\n趋势与周报（SQLite，{args.tickets} 件工单，{args.days} 天，另有 {args.tickets // 4} 次转人工/评价/"
          f"未答问题/满意度；建库 {fill_s:.1f} s）\n")
    print("| 步骤 | 中位数 ms |\n| --- | --- |")
    for name, ms in rows:
        print(f"| {name} | {ms:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
