"""The race-free lock store (xiaoan/lock_store.py) against the real Redis on loopback.

Two OS processes (two "replicas") take the same conversations at the same time; inside the lock
each one marks the conversation busy in Redis and counts every time it finds it busy already.
Rasa Open Source's own `RedisLockStore` is shown to let two replicas in when their steps
interleave.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis

from tests.integration.locking import two_workers
from xiaoan.lock_store import AtomicRedisLockStore, LockError, lease_seconds

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.redis


def _worker(url: str, kind: str, prefix: str, conversations: int, rounds: int, tasks: int,
            lifetime: float = 30) -> None:
    """One replica: `tasks` coroutines, each taking every conversation's lock `rounds` times."""
    import time

    from rasa.core.lock_store import RedisLockStore

    client = redis.Redis.from_url(url)
    if kind == "atomic":
        store = AtomicRedisLockStore(url, key_prefix=prefix, fallback=False)
    else:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        store = RedisLockStore(host=parts.hostname, port=parts.port, db=int(parts.path.strip("/")),
                               key_prefix=prefix)
    overlaps = 0
    entered = 0
    refused = 0

    async def one(task: int) -> None:
        nonlocal overlaps, entered, refused
        for r in range(rounds):
            cid = f"c{(task + r) % conversations}"
            try:
                async with store.lock(cid, lock_lifetime=lifetime, wait_time_in_seconds=0.005):
                    entered += 1
                    if client.incr(f"{prefix}:busy:{cid}") > 1:
                        overlaps += 1
                    await asyncio.sleep(0.002)
                    client.decr(f"{prefix}:busy:{cid}")
            except LockError:  # Rasa's store: another replica's cleanup deleted the lock under us
                refused += 1

    async def main() -> None:
        await asyncio.gather(*(one(t) for t in range(tasks)))

    start = time.monotonic()
    asyncio.run(main())
    print(json.dumps({"overlaps": overlaps, "entered": entered, "refused": refused,
                      "seconds": time.monotonic() - start}))


def race(url: str, kind: str, conversations: int = 3, rounds: int = 25, tasks: int = 6, lifetime: float = 30) -> dict:
    """Run two replicas against each other; the summed overlaps and critical sections."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    code = (f"from tests.integration.test_lock_store import _worker; "
            f"_worker({url!r}, {kind!r}, {prefix!r}, {conversations}, {rounds}, {tasks}, {lifetime})")
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
             for _ in range(2)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0, out
        results.append(json.loads(out.strip().splitlines()[-1]))
    return {key: sum(r[key] for r in results) for key in ("overlaps", "entered", "refused")}


def test_two_replicas_never_hold_one_conversation_together(redis_url):
    result = race(redis_url, "atomic")
    assert result == {"overlaps": 0, "entered": 2 * 6 * 25, "refused": 0}


def test_rasas_own_redis_lock_store_lets_two_replicas_in_when_their_steps_interleave(redis_url):
    """Why this store exists: Rasa OSS's RedisLockStore issues a ticket by read-modify-write.
    Two replicas that both read the lock before either writes it both end up "first in line"
    (the same interleaving the two-process test above hammers on; here step by step)."""
    from urllib.parse import urlsplit

    from rasa.core.lock_store import RedisLockStore

    parts = urlsplit(redis_url)
    prefix = f"t{uuid.uuid4().hex[:8]}"
    a, b = (RedisLockStore(host=parts.hostname, port=parts.port, db=int(parts.path.strip("/")), key_prefix=prefix)
            for _ in range(2))
    lock_a = a.get_or_create_lock("c")  # replica A reads ...
    lock_b = b.get_or_create_lock("c")  # ... replica B reads before A writes
    ticket_a = lock_a.issue_ticket(30)
    a.save_lock(lock_a)
    ticket_b = lock_b.issue_ticket(30)
    b.save_lock(lock_b)  # overwrites A's ticket

    async def both_enter() -> list:
        return [await a._acquire_lock("c", ticket_a, 0.01), await b._acquire_lock("c", ticket_b, 0.01)]

    assert len(asyncio.run(both_enter())) == 2  # both hold the lock of one conversation
    a.delete_lock("c")


def test_first_come_first_served(redis_url):
    store = AtomicRedisLockStore(redis_url, key_prefix=f"t{uuid.uuid4().hex[:8]}", fallback=False)

    async def scenario() -> list[int]:
        order: list[int] = []
        gate = asyncio.Event()

        async def holder() -> None:
            async with store.lock("c"):
                gate.set()
                await asyncio.sleep(0.3)
                order.append(0)

        async def waiter(i: int) -> None:
            async with store.lock("c"):
                order.append(i)

        first = asyncio.ensure_future(holder())
        await gate.wait()
        waiters = []
        for i in range(1, 6):  # each takes its ticket after the previous one
            waiters.append(asyncio.ensure_future(waiter(i)))
            await asyncio.sleep(0.02)
        await asyncio.gather(first, *waiters)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3, 4, 5]
    assert redis.Redis.from_url(redis_url).keys(f"{store.key_prefix}:*") == []  # nothing left behind


def test_a_dead_replicas_ticket_expires_with_its_lease(redis_url):
    """A replica killed while holding the lock renews nothing: the next message gets the lock
    after one lease, well within the wait limit, instead of failing."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    dead = AtomicRedisLockStore(redis_url, key_prefix=prefix, lease=1, fallback=False)
    alive = AtomicRedisLockStore(redis_url, key_prefix=prefix, lease=1, fallback=False)

    async def scenario() -> bool:
        await dead._run("issue", "c", 1000)  # the dead replica's ticket: never renewed, never released
        async with alive.lock("c", lock_lifetime=10):
            return True

    assert asyncio.run(scenario()) is True


def test_a_lost_waiting_ticket_raises_instead_of_entering(redis_url):
    store = AtomicRedisLockStore(redis_url, key_prefix=f"t{uuid.uuid4().hex[:8]}", lease=1, fallback=False)

    async def scenario() -> None:
        async with store.lock("c"):
            async with store.lock("c", lock_lifetime=0.5):  # waits behind itself until its limit
                pass

    with pytest.raises(LockError):
        asyncio.run(scenario())


def test_unreachable_redis_falls_back_to_a_replica_local_lock():
    from tests.processes import free_port

    url = f"redis://127.0.0.1:{free_port()}/1"  # nothing listens there
    order = two_workers(AtomicRedisLockStore(url, socket_timeout=0.5), "c", hold=0.05)
    assert order[1] == order[0].replace("-in", "-out")  # still serialised within the replica

    strict = AtomicRedisLockStore(url, socket_timeout=0.5, fallback=False)

    async def refused() -> None:
        async with strict.lock("c"):
            pass

    with pytest.raises(LockError):
        asyncio.run(refused())


def test_lease_setting_is_checked(monkeypatch):
    monkeypatch.setenv("XIAOAN_LOCK_LEASE_SECONDS", "0.5")
    with pytest.raises(ValueError, match="at least 1"):
        lease_seconds()
    monkeypatch.setenv("XIAOAN_LOCK_LEASE_SECONDS", "abc")
    with pytest.raises(ValueError, match="number of seconds"):
        lease_seconds()
    monkeypatch.setenv("XIAOAN_LOCK_LEASE_SECONDS", "20")
    assert lease_seconds() == 20
    monkeypatch.delenv("XIAOAN_LOCK_LEASE_SECONDS")
    assert lease_seconds() == 60  # Rasa's lock lifetime: a stalled replica must not lose its turn


def test_a_busy_event_loop_does_not_lose_the_lock(redis_url):
    """Rasa runs the model in the event loop; on an overloaded machine the loop stalls. The
    tickets are renewed from a thread, so a holder whose loop is stuck for longer than the
    lease keeps its turn and a second replica still waits."""
    import time

    prefix = f"t{uuid.uuid4().hex[:8]}"
    holder = AtomicRedisLockStore(redis_url, key_prefix=prefix, lease=1, fallback=False)
    other = AtomicRedisLockStore(redis_url, key_prefix=prefix, lease=1, fallback=False)

    async def scenario() -> int:
        async with holder.lock("c"):
            time.sleep(3)  # the loop is stuck (synchronous work) for three leases
            ticket = await other._run("issue", "c", 1000)
            return await other._run("poll", "c", ticket, 1000)

    assert asyncio.run(scenario()) == 0  # the other replica must wait: the holder's ticket is alive
