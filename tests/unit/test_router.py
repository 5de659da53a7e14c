"""The router in front of the Rasa replicas and web apps (xiaoan/router.py), with real HTTP
backends on loopback."""

from __future__ import annotations

import asyncio
import json

from aiohttp import ClientSession, web

from tests.processes import free_port
from xiaoan.router import INTERRUPTED, UNAVAILABLE, Router, conversation_key


def test_conversation_key():
    assert conversation_key("/webhooks/rest/webhook", json.dumps({"sender": "web-1", "message": "你好"}).encode()) == "web-1"
    assert conversation_key("/conversations/web%2D2/tracker/events", b"") == "web-2"
    assert conversation_key("/webhooks/rest/webhook", b"not json") is None
    assert conversation_key("/webhooks/rest/webhook", b"[1]") is None
    assert conversation_key("/status", b"") is None


async def _backend(name: str, hits: list, behaviour: str = "ok") -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.path in ("/", "/healthz"):
            return web.Response(text="ok")
        hits.append((name, request.method, request.path, body, request.headers.get("X-Forwarded-For")))
        if behaviour == "die":
            request.transport.close()  # the process died mid-request
            await asyncio.sleep(1)
        return web.json_response({"backend": name})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def _run(scenario, balance="hash", rasa=("ok", "ok"), webs=("ok",)):
    hits: list = []
    runners, rasa_urls, web_urls = [], [], []
    for i, behaviour in enumerate(rasa):
        if behaviour == "absent":
            rasa_urls.append(f"http://127.0.0.1:{free_port()}")
            continue
        runner, url = await _backend(f"rasa{i}", hits, behaviour)
        runners.append(runner)
        rasa_urls.append(url)
    for i, behaviour in enumerate(webs):
        runner, url = await _backend(f"web{i}", hits, behaviour)
        runners.append(runner)
        web_urls.append(url)
    router = Router(rasa_urls, web_urls, balance=balance)
    runner = web.AppRunner(router.app())
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with ClientSession() as client:
            return await scenario(client, f"http://127.0.0.1:{port}", hits)
    finally:
        await runner.cleanup()
        for r in runners:
            await r.cleanup()


async def _say(client, base, sender):
    async with client.post(f"{base}/webhooks/rest/webhook", json={"sender": sender, "message": "你好"}) as r:
        return r.status, await r.json()


def test_a_conversation_stays_on_one_replica_and_conversations_spread():
    async def scenario(client, base, hits):
        placed = {}
        for sender in (f"web-{i}" for i in range(40)):
            seen = {(await _say(client, base, sender))[1]["backend"] for _ in range(3)}
            async with client.get(f"{base}/conversations/{sender}/tracker") as r:
                seen.add((await r.json())["backend"])
            assert len(seen) == 1, sender
            placed[sender] = seen.pop()
        return placed

    placed = asyncio.run(_run(scenario))
    counts = {name: list(placed.values()).count(name) for name in ("rasa0", "rasa1")}
    assert min(counts.values()) >= 8, counts


def test_round_robin_spreads_one_conversation_over_both_replicas():
    async def scenario(client, base, hits):
        return [(await _say(client, base, "web-1"))[1]["backend"] for _ in range(6)]

    assert sorted(asyncio.run(_run(scenario, balance="round-robin"))) == ["rasa0"] * 3 + ["rasa1"] * 3


def test_a_replica_that_refuses_connections_is_skipped():
    async def scenario(client, base, hits):
        return [await _say(client, base, f"web-{i}") for i in range(10)]

    results = asyncio.run(_run(scenario, rasa=("absent", "ok")))
    assert all(status == 200 and body == {"backend": "rasa1"} for status, body in results)


def test_no_replica_answers_a_chinese_503():
    async def scenario(client, base, hits):
        return await _say(client, base, "web-1")

    assert asyncio.run(_run(scenario, rasa=("absent", "absent"))) == (503, {"error": UNAVAILABLE})


def test_a_replica_dying_mid_request_is_not_sent_the_message_twice():
    async def scenario(client, base, hits):
        status, body = await _say(client, base, "web-1")
        return status, body, [h[0] for h in hits]

    status, body, delivered = asyncio.run(_run(scenario, balance="round-robin", rasa=("die", "die")))
    assert (status, body) == (502, {"error": INTERRUPTED})
    assert len(delivered) == 1  # the other replica never saw it


def test_other_paths_go_to_the_web_apps_with_the_client_address():
    async def scenario(client, base, hits):
        async with client.post(f"{base}/api/chat/message", json={"text": "你好"}) as r:
            return r.status, await r.json(), hits[-1]

    status, body, hit = asyncio.run(_run(scenario, webs=("ok", "ok")))
    assert status == 200 and body["backend"].startswith("web")
    assert hit[2] == "/api/chat/message" and json.loads(hit[3]) == {"text": "你好"}
    assert hit[4] == "127.0.0.1"


def test_stats_lists_every_backend():
    async def scenario(client, base, hits):
        await _say(client, base, "web-1")
        async with client.get(f"{base}/_router/stats") as r:
            return await r.json()

    stats = asyncio.run(_run(scenario))
    assert stats["balance"] == "hash"
    assert sum(b["requests"] for b in stats["rasa"]) == 1 and len(stats["web"]) == 1
