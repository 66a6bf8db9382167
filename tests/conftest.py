"""Shared fixtures: where the conformance data lives, and the databases to test on."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """`../shared/conformance` beside the project root (as CI lays it out)."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None when it is not set or not reachable."""
    url = os.environ.get("VEIL_TEST_DATABASE_URL")
    if not url:
        return None
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # unreachable server: skip with a reason instead of failing
        return None
    return url


def _fresh_pg_database(base_url: str) -> tuple[str, object]:
    """Create a uniquely named database on the test server; returns (url, dropper)."""
    import uuid

    import sqlalchemy as sa

    name = f"veil_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path):
    """A fresh, empty database: SQLite in tmp_path, and PostgreSQL when the server is there."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'veil.db'}"
        return
    base = postgres_url()
    if base is None and os.environ.get("VEIL_REQUIRE_POSTGRES"):
        pytest.fail("VEIL_REQUIRE_POSTGRES is set but VEIL_TEST_DATABASE_URL is not reachable")
    if base is None:
        pytest.skip("PostgreSQL not available: set VEIL_TEST_DATABASE_URL to a reachable server")
    url, drop = _fresh_pg_database(base)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def workspace(tmp_path: Path, database_url: str, monkeypatch):
    """An initialised workspace in tmp_path/ws on each test database; cwd is the workspace."""
    from veil.store.workspace import init_workspace

    root = tmp_path / "ws"
    if not database_url.startswith("sqlite"):
        monkeypatch.setenv("VEIL_DATABASE_URL", database_url)
    else:
        monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    from veil.kek.providers import EnvKEK

    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())  # run outputs are encrypted at rest
    ws, _ = init_workspace(root)
    monkeypatch.chdir(root)
    yield ws
    ws.close()
