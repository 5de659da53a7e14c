"""Shared fixtures: a fresh project database per test, on SQLite or (marker `postgres`) PostgreSQL."""

from __future__ import annotations

import os

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import uuid

import pytest
from sqlalchemy import create_engine, text

import xiaoan.models  # noqa: F401  (every table on Base.metadata)
from xiaoan.db import Base, dispose_engines

POSTGRES_ADMIN_URL = os.environ.get("XIAOAN_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("XIAOAN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def service_unavailable(reason: str) -> None:
    """Skip with a clear reason on a developer machine; fail in CI, where nothing may be skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


@pytest.fixture()
def db_url(tmp_path, monkeypatch) -> str:
    """A fresh SQLite project database with every table, set as DATABASE_URL."""
    url = f"sqlite:///{tmp_path / 'xiaoan-test.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = create_engine(url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    dispose_engines()


@pytest.fixture()
def postgres_url(monkeypatch) -> str:
    """A fresh, empty PostgreSQL database on the loopback server, dropped afterwards."""
    try:
        admin = create_engine(POSTGRES_ADMIN_URL, future=True, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        service_unavailable(f"PostgreSQL not reachable at {POSTGRES_ADMIN_URL}: {exc.__class__.__name__}")
    name = f"xiaoan_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request) -> str:
    """A fresh project database with every table, set as DATABASE_URL: the test runs once on
    SQLite and once on PostgreSQL (marker `postgres`)."""
    if request.param == "sqlite":
        return request.getfixturevalue("db_url")
    url = request.getfixturevalue("postgres_url")
    engine = create_engine(url, future=True)
    Base.metadata.create_all(engine)
    engine.dispose()
    return url


@pytest.fixture()
def redis_url() -> str:
    """The loopback Redis (database 15), flushed before use."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001
        service_unavailable(f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole assistant, running (tests/e2e/conftest.py: running_stack), once per session."""
    from tests.e2e.conftest import running_stack

    yield from running_stack(tmp_path_factory)
