"""What the data-at-rest tests share (tests/security/test_data_at_rest.py, test_handoff_at_rest.py):
the two data keys, the autouse fixture that sets the first, reading raw rows past the service, and
a database of an older revision filled with plain rows and then upgraded."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from xiaoan.db import alembic_config, dispose_engines, upgrade

KEY_A = "ka:" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7"
KEY_B = "kb:" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4j3"
#: Run a migration test on SQLite, and on PostgreSQL when reachable (marker `postgres`).
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(autouse=True)
def data_key(monkeypatch):
    """Every test of a module that imports this fixture encrypts with `KEY_A`."""
    monkeypatch.setenv("XIAOAN_DATA_KEY", KEY_A)


def raw_rows(url: str, sql: str) -> list[tuple]:
    """Rows as stored, read past the services (and their decryption)."""
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def upgraded_from(backend: str, tmp_path: Path, request, revision: str, insert: Callable[[str], None]) -> str:
    """A database (`backend`: "sqlite" or "postgres") at `revision`, filled by `insert(url)` with
    rows written as that revision wrote them, then upgraded to the latest revision; its URL."""
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    command.upgrade(alembic_config(url), revision)
    insert(url)
    upgrade(url)
    dispose_engines()
    return url
