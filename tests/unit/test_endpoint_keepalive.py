"""Rasa reuses its connections to the action server (issue 13): many calls, one TCP connection,
the configured headers still sent, and a restarted action server is reached again."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web
from rasa.utils.endpoints import EndpointConfig

from xiaoan.rasa_stores import reuse_endpoint_connections


async def serve(port: int, peers: list, headers: list, bodies: list | None = None) -> web.AppRunner:
    """A stand-in action server: records each call's client port and secret header (and its JSON
    body into `bodies` when given)."""

    async def webhook(request):
        peers.append(request.transport.get_extra_info("peername")[1])
        headers.append(request.headers.get("X-Xiaoan-Action-Secret"))
        if bodies is not None:
            bodies.append(await request.json())
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


def test_an_action_calls_domain_is_encoded_once_and_arrives_unchanged(monkeypatch):
    """Rasa hands over the same cached domain dict with every action call: it is encoded once per
    domain (a new model's domain anew), and the action server receives the same JSON as before."""
    import json

    from rasa.shared.core.domain import Domain

    from xiaoan import rasa_stores

    domain = Domain.load("domain.yml").as_dict()
    calls = [{"next_action": f"action_{n}", "sender_id": "c1", "tracker": {"events": [{"text": "你好\ud800"}]},
              "version": "3.6", "domain": domain} for n in range(3)]
    serializer = rasa_stores.ActionCallSerializer()
    encoded = []
    real_dumps = json.dumps
    monkeypatch.setattr(rasa_stores.json, "dumps", lambda obj, **kw: encoded.append(obj) or real_dumps(obj, **kw))
    texts = [serializer(call) for call in calls]
    assert [json.loads(t) for t in texts] == calls
    assert sum(obj is domain for obj in encoded) == 1  # once for three calls
    assert texts[0].isascii()  # escaped as json.dumps does (a stored lone surrogate stays sendable)
    new_model = Domain.load("domain.yml").as_dict()
    assert json.loads(serializer({**calls[0], "domain": new_model})) == {**calls[0], "domain": new_model}
    assert sum(obj is new_model for obj in encoded) == 1
    for other in ({"next_action": "x"}, {"domain": domain}, [1, 2], {"a": 1, "domain": "not a dict"}):
        assert serializer(other) == real_dumps(other)


def test_the_shared_session_sends_the_domain_through_the_serializer():
    reuse_endpoint_connections()
    port = free_port()
    endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook")
    received = []

    async def scenario():
        runner = await serve(port, [], [], received)
        try:
            domain = {"responses": {"utter_greet": [{"text": "您好"}]}, "slots": {}}
            for n in range(2):
                await endpoint.request(json={"next_action": f"a{n}", "domain": domain}, method="post")
            session = endpoint.__dict__["_xiaoan_session"][1]
            assert isinstance(session._json_serialize, rasa_stores.ActionCallSerializer)
            assert session._json_serialize._domain is domain
        finally:
            await runner.cleanup()

    from xiaoan import rasa_stores

    asyncio.run(scenario())
    assert received == [{"next_action": "a0", "domain": {"responses": {"utter_greet": [{"text": "您好"}]}, "slots": {}}},
                        {"next_action": "a1", "domain": {"responses": {"utter_greet": [{"text": "您好"}]}, "slots": {}}}]


def test_an_action_calls_events_are_encoded_once_per_conversation(monkeypatch):
    """The session's events are sent with every action call: each is encoded the first time it is
    sent, later calls reuse its text while the dict at its position is the same; the action server
    receives what json.dumps would have written."""
    import json

    from xiaoan import rasa_stores

    def event(n, text="你好"):
        return {"event": "user", "timestamp": 1000.0 + n, "text": f"{text}{n}", "parse_data": {"intent": {"name": "greet"}}}

    def call(sender, events):
        return {"next_action": "action_x", "sender_id": sender,
                "tracker": {"sender_id": sender, "slots": {"phone": None}, "events": events, "paused": False},
                "version": "3.6.21", "domain": {"slots": {}}}

    serializer = rasa_stores.ActionCallSerializer()
    encoded = []
    real_dumps = json.dumps
    monkeypatch.setattr(rasa_stores.json, "dumps", lambda obj, **kw: encoded.append(obj) or real_dumps(obj, **kw))

    def encoded_events():
        found = [obj for obj in encoded if isinstance(obj, dict) and obj.get("event") == "user"]
        encoded.clear()
        return found

    first = [event(n) for n in range(5)]
    assert json.loads(serializer(call("c1", first))) == call("c1", first)
    assert len(encoded_events()) == 5
    # the next turn: Rasa makes new, equal dicts for the old events and adds two
    grown = [event(n) for n in range(7)]
    assert json.loads(serializer(call("c1", grown))) == call("c1", grown)
    assert [e["timestamp"] for e in encoded_events()] == [1005.0, 1006.0]
    # another conversation does not reuse c1's texts
    assert json.loads(serializer(call("c2", grown))) == call("c2", grown)
    assert len(encoded_events()) == 7
    # an event that differs at a position (a reverted turn, a new session) is encoded anew
    changed = grown[:3] + [event(3, "改了")] + grown[4:]
    assert json.loads(serializer(call("c1", changed))) == call("c1", changed)
    assert [e["text"] for e in encoded_events()] == ["改了3"]
    shorter = grown[:2]
    assert json.loads(serializer(call("c1", shorter))) == call("c1", shorter)
    assert encoded_events() == []
    # no events, events not a list, a tracker without sender: plain encoding of that part
    for tracker in ({"sender_id": "c3", "events": None}, {"events": "x"}, {"events": [event(1)]}, "text", {}):
        payload = {"next_action": "a", "tracker": tracker, "domain": {"x": 1}}
        assert json.loads(serializer(payload)) == payload
    assert json.loads(serializer({"next_action": "a", "domain": {"x": 1}})) == {"next_action": "a", "domain": {"x": 1}}


def test_event_texts_are_kept_for_a_bounded_number_of_conversations():
    import json

    from xiaoan import rasa_stores

    serializer = rasa_stores.ActionCallSerializer()
    serializer.CONVERSATIONS = 3
    for n in range(5):
        payload = {"next_action": "a", "tracker": {"sender_id": f"c{n}", "events": [{"event": "bot", "timestamp": n}]},
                   "domain": {}}
        assert json.loads(serializer(payload)) == payload
    assert list(serializer._events) == ["c2", "c3", "c4"]
