"""`xiaoan db upgrade` (Alembic) creates exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

import xiaoan.models  # noqa: F401
from xiaoan.db import Base, dispose_engines, upgrade

XIAOAN = Path(sys.executable).parent / "xiaoan"


def _assert_matches_models(url: str) -> None:
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert not diff, f"the migrations and the models differ: {diff}"
    assert set(Base.metadata.tables) <= tables


def test_cli_upgrade_creates_the_schema_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh' / 'xiaoan.db'}"
    result = subprocess.run([str(XIAOAN), "db", "upgrade"], env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    _assert_matches_models(url)
    # running it again is a no-op
    again = subprocess.run([str(XIAOAN), "db", "upgrade"], env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    # the file is in WAL mode from the start, so the processes that share it never race to switch it
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_creates_the_schema_on_postgres(postgres_url):
    upgrade(postgres_url)
    _assert_matches_models(postgres_url)
    dispose_engines()
