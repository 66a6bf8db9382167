"""Engines and migrations: SQLite in WAL mode by default, PostgreSQL by URL.

A SQLite database file is created owner-only (0600) before SQLite opens it; SQLite gives its
WAL and shared-memory files the database file's mode, so they are owner-only too.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from veil.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
#: The table Alembic keeps the schema revision in (its default name).
VERSION_TABLE = "alembic_version"


def create_engine(url: str) -> sa.Engine:
    """An engine with Veil's connection settings (WAL, foreign keys, busy timeout on SQLite)."""
    try:
        sa_url = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"not a database URL: '{_redact(url)}'") from None
    if sa_url.drivername == "postgresql":
        sa_url = sa_url.set(drivername="postgresql+psycopg")
    if sa_url.get_backend_name() == "sqlite":
        engine = sa.create_engine(sa_url, connect_args={"timeout": 30})
        path = sqlite_file(sa_url)

        @sa.event.listens_for(engine, "do_connect")
        def _create_private(*_args):  # type: ignore[no-untyped-def]
            if path is not None:
                create_private(path)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return sa.create_engine(sa_url, pool_pre_ping=True)


def sqlite_file(url: str | sa.URL) -> Path | None:
    """The database file of a SQLite URL; None for other databases, memory and URI names."""
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError:
        return None
    name = u.database
    if u.get_backend_name() != "sqlite" or not name or name == ":memory:" \
            or name.startswith("file:"):
        return None
    return Path(name)


def sqlite_companions(path: Path) -> tuple[Path, Path]:
    """The WAL and shared-memory files SQLite keeps beside a database in WAL mode."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def create_private(path: Path) -> None:
    """Create an empty ``path`` with mode 0600 unless it exists (SQLite reads an empty file as
    an empty database). Errors are left for SQLite to report in its own words."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        pass


def _redact(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable>"


def alembic_config(engine: sa.Engine) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


_REVISION = re.compile(r"^(down_revision|revision)\b[^=\n]*=\s*(None|[\"'][^\"']*[\"'])",
                       re.MULTILINE)


@functools.cache
def head_revision() -> str:
    """The newest migration's id, read from the files' `revision`/`down_revision` lines, so a
    command checking the schema never loads Alembic (about 0.3 s of start-up); Alembic decides
    when the files are not one plain chain (a merge, a computed id)."""
    chain: dict[str, str | None] = {}
    for path in sorted((MIGRATIONS / "versions").glob("*.py")):
        found = dict(m.groups() for m in _REVISION.finditer(path.read_text("utf-8")))
        if set(found) != {"revision", "down_revision"} or found["revision"] == "None":
            return _alembic_head()
        down = found["down_revision"]
        chain[found["revision"].strip("\"'")] = None if down == "None" else down.strip("\"'")
    heads = set(chain) - set(chain.values())
    if len(heads) != 1:
        return _alembic_head()
    return heads.pop()


def _alembic_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    """The database's schema revision (None before the first migration), read with SQLAlchemy
    core from Alembic's version table."""
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(VERSION_TABLE):
                return None
            rows = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars()
            revisions = sorted(rows)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot open database {_redact(str(engine.url))}: {exc.orig}") from None
    if len(revisions) > 1:
        raise StoreError(f"database {_redact(str(engine.url))} holds several schema revisions "
                         f"({', '.join(revisions)}): run `veil db upgrade`")
    return revisions[0] if revisions else None


def upgrade(engine: sa.Engine, revision: str = "head") -> str:
    """Migrate the database to `revision`; returns the revision reached. Alembic is loaded only
    when there is something to migrate."""
    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except sa.exc.OperationalError as exc:
        raise StoreError(f"cannot migrate {_redact(str(engine.url))}: {exc.orig}") from None
    rev = current_revision(engine)
    assert rev is not None
    return rev


def require_current(engine: sa.Engine) -> None:
    """Refuse to work on a database whose schema is not at the head revision."""
    current = current_revision(engine)
    head = head_revision()
    if current != head:
        raise StoreError(
            f"database {_redact(str(engine.url))} is at schema revision {current or 'none'}, "
            f"this Veil needs {head}: run `veil db upgrade`"
        )
