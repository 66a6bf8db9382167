"""Registered stores: the database tables a policy's datasets live in (``datasets.X.store``).

Data-subject requests read, delete, mask and correct a subject's rows there with SQLAlchemy Core
(SQLite and PostgreSQL alike), always by the dataset's ``subject_id`` column. A store URL may use
``${VAR}`` / ``${VAR:-default}`` (expanded when opened); a relative SQLite path is taken from the
workspace folder. `load_store` fills a store from a file (CSV, Parquet, JSON lines) with an
index on the subject column, for trying Veil on the sample.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.errors import InputError, PolicyError, StoreError

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Dataset, Policy
    from veil.store.workspace import Workspace

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_ENGINES: dict[str, sa.Engine] = {}


def expand_url(url: str, where: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from the environment; a missing variable is an error
    naming the policy's file:line (never the URL, which may hold a password)."""
    def sub(m: re.Match[str]) -> str:
        value = os.environ.get(m.group(1))
        if value:
            return value
        if m.group(2) is not None:
            return m.group(2)
        raise PolicyError(f"store url: environment variable {m.group(1)} is not set", where=where)

    return _VAR.sub(sub, url)


def _private(path: Path) -> None:
    """Personal data on disk: owner-only (0600; its folder 0700 when we made it)."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if p.exists():
            p.chmod(0o600)


class Store:
    """One dataset's registered store, opened for a workspace. A SQLite store must exist
    (nothing creates an empty database by accident) unless ``create`` (`load_store`)."""

    def __init__(self, policy: Policy, dataset: str, workspace: Workspace, *,
                 create: bool = False) -> None:
        ds = policy.datasets[dataset]
        if ds.store is None or ds.subject_id is None:
            raise PolicyError(f"dataset '{dataset}' has no registered store",
                              where=policy.locate("datasets", dataset))
        self.dataset_id = dataset
        self.dataset: Dataset = ds
        self.spec = ds.store
        self.key = ds.subject_id
        self.where = policy.locate("datasets", dataset, "store")
        url = expand_url(ds.store.url, self.where)
        try:
            u = sa.make_url(url)
        except sa.exc.ArgumentError:
            raise PolicyError("store url is not a database URL", where=self.where) from None
        self.sqlite_path: Path | None = None
        if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
            p = Path(u.database)
            if not p.is_absolute():
                p = workspace.root / p
                u = u.set(database=str(p))
            self.sqlite_path = p
            if not create and not p.exists():
                raise StoreError(f"the store of dataset '{dataset}' does not exist: no file "
                                 f"{p} (fill it with `veil dsr load-store {dataset} FILE`)",
                                 where=self.where)
        self.url = u.render_as_string(hide_password=False)
        self.table_name = ds.store.table
        self._table: sa.Table | None = None

    @property
    def engine(self) -> sa.Engine:
        e = _ENGINES.get(self.url)
        if e is None:
            from veil.store import db

            try:
                e = db.create_engine(self.url)
            except (ImportError, sa.exc.NoSuchModuleError) as exc:
                name = getattr(exc, "name", None) or sa.make_url(self.url).drivername
                raise PolicyError(f"the store of dataset '{self.dataset_id}' needs the database "
                                  f"driver '{name}', which is not installed (supported here: "
                                  "SQLite and PostgreSQL)", where=self.where) from None
            _ENGINES[self.url] = e
        return e

    def describe(self) -> str:
        return f"{self.table_name} ({sa.make_url(self.url).render_as_string(hide_password=True)})"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except (ImportError, sa.exc.NoSuchModuleError) as exc:
            name = getattr(exc, "name", None) or "?"
            raise PolicyError(f"the store of dataset '{self.dataset_id}' needs the database "
                              f"driver '{name}', which is not installed",
                              where=self.where) from None
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{doing} in store of dataset '{self.dataset_id}' failed: "
                             f"{_why(exc)}", where=self.where) from None

    @property
    def table(self) -> sa.Table:
        if self._table is None:
            schema, _, name = self.table_name.rpartition(".")
            with self._errors("reading the table definition"):
                try:
                    self._table = sa.Table(name, sa.MetaData(), autoload_with=self.engine,
                                           schema=schema or None)
                except sa.exc.NoSuchTableError:
                    raise StoreError(f"table '{self.table_name}' of dataset '{self.dataset_id}' "
                                     "does not exist in its store", where=self.where) from None
            if self.key not in self._table.c:
                raise StoreError(f"table '{self.table_name}' has no column '{self.key}' (the "
                                 "dataset's subject_id)", where=self.where)
        return self._table

    def exists(self) -> bool:
        schema, _, name = self.table_name.rpartition(".")
        with self._errors("reading the table definition"):
            return sa.inspect(self.engine).has_table(name, schema=schema or None)

    def _key_value(self, subject_id: str) -> Any:
        col = self.table.c[self.key]
        try:
            py = col.type.python_type
        except NotImplementedError:
            return subject_id
        if py is int:
            try:
                return int(subject_id)
            except ValueError:
                return None  # cannot match an integer column
        return subject_id

    def _match(self, subject_id: str) -> Any:
        v = self._key_value(subject_id)
        return sa.false() if v is None else self.table.c[self.key] == v

    def count(self, subject_id: str) -> int:
        with self._errors("counting a subject's rows"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)
                                    .where(self._match(subject_id))).scalar() or 0)

    def count_unmasked(self, subject_id: str, fields: list[str]) -> int:
        """The subject's rows where one of ``fields`` still holds a value (rows an earlier
        masking erasure already nulled are not found again as new data)."""
        cols = [self.table.c[f] for f in fields if f in self.table.c]
        if not cols:
            return 0
        with self._errors("counting a subject's rows"), self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table).where(
                self._match(subject_id), sa.or_(*[c.isnot(None) for c in cols]))).scalar() or 0)

    def columns(self) -> list[str]:
        return [c.name for c in self.table.c]

    def rows(self, subject_id: str) -> list[dict[str, Any]]:
        """The subject's rows, as JSON-ready dicts."""
        with self._errors("reading a subject's rows"), self.engine.connect() as conn:
            res = conn.execute(sa.select(self.table).where(self._match(subject_id)))
            return [{k: _jsonable(v) for k, v in r._mapping.items()} for r in res]

    def delete(self, subject_id: str) -> int:
        with self._errors("deleting a subject's rows"), self.engine.begin() as conn:
            return int(conn.execute(self.table.delete().where(self._match(subject_id))).rowcount)

    def mask(self, subject_id: str, fields: list[str] | None = None) -> int:
        """Null ``fields`` (default: the store's ``mask`` list) in the subject's rows that still
        hold one of them; returns the rows changed (0 when already masked)."""
        want = list(self.spec.mask if fields is None else fields)
        cols = [c for c in want if c in self.table.c]
        missing = [c for c in want if c not in self.table.c]
        if missing:
            raise StoreError(f"mask field(s) {', '.join(missing)} not in table "
                             f"'{self.table_name}'", where=self.where)
        if not cols:
            return 0
        with self._errors("masking a subject's rows"), self.engine.begin() as conn:
            return int(conn.execute(self.table.update().where(
                self._match(subject_id), sa.or_(*[self.table.c[c].isnot(None) for c in cols]))
                .values({c: None for c in cols})).rowcount)

    def update(self, subject_id: str, values: dict[str, Any]) -> int:
        unknown = [c for c in values if c not in self.table.c]
        if unknown:
            raise InputError(f"field(s) {', '.join(unknown)} not in the store table "
                             f"'{self.table_name}' of dataset '{self.dataset_id}'")
        if self.key in values:
            raise InputError(f"'{self.key}' identifies the subject and cannot be rectified "
                             "here (open an erasure and a new record instead)")
        with self._errors("correcting a subject's rows"), self.engine.begin() as conn:
            return int(conn.execute(self.table.update().where(self._match(subject_id))
                                    .values(values)).rowcount)


def _why(exc: sa.exc.DBAPIError) -> str:
    """What went wrong, without the URL or password: connection vs login vs the rest."""
    text = str(exc.orig).lower()
    if isinstance(exc, sa.exc.OperationalError):
        if "password" in text or "authentication" in text or "role" in text:
            return "login failed (user or password refused by the server)"
        if ("connect" in text or "could not translate host" in text or "timeout" in text
                or "refused" in text):
            return "cannot connect to the database server (host, port or network)"
        if "unable to open database" in text:
            return "cannot open the database file"
    return type(exc.orig).__name__


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, bytes | memoryview):
        return bytes(v).hex()
    return v


def registered_stores(policy: Policy, workspace: Workspace) -> list[Store]:
    return [Store(policy, d, workspace) for d, ds in policy.datasets.items()
            if ds.store is not None]


_SA_TYPES: dict[str, Any] = {
    "string": sa.Text, "integer": sa.BigInteger, "float": sa.Float, "decimal": sa.Numeric,
    "boolean": sa.Boolean, "date": sa.Date, "timestamp": sa.DateTime(timezone=True),
}


def load_store(policy: Policy, dataset: str, source: str | Path, workspace: Workspace, *,
               replace: bool = False) -> int:
    """Create the dataset's store table (typed from the policy, indexed on the subject id) and
    fill it from a file; returns the rows written. Refuses to touch an existing table unless
    ``replace``. All or nothing: one transaction (the old table's DROP included, on SQLite
    too), and a SQLite file it had to create is
    removed again on failure. The file is made owner-only (0600): it holds personal data."""
    if dataset not in policy.datasets:
        raise PolicyError(f"unknown dataset '{dataset}'", where=policy.source)
    store = Store(policy, dataset, workspace, create=True)
    made = store.sqlite_path is not None and not store.sqlite_path.exists()
    if made:
        assert store.sqlite_path is not None
        store.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        store.sqlite_path.touch(mode=0o600)
    try:
        n = _load(store, policy, dataset, source, replace)
    except BaseException:
        if made and store.sqlite_path is not None:  # never leave an empty database behind
            e = _ENGINES.pop(store.url, None)
            if e is not None:
                e.dispose()
            for p in (store.sqlite_path, Path(f"{store.sqlite_path}-wal"),
                      Path(f"{store.sqlite_path}-shm")):
                p.unlink(missing_ok=True)
        raise
    if store.sqlite_path is not None:
        _private(store.sqlite_path)
    return n


def _load(store: Store, policy: Policy, dataset: str, source: str | Path,
          replace: bool) -> int:
    from veil.io.readers import open_source
    from veil.rights.store_loading import batch_writer

    src = open_source(source)
    header = src.header()
    ds = policy.datasets[dataset]
    cols = [c for c in header if c in ds.fields]
    if store.key not in cols:
        raise InputError(f"the data has no column '{store.key}' (the dataset's subject_id)",
                         where=str(source))
    schema, _, name = store.table_name.rpartition(".")
    md = sa.MetaData()
    table = sa.Table(name, md, *[sa.Column(c, _SA_TYPES[ds.fields[c].type]) for c in cols],
                     schema=schema or None)
    n = 0
    # pysqlite runs DDL that comes before any INSERT outside its implicit transaction, so an
    # explicit BEGIN: a failed --replace keeps the old table (closing without commit rolls back)
    with store._errors("loading the store"), store.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        if sa.inspect(conn).has_table(name, schema=schema or None):
            if not replace:
                raise StoreError(f"table '{store.table_name}' already exists (use --replace to "
                                 "drop and reload it)", where=store.where)
            sa.Table(name, sa.MetaData(), autoload_with=conn, schema=schema or None).drop(conn)
        md.create_all(conn)

        def reject(r: Any) -> None:
            raise InputError(r.reason, where=r.place(src.name))

        types: dict[str, str] = {c: ds.fields[c].type for c in cols}
        write = batch_writer(conn, table, cols)  # COPY / executemany: see store_loading
        for batch in src.batches(cols, types, reject):
            n += write(batch.select(cols))
        # indexed once the rows are in: one sort instead of a B-tree insert per row
        sa.Index(f"ix_{name}_{store.key}", table.c[store.key]).create(conn)
        conn.commit()
    store._table = None
    return n
