"""Issue 13: the project database's SQLite engine keeps its connections open between units of work
(SQLAlchemy 1.4 opened and closed one per session), and a forked child never uses its parent's."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event, text

from xiaoan.db import dispose_engines, get_engine, session_scope


@pytest.fixture()
def sqlite_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    yield url
    dispose_engines()


def connects(engine) -> list:
    opened: list = []
    event.listen(engine, "connect", lambda conn, record: opened.append(conn))
    return opened


def test_units_of_work_reuse_one_open_connection(sqlite_url):
    engine = get_engine(sqlite_url)
    opened = connects(engine)
    for n in range(20):
        with session_scope(sqlite_url) as session:
            session.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
    assert len(opened) == 1
    with session_scope(sqlite_url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 20
        # the pooled connection still has the pragmas it was opened with
        assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1


def test_a_pooled_connection_holds_no_lock_between_units_of_work(sqlite_url):
    """Another process (here: another engine) can write while this one's connection sits in the pool."""
    from sqlalchemy import create_engine

    with session_scope(sqlite_url) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    other = create_engine(sqlite_url, connect_args={"timeout": 0.1})
    try:
        with other.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        other.dispose()
    with session_scope(sqlite_url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1


def test_threads_at_once_get_their_own_connections(sqlite_url):
    import threading

    with session_scope(sqlite_url) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    barrier, errors = threading.Barrier(8), []

    def work(n: int) -> None:
        try:
            with session_scope(sqlite_url) as session:
                barrier.wait(10)  # eight sessions open at once: more than the pool keeps
                session.execute(text("INSERT INTO t VALUES (:n)"), {"n": n})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    with session_scope(sqlite_url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_opens_its_own_connections(sqlite_url):
    parent_engine = get_engine(sqlite_url)
    with session_scope(sqlite_url) as session:
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new engine, the parent's connection untouched
        code = 1
        try:
            child_engine = get_engine(sqlite_url)
            with session_scope(sqlite_url) as session:
                session.execute(text("INSERT INTO t VALUES (2)"))
            code = 0 if child_engine is not parent_engine else 3
        finally:
            os.write(write, bytes([code]))
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == bytes([0])
    os.close(read)
    assert get_engine(sqlite_url) is parent_engine
    with session_scope(sqlite_url) as session:  # the parent's pooled connection still works
        assert session.execute(text("SELECT n FROM t")).scalars().all() == [2]


def test_in_memory_databases_keep_sqlalchemys_own_pool():
    """Each connection to ``:memory:`` is a different database: no pool of several connections there."""
    url = "sqlite://"
    try:
        with session_scope(url) as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
        with session_scope(url) as session:
            assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        dispose_engines()


def test_data_that_need_not_survive_a_power_cut_commits_without_fsync_on_sqlite(sqlite_url):
    """Rate-limit counters (`durable=False`): their own SQLite connections run synchronous=NORMAL
    (WAL: no fsync per commit), every other connection keeps SQLite's FULL; both see one file."""
    with session_scope(sqlite_url) as session:
        assert session.execute(text("PRAGMA synchronous")).scalar_one() == 2  # FULL
        session.execute(text("CREATE TABLE t (n INTEGER)"))
    with session_scope(sqlite_url, durable=False) as session:
        assert session.execute(text("PRAGMA synchronous")).scalar_one() == 1  # NORMAL
        session.execute(text("INSERT INTO t VALUES (1)"))
    with session_scope(sqlite_url) as session:
        assert session.execute(text("SELECT count(*) FROM t")).scalar_one() == 1
    assert get_engine(sqlite_url, durable=False) is not get_engine(sqlite_url)
    server = "postgresql://xiaoan@127.0.0.1:1/none"  # never connected: engines are lazy
    assert get_engine(server, durable=False) is get_engine(server)  # a server database syncs as it is set up
