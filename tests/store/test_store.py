"""The store on SQLite and PostgreSQL: migrations, workspace discovery, schema checks."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from veil.errors import StoreError
from veil.store import create_engine, current_revision, head_revision, upgrade
from veil.store.schema import metadata
from veil.store.workspace import Workspace, init_workspace


def test_migrations_reach_head_and_match_metadata(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == head_revision()
        assert upgrade(engine) == head_revision()  # idempotent
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == [], f"migrations and schema.py disagree: {diff}"
    finally:
        engine.dispose()


def test_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_workspace_found_upwards_and_by_env(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    ws, created = init_workspace(tmp_path / "w")
    assert created and (tmp_path / "w" / "veil.toml").is_file()
    assert (tmp_path / "w" / "veil.db").is_file()
    ws.close()
    sub = tmp_path / "w" / "a" / "b"
    sub.mkdir(parents=True)
    found = Workspace.find(start=sub)
    assert found.root == (tmp_path / "w").resolve()
    assert found.database_url == f"sqlite:///{(tmp_path / 'w' / 'veil.db').resolve()}"
    found.ready().close()
    monkeypatch.setenv("VEIL_WORKSPACE", str(tmp_path / "w"))
    assert Workspace.find(start=tmp_path).root == (tmp_path / "w").resolve()
    _, created_again = init_workspace(tmp_path / "w")
    assert not created_again


def test_no_workspace_is_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    with pytest.raises(StoreError, match="run `veil init` first"):
        Workspace.find(start=tmp_path)


def test_stale_schema_is_refused(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    (tmp_path / "veil.toml").write_text('[workspace]\ndatabase_url = "sqlite:///v.db"\n')
    ws = Workspace.open(tmp_path)
    with pytest.raises(StoreError, match="run `veil db upgrade`"):
        ws.ready()
    ws.close()


def test_bad_config_and_url(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    (tmp_path / "veil.toml").write_text("[workspace\n")
    with pytest.raises(StoreError, match="invalid workspace config"):
        Workspace.open(tmp_path)
    with pytest.raises(StoreError, match="not a database URL"):
        create_engine("nonsense")


def test_unreachable_postgres_is_a_store_error() -> None:
    engine = create_engine("postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(StoreError, match="cannot open database"):
        current_revision(engine)
