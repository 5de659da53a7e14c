"""Rasa reuses its connections to the action server (issue 13): many calls, one TCP connection,
the configured headers still sent, and a restarted action server is reached again."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from xiaoan.rasa_stores import reuse_endpoint_connections


async def serve(port: int, peers: list, headers: list) -> web.AppRunner:
    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        headers.append(request.headers.get("X-Xiaoan-Action-Secret"))
        return web.json_response({"events": [], "responses": []})

    app = web.Application()
    app.router.add_post("/webhook", webhook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_calls_to_the_action_server_share_one_connection_and_survive_its_restart():
    reuse_endpoint_connections()
    reuse_endpoint_connections()  # idempotent
    port = free_port()
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", headers={"X-Xiaoan-Action-Secret": "s3cret"})

    async def scenario():
        peers, headers = [], []
        runner = await serve(port, peers, headers)
        for _ in range(10):
            assert await endpoint.request(json={"next_action": "x"}, method="post") == {"events": [], "responses": []}
        assert len(peers) == 10 and len(set(peers)) == 1  # one TCP connection for ten calls
        assert headers == ["s3cret"] * 10
        await runner.cleanup()  # the action server goes away and comes back
        await asyncio.sleep(0.2)
        runner = await serve(port, peers, headers)
        assert await endpoint.request(json={"next_action": "x"}, method="post") == {"events": [], "responses": []}
        assert len(set(peers)) == 2
        await runner.cleanup()

    asyncio.run(scenario())
