"""A workspace: a folder with `veil.toml` and (by default) a SQLite database beside it.

Commands find the workspace like git finds a repository: `--workspace`, else the
`VEIL_WORKSPACE` variable, else the nearest `veil.toml` up from the current folder.
`VEIL_DATABASE_URL` overrides the database (PostgreSQL for teams).

What a workspace holds is private to its owner: the SQLite database (and its WAL and shared
memory files) is created 0600, and ``keys/`` (the KEK file, the sealed secrets) 0700.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from veil.errors import StoreError
from veil.store import db

CONFIG_NAME = "veil.toml"
DEFAULT_DB = "veil.db"
KEYS_DIR = "keys"

_TEMPLATE = """\
# Veil workspace. Paths are relative to this folder.
[workspace]
# The store: SQLite in this folder by default. For PostgreSQL set a URL here or in
# the VEIL_DATABASE_URL environment variable, e.g. postgresql://user@host:5432/veil
database_url = "sqlite:///{db}"
"""


@dataclass
class Workspace:
    root: Path
    database_url: str
    _engine: sa.Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            self._engine = db.create_engine(self.database_url)
        return self._engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ready(self) -> Workspace:
        """Check the database schema is current; returns self for chaining."""
        db.require_current(self.engine)
        return self

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        root = Path(root).resolve()
        cfg_path = root / CONFIG_NAME
        if not cfg_path.is_file():
            raise StoreError(f"not a Veil workspace (no {CONFIG_NAME}): run `veil init`",
                             where=str(root))
        try:
            cfg = tomllib.loads(cfg_path.read_text("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"invalid workspace config: {exc}", where=str(cfg_path)) from None
        url = os.environ.get("VEIL_DATABASE_URL") or cfg.get("workspace", {}).get(
            "database_url", f"sqlite:///{DEFAULT_DB}"
        )
        from veil.store.tls import apply_database_tls

        url = apply_database_tls(_anchor_sqlite(url, root), cfg.get("database"), root)
        return cls(root=root, database_url=url)

    @classmethod
    def find(cls, explicit: str | Path | None = None, start: Path | None = None) -> Workspace:
        """The workspace named explicitly, by VEIL_WORKSPACE, or found up from `start`."""
        if explicit is not None:
            return cls.open(explicit)
        env = os.environ.get("VEIL_WORKSPACE")
        if env:
            return cls.open(env)
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIG_NAME).is_file():
                return cls.open(candidate)
        raise StoreError(
            f"no Veil workspace here or above (no {CONFIG_NAME}): run `veil init` first, "
            "or pass --workspace DIR",
            where=str(here),
        )


def init_workspace(root: str | Path) -> tuple[Workspace, bool]:
    """Create (or upgrade) a workspace; returns (workspace, created)."""
    root = Path(root).resolve()
    cfg_path = root / CONFIG_NAME
    created = not cfg_path.exists()
    if created:
        try:
            root.mkdir(parents=True, exist_ok=True)
            tmp = cfg_path.with_suffix(".toml.tmp")
            tmp.write_text(_TEMPLATE.format(db=DEFAULT_DB), "utf-8")
            os.replace(tmp, cfg_path)
        except OSError as exc:
            raise StoreError(f"cannot create workspace: {exc.strerror}", where=str(root)) from None
    ws = Workspace.open(root)
    _owner_only(ws)
    db.upgrade(ws.engine)
    return ws, created


def _owner_only(ws: Workspace) -> None:
    """Make ``keys/`` (0700) and tighten what an older version left readable by others: the
    folder, and the SQLite database with its WAL and shared-memory files (0600)."""
    keys = ws.root / KEYS_DIR
    try:
        keys.mkdir(mode=0o700, exist_ok=True)
        os.chmod(keys, 0o700)
        sqlite = db.sqlite_file(ws.database_url)
        for p in (sqlite, *db.sqlite_companions(sqlite)) if sqlite is not None else ():
            if p.exists():
                os.chmod(p, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot make the workspace owner-only: {exc.strerror}",
                         where=str(exc.filename or ws.root)) from None


def _anchor_sqlite(url: str, root: Path) -> str:
    """Make a relative SQLite path relative to the workspace, not the current folder."""
    try:
        u = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"not a database URL in {CONFIG_NAME}: '{url}'", where=str(root)) from None
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        p = Path(u.database)
        if not p.is_absolute():
            return u.set(database=str(root / p)).render_as_string(hide_password=False)
    return url

