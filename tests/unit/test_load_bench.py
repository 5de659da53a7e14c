"""bench/load_bench.py and bench/soak_bench.py drive a REST channel correctly (against a tiny
local fake of Rasa's REST webhook) and judge the issue's targets from their figures."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import pytest
from aiohttp import web

from bench import load_bench, soak_bench
from bench.load_bench import LONG, MIXED, LevelResult, Target


@pytest.fixture()
def fake_rest():
    """A REST webhook that answers after 5 ms, fails every 50th call, and records what it got."""
    seen: list[tuple[str, str]] = []

    async def webhook(request):
        body = await request.json()
        seen.append((body["sender"], body["message"]))
        number = len(seen)
        await asyncio.sleep(0.005)
        if number % 50 == 0:
            return web.Response(status=500)
        return web.json_response([{"recipient_id": body["sender"], "text": "好的"}])

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    ready = threading.Event()

    def serve():
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.SockSite(runner, sock).start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield f"http://127.0.0.1:{port}/webhooks/rest/webhook", seen
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def target(url: str) -> Target:
    return Target(name="小安", rest_url=url, headers={}, pids={"me": os.getpid()}, model_mb=30.0)


def test_a_level_runs_the_script_in_order_per_conversation_and_counts_errors(fake_rest):
    url, seen = fake_rest
    result = load_bench.run_level(target(url), "mixed", MIXED, 4, 1.5)
    assert result.turns > 20 and result.errors == len(seen) // 50
    assert result.turns + result.errors == len(seen)
    conversations: dict[str, list[str]] = {}
    for sender, text in seen:
        conversations.setdefault(sender, []).append(text)
    assert len({s.split("-")[1] for s in conversations}) == 4  # four senders
    for texts in conversations.values():
        assert texts == MIXED[: len(texts)]  # the script in order; the last one cut by the deadline
    assert result.rss["me"] > 0 and result.pct(50) >= 5


def test_the_long_script_is_one_conversation_of_60_turns_measured_by_block(fake_rest):
    url, seen = fake_rest
    assert len(LONG) == 60
    result = asyncio.run(load_bench.run_level_async(target(url), "long", LONG, 1, 4.0))
    assert len(seen) > 60  # ~10 ms a turn: more than one conversation in 4 s
    first = seen[0][0]
    assert [text for sender, text in seen if sender == first] == LONG  # 60 turns, then a new conversation
    assert seen[60][0] != first
    assert set(result.by_turn) == {1, 11, 21, 31, 41, 51}
    assert sum(len(v) for v in result.by_turn.values()) == result.turns


def level(target_name, script, clients, tps, p50, p95, rss=1000.0, by_turn=None):
    n = int(tps * 10)
    lat = [p50 / 1000] * (n - n // 10) + [p95 / 1000] * (n // 10)
    return LevelResult(target=target_name, script=script, clients=clients, turns=n, errors=0, seconds=10.0,
                       latencies=lat, by_turn=by_turn or {}, rss={"rasa": rss})


def test_the_verdicts_follow_the_issue_targets():
    t = Target(name="小安", rest_url="", headers={}, pids={}, model_mb=30.0, first_answer_ms=150.0)
    good = [level("小安", "mixed", 1, 20, 40, 60), level("小安", "mixed", 32, 30, 300, 900),
            level("Rasa starter bot", "mixed", 32, 33, 300, 800),
            level("小安", "long", 1, 20, 40, 60, by_turn={1: [0.040], 51: [0.045]})]
    rows = {what: ok for what, _, ok in load_bench.verdicts(good, [t])}
    assert all(rows.values()) and len(rows) == 8
    bad = [level("小安", "mixed", 1, 10, 104, 200, rss=1800), level("小安", "mixed", 32, 10, 3000, 9000, rss=1800),
           level("Rasa starter bot", "mixed", 32, 33, 300, 800),
           level("小安", "long", 1, 10, 100, 200, by_turn={1: [0.050], 51: [0.150]})]
    t.model_mb, t.first_answer_ms = 133.0, 3000.0
    rows = {what: ok for what, _, ok in load_bench.verdicts(bad, [t])}
    assert not any(rows.values())


def test_the_soak_verdict_flags_growth_and_errors():
    def row(minute, rss, p95, errors=0):
        return {"minute": minute, "rss_mb": {"rasa": rss}, "p95_ms": p95, "errors": errors}

    flat = [row(1, 900, 80), row(2, 1000, 60), row(3, 1010, 62), row(4, 1020, 70)]
    assert all(ok for _, _, ok in soak_bench.verdict(flat))
    leaking = [row(1, 900, 80), row(2, 1000, 60), row(3, 1100, 62), row(4, 1200, 200, errors=3)]
    assert [ok for _, _, ok in soak_bench.verdict(leaking)] == [False, False, False]
