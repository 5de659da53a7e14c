"""Tracker-store cost per turn by conversation length (issue 13: flat from turn 1 to turn 60).

Plays what Rasa does on each turn against the project's tracker store (xiaoan.rasa_stores,
SQLite file in a temp dir): retrieve the conversation, append one turn's events (the user's
message with a full parse, the actions, the bot's answers, a slot), save. Prints the
milliseconds of retrieve and save by block of ten turns.

    python -m bench.tracker_store_bench [--turns 60] [--conversations 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def turn_events(turn: int) -> list:
    from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

    ranking = [{"name": f"intent_{i}", "confidence": 0.01} for i in range(10)]
    parse = {"intent": {"name": "ask_business_registration", "confidence": 0.9}, "intent_ranking": ranking,
             "entities": [{"entity": "district", "value": "浦东", "start": 0, "end": 2, "extractor": "DIETClassifier"}],
             "text": f"个体户营业执照怎么办理 {turn}"}
    return [
        UserUttered(f"个体户营业执照怎么办理 {turn}", parse["intent"], parse["entities"], parse),
        ActionExecuted("action_answer_question"),
        BotUttered("办理个体工商户营业执照：……" * 10, {"buttons": [{"title": "有用", "payload": "/kb_helpful"}]},
                   {"utter_action": "utter_kb_answer"}),
        SlotSet("kb_entry_id", f"reg-{turn:03d}"),
        ActionExecuted("action_listen"),
    ]


async def run(turns: int, conversations: int, workdir: Path) -> dict[int, dict[str, list[float]]]:
    os.environ["XIAOAN_TRACKER_STORE_URL"] = f"sqlite:///{workdir / 'tracker.db'}"
    os.environ.setdefault("XIAOAN_VAR_DIR", str(workdir / "var"))
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted

    from xiaoan.rasa_stores import EnvSQLTrackerStore

    domain = Domain.load(str(ROOT / "domain"))
    store = EnvSQLTrackerStore(domain=domain)
    blocks: dict[int, dict[str, list[float]]] = {}
    for c in range(conversations):
        sender = f"bench-{c}"
        tracker = await store.get_or_create_tracker(sender)
        for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
            tracker.update(event)
        await store.save(tracker)
        for turn in range(turns):
            t0 = time.perf_counter()
            tracker = await store.retrieve(sender)
            t1 = time.perf_counter()
            for event in turn_events(turn):
                tracker.update(event)
            t2 = time.perf_counter()
            await store.save(tracker)
            t3 = time.perf_counter()
            block = blocks.setdefault(turn // 10 * 10 + 1, {"retrieve": [], "save": []})
            block["retrieve"].append((t1 - t0) * 1000)
            block["save"].append((t3 - t2) * 1000)
    # a final check that nothing was lost: every event of every turn is stored once, in order
    # (the session's events from SessionStarted on: 2 + 5 per turn)
    check = await store.retrieve("bench-0")
    texts = [e.text for e in check.events if e.type_name == "user"]
    assert len(check.events) == 2 + turns * 5 and texts == [f"个体户营业执照怎么办理 {t}" for t in range(turns)]
    return blocks


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.tracker_store_bench")
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--conversations", type=int, default=20)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xiaoan-tracker-") as tmp:
        blocks = asyncio.run(run(args.turns, args.conversations, Path(tmp)))
    print(f"tracker store (SQLite), {args.conversations} conversations × {args.turns} turns: median ms per turn")
    print("| turns | retrieve | save | total |")
    print("|---|---|---|---|")
    for block, times in sorted(blocks.items()):
        r, s = statistics.median(times["retrieve"]), statistics.median(times["save"])
        print(f"| {block}-{block + 9} | {r:.2f} | {s:.2f} | {r + s:.2f} |")


if __name__ == "__main__":
    main()
