"""Two "replicas" (two OS processes) handle turns of the same conversations the way Rasa's agent
does — lock, read the tracker, add the turn's events, save — on the real PostgreSQL tracker
store (`EnvSQLTrackerStore`) and the real Redis lock store. Afterwards every turn must be stored
once and whole. With the race-free store nothing is lost; with Rasa OSS's `RedisLockStore` the
same load loses turns (the SQL tracker store appends only the events beyond the number already
stored, so the second of two concurrent saves writes nothing) or gets stuck behind lost tickets —
too slow to run here; tests/integration/test_lock_store.py shows its race step by step.

The full deployment with the trained model is tests/scale/test_replicas.py; this one needs no model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _replica(tracker_url: str, redis_url: str, kind: str, prefix: str, name: str,
             conversations: int, turns: int, tasks: int) -> None:
    """One replica: `tasks` coroutines, each sending `turns` messages to rotating conversations."""
    import asyncio
    import random
    from urllib.parse import urlsplit

    from rasa.core.lock_store import RedisLockStore
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    from xiaoan.lock_store import AtomicRedisLockStore
    from xiaoan.rasa_stores import EnvSQLTrackerStore

    os.environ["XIAOAN_TRACKER_STORE_URL"] = tracker_url
    domain = Domain.from_dict({"intents": ["greet"], "responses": {"utter_greet": [{"text": "您好"}]}})
    store = EnvSQLTrackerStore(domain=domain)
    if kind == "atomic":
        locks = AtomicRedisLockStore(redis_url, key_prefix=prefix, fallback=False)
    else:
        parts = urlsplit(redis_url)
        locks = RedisLockStore(host=parts.hostname, port=parts.port, db=int(parts.path.strip("/")), key_prefix=prefix)
    refused = 0

    async def turn(conversation: str, text: str) -> None:
        nonlocal refused
        try:
            async with locks.lock(conversation, lock_lifetime=5, wait_time_in_seconds=0.005):
                tracker = await store.get_or_create_tracker(conversation)
                tracker.update(UserUttered(text, {"name": "greet", "confidence": 1.0}))
                await asyncio.sleep(random.uniform(0, 0.004))  # the policies and actions
                tracker.update(ActionExecuted("utter_greet"))
                tracker.update(BotUttered(text))
                tracker.update(ActionExecuted("action_listen"))
                await store.save(tracker)
        except Exception as exc:  # noqa: BLE001 - Rasa's store: LockError when the lock vanished
            if exc.__class__.__name__ != "LockError":
                raise
            refused += 1

    async def client(task: int) -> None:
        for i in range(turns):
            await turn(f"{prefix}-c{(task + i) % conversations}", f"{name}-{task}-{i}")

    async def main() -> None:
        await asyncio.gather(*(client(t) for t in range(tasks)))

    asyncio.run(main())
    store.engine.dispose()
    print(json.dumps({"refused": refused}))


def two_replicas(postgres_url: str, redis_url: str, kind: str, conversations=4, turns=15, tasks=4) -> dict:
    from sqlalchemy import create_engine, text

    tracker_url = postgres_url.replace("postgresql+psycopg2", "postgresql")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    procs = []
    for name in ("a", "b"):
        code = (f"from tests.integration.test_replica_turns import _replica; _replica({tracker_url!r}, "
                f"{redis_url!r}, {kind!r}, {prefix!r}, {name!r}, {conversations}, {turns}, {tasks})")
        procs.append(subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                                      env={**os.environ, "PYTHONPATH": str(ROOT)}))
    refused = 0
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        refused += json.loads(out.strip().splitlines()[-1])["refused"]
    engine = create_engine(tracker_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT sender_id, data FROM events ORDER BY id")).all()
    engine.dispose()
    events: dict[str, list[dict]] = {}
    for sender, data in rows:
        events.setdefault(sender, []).append(json.loads(data))
    users = [e["text"] for evs in events.values() for e in evs if e["event"] == "user"]
    broken = 0
    for evs in events.values():
        kinds = [(e["event"], e.get("name")) for e in evs if e["event"] in ("user", "action", "bot")]
        for i, (kind_, _) in enumerate(kinds):
            if kind_ == "user" and kinds[i + 1:i + 4] != [("action", "utter_greet"), ("bot", None),
                                                           ("action", "action_listen")]:
                broken += 1
    expected = 2 * tasks * turns
    return {"expected": expected, "stored": len(users), "distinct": len(set(users)), "broken": broken,
            "refused": refused}


def test_no_turn_is_lost_when_two_replicas_share_conversations(postgres_url, redis_url):
    result = two_replicas(postgres_url, redis_url, "atomic")
    assert result == {"expected": 120, "stored": 120, "distinct": 120, "broken": 0, "refused": 0}

