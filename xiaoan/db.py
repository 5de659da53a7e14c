"""Database access: one engine per URL, one session per unit of work.

Usage::

    from xiaoan.db import session_scope
    with session_scope() as session:
        session.add(obj)          # committed on exit, rolled back on error
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterator, TypeVar

from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from xiaoan import services
from xiaoan.localtime import SHANGHAI, utcnow  # noqa: F401 - re-exported: the time zone lives in xiaoan.localtime

Base = declarative_base()

_engines: dict[tuple[str, bool], Engine] = {}
_engines_pid: list[int] = [os.getpid()]
_lock = threading.Lock()

#: Connections each process keeps open to an SQLite file (more are opened while needed, then closed).
SQLITE_POOL_SIZE = 4


class UTCDateTime(TypeDecorator):
    """A timestamp stored as naive UTC and always returned timezone-aware (SQLite drops zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use xiaoan.db.utcnow()")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.timezone.utc)


def get_engine(url: str | None = None, durable: bool = True) -> Engine:
    """The shared engine for `url` (default: `DATABASE_URL`), created on first use.

    Args:
        durable: False for data that may lose its latest commits in a power cut or an OS crash
            (never in a process crash), e.g. rate-limit counters: on an SQLite file its own
            connections commit without an fsync (``synchronous=NORMAL`` in WAL mode); elsewhere
            the same engine.
    """
    url = url or services.settings().database_url
    durable = durable or not url.startswith("sqlite")
    with _lock:
        if _engines_pid[0] != os.getpid():
            # a forked child: the parent's pooled connections must not be used (nor closed) here
            for inherited in _engines.values():
                inherited.dispose(close=False)
            _engines.clear()
            _engines_pid[0] = os.getpid()
        engine = _engines.get((url, durable))
        if engine is None:
            engine = _make_engine(url, durable)
            _engines[(url, durable)] = engine
        return engine


def _make_engine(url: str, durable: bool = True) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        pooled = {}
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLAlchemy 1.4 opens a new connection per session for an SQLite file (NullPool): every
            # unit of work paid the connect and its pragmas, and the close of the process's last
            # connection checkpoints the WAL (fsyncs) — a rate-limit check per chat message made it
            # the largest database cost of a turn (issue 13). Idle pooled connections hold no lock.
            pooled = {"poolclass": QueuePool, "pool_size": SQLITE_POOL_SIZE, "max_overflow": -1}
        engine = create_engine(url, future=True, hide_parameters=True,
                               connect_args={"check_same_thread": False, "timeout": 30}, **pooled)
        set_sqlite_pragmas(engine, durable=durable, foreign_keys=True)
        return engine
    # hide_parameters: bound values (names, phone numbers) never appear in error messages or logs
    return create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)


def set_sqlite_pragmas(engine: Engine, durable: bool, foreign_keys: bool) -> None:
    """Prepare each new connection of an SQLite `engine` for a file several processes share: wait
    for locks (30 s), WAL mode, foreign keys if asked, and without `durable` commits without an
    fsync (``synchronous=NORMAL``). The project database and Rasa's embedded tracker store use it."""

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        try:
            cur.execute("PRAGMA busy_timeout=30000")
            if foreign_keys:
                cur.execute("PRAGMA foreign_keys=ON")
            _ensure_wal(cur)
            if not durable:
                cur.execute("PRAGMA synchronous=NORMAL")
        finally:
            cur.close()


def _ensure_wal(cursor, wait: float = 30.0) -> None:
    """Put an SQLite file in WAL mode (it stays so), waiting for other processes if needed.

    Switching a file to WAL needs an exclusive lock, and SQLite reports "database is locked"
    at once instead of waiting when another process holds a lock (its busy timeout does not
    apply). Processes that open a new file at the same moment therefore take turns here.
    """
    deadline = time.monotonic() + wait
    while True:
        mode = "unknown"
        try:
            mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
            if mode in ("wal", "memory"):  # in-memory databases cannot use WAL
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc).lower():
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(f"could not switch the database to WAL mode (still {mode})")
        time.sleep(0.02)


def dispose_engines() -> None:
    """Close every pooled connection (tests, and after fork)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


@contextlib.contextmanager
def session_scope(url: str | None = None, durable: bool = True) -> Iterator[Session]:
    """A session committed on success and rolled back on error (`durable`: see `get_engine`)."""
    factory = sessionmaker(bind=get_engine(url, durable), future=True, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str | None = None):
    """The Alembic configuration of the project, pointing at `url`."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url or services.settings().database_url)
    return cfg


def upgrade(url: str | None = None) -> None:
    """Create or migrate the schema at `url` to the newest revision (`xiaoan db upgrade`)."""
    from alembic import command

    url = url or services.settings().database_url
    if url.startswith("sqlite:///"):
        Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
    if url.startswith("sqlite"):
        with get_engine(url).connect():  # a new file is switched to WAL now, before processes share it
            pass


_Record = TypeVar("_Record")


def record_from_row(cls: type[_Record], row: Any, **computed: Any) -> _Record:
    """A `cls` dataclass (a view of a row, free of the session) whose fields are the `row`
    attributes of the same names, except those given in `computed`."""
    return cls(**{f.name: computed[f.name] if f.name in computed else getattr(row, f.name)
                  for f in dataclasses.fields(cls)})
