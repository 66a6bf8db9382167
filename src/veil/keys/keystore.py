"""The key store's tables: wrapped keysets, key events and per-subject keys (crypto-shredding).

Three tables of ``veil.store.schema`` (the "keys" section):

* ``keysets``: one row per named keyset: kind, purpose, status (``ENABLED`` / ``DISABLED`` /
  ``DESTROYED``), the keyset as Tink's ``EncryptedKeyset`` wrapped under the KEK with associated
  data ``b"veil:keyset:" + name`` (NULL once destroyed), the wrapping KEK's id, the primary key id,
  a version bumped on every change, and times.
* ``key_events``: one row per key operation (time, actor, op, keyset, key id, KEK id, a JSON detail
  without secrets).
* ``subject_keys``: one row per data subject (by pseudonym): the subject's random key wrapped under
  a key epoch (``epoch``; `veil.keys.epochs`) or, as older versions stored it, directly under the
  KEK (``epoch`` NULL, ``kek_id`` set); the blob is NULL once erased; created/erased times.

`SqlSubjectKeyStore` is the `veil.keys.subject_keys.WrappedKeyStore` over ``subject_keys``, and
`StoreSubjectKeys` the `SubjectKeys` that uses it in bulk and notices erasures made by other
processes. The store hands out and takes wrapped keys as ``epoch (4 bytes, big-endian; 0: the
KEK) || wrapped key`` (`join_wrapped`, `split_wrapped`), so the wrapping object (an epoch
keyring) knows which key opens each one; a key wrapped under an epoch that is no longer current
is refused (`StaleEpochError`: a rotation just happened, wrap again).

On SQLite every write to ``subject_keys`` runs with ``PRAGMA secure_delete=ON`` (freed space is
zeroed) and an erasure ends with a WAL checkpoint, so the wrapped key leaves the database files;
on PostgreSQL an erasure deletes the blob and asks for a ``VACUUM`` of the table (old row
versions can linger in free space, WAL archives and backups, wrapped under their epoch: see
docs/crypto.md, "Backups").
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.errors import CryptoError, ErasedError, KeyMissingError, WrongKeyError
from veil.kek.providers import KEK
from veil.keys.subject_keys import TOMBSTONE, SubjectKeys
from veil.keys.subject_keys_bulk import KeyOrPrimitive, gc_paused, open_groups, seal_groups
from veil.store.transactions import db_error, read_connection, write_transaction

__all__ = [
    "SqlSubjectKeyStore",
    "StaleEpochError",
    "StoreSubjectKeys",
    "db_error",
    "join_wrapped",
    "record_event",
    "secure_delete",
    "split_wrapped",
    "write_transaction",
]

_CHUNK = 500  # subjects per IN (...) query: well under every backend's parameter limit
_STALE_RETRIES = 5  # wraps of a new key tried while epochs rotate under it


class StaleEpochError(CryptoError):
    """A new subject key was wrapped under an epoch that is no longer current: wrap again."""

    kind = "stale key epoch"


def join_wrapped(epoch: int | None, wrapped: bytes) -> bytes:
    """The store's form of a wrapped key: the wrapping epoch (0: the KEK), then the blob."""
    return int(epoch or 0).to_bytes(4, "big") + bytes(wrapped)


def split_wrapped(blob: bytes) -> tuple[int | None, bytes]:
    """(epoch or None for the KEK, wrapped key) of a `join_wrapped` blob."""
    if len(blob) < 4:
        raise CryptoError("wrapped subject key too short (damaged)")
    epoch = int.from_bytes(blob[:4], "big")
    return (epoch or None), bytes(blob[4:])


def _tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    from veil.store.schema import key_events, keysets, subject_keys

    return keysets, key_events, subject_keys


def current_epoch(conn: sa.Connection, *, share: bool = False) -> int | None:
    """The current key epoch's id (None: no epoch yet). ``share`` (PostgreSQL) holds the row
    against a concurrent rotation until the transaction ends."""
    from veil.store.schema import key_epochs

    q = sa.select(key_epochs.c.id).where(key_epochs.c.retired_at.is_(None))
    if share and conn.dialect.name != "sqlite":
        q = q.with_for_update(read=True)
    return conn.execute(q.order_by(key_epochs.c.id.desc()).limit(1)).scalar()


def now() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def secure_delete(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, zero freed space for the statements inside (restores the previous setting)."""
    if conn.dialect.name != "sqlite":
        yield
        return
    prev = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    conn.exec_driver_sql("PRAGMA secure_delete=ON")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete={int(prev or 0)}")


def purge_freed_space(engine: sa.Engine, table: str) -> bool:
    """Push deleted key material out of the database files, best effort; True if complete.

    SQLite: a ``wal_checkpoint(TRUNCATE)`` writes the zeroed pages into the main file and empties
    the WAL (incomplete while another connection reads an old snapshot). PostgreSQL: ``VACUUM``
    of the table removes dead row versions.
    """
    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                row = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").first()
                conn.rollback()
                return row is not None and row[0] == 0  # (busy, WAL frames, checkpointed)
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql(f'VACUUM "{table}"')
                return True
    except sa.exc.DBAPIError:
        return False
    return False


def record_event(
    conn: sa.Connection,
    actor: str,
    op: str,
    *,
    keyset: str | None = None,
    key_id: int | None = None,
    kek_id: str | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """Insert one ``key_events`` row (in the caller's transaction); returns it as a dict."""
    _, key_events, _ = _tables()
    row = {
        "time": at or now(),
        "actor": actor[:128],
        "op": op,
        "keyset": keyset,
        "key_id": key_id,
        "kek_id": kek_id,
        "detail": json.dumps(detail, sort_keys=True, separators=(",", ":")) if detail else None,
    }
    conn.execute(key_events.insert().values(**row))
    return row


# --------------------------------------------------------------------------------------------
# subject keys


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class SqlSubjectKeyStore:
    """`WrappedKeyStore` over the ``subject_keys`` table.

    ``get`` returns the wrapped key, `TOMBSTONE` (``b""``) for an erased subject, or None.
    Setting a wrapped key never overwrites a live one (two processes creating the same subject's
    key at once keep the first; the loser raises and re-reads). Setting `TOMBSTONE` or deleting
    erases: the blob is removed with secure delete, the row stays with ``erased_at``.
    """

    def __init__(self, engine: sa.Engine, kek_id: str, *, purge: bool = True) -> None:
        self.engine = engine
        self.kek_id = kek_id
        self.purge = purge
        self._t = _tables()[2]

    # mapping protocol -----------------------------------------------------------------------

    def get(self, subject: str, /) -> bytes | None:
        return self.get_many([subject]).get(subject)

    def __contains__(self, subject: object, /) -> bool:
        return isinstance(subject, str) and self.get(subject) is not None

    def __setitem__(self, subject: str, wrapped: bytes, /) -> None:
        if bytes(wrapped) == TOMBSTONE:
            self.erase(subject)
            return
        if not self.insert_many({subject: bytes(wrapped)}) and not self._revive(
            subject, bytes(wrapped)
        ):
            raise CryptoError(
                "the subject already has a key (created concurrently); not overwritten",
                where=f"subject {subject}",
            )

    def __delitem__(self, subject: str, /) -> None:
        self.erase(subject)

    # bulk -----------------------------------------------------------------------------------

    def get_many(self, subjects: Iterable[str]) -> dict[str, bytes]:
        """Wrapped keys (or TOMBSTONE) of the subjects that have a row."""
        subs = list(dict.fromkeys(subjects))
        with read_connection(self.engine, "reading subject keys") as conn:
            return self.read_in(conn, subs)

    def read_in(self, conn: sa.Connection, subjects: Sequence[str]) -> dict[str, bytes]:
        """`get_many` of distinct ``subjects`` through the caller's connection."""
        out: dict[str, bytes] = {}
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        for chunk in _chunks(subjects):
            # Plain DBAPI: SQLAlchemy's per-statement work costs more than these lookups.
            with contextlib.closing(conn.connection.cursor()) as cur:
                cur.execute(
                    "SELECT subject, wrapped_key, kek_id, epoch FROM subject_keys WHERE subject "
                    f"IN ({', '.join([mark] * len(chunk))})", tuple(chunk))
                found = cur.fetchall()
            for s, w, kid, epoch in found:
                if w is None:
                    out[s] = TOMBSTONE
                    continue
                if epoch is not None:
                    out[s] = join_wrapped(epoch, w)
                    continue
                if kid != self.kek_id:
                    raise WrongKeyError(
                        f"this subject's key is wrapped under KEK {kid}, but the workspace's "
                        f"KEK is {self.kek_id} (finish `veil keys rewrap` with the old KEK)",
                        where=f"subject {s}",
                    )
                out[s] = join_wrapped(None, w)
        return out

    def insert_in(self, conn: sa.Connection, wrapped: dict[str, bytes]) -> dict[str, bytes]:
        """Insert keys (`join_wrapped` blobs) in the caller's write transaction, in subject
        order (the index pages are visited once, in order), by multi-row ``INSERT ... ON
        CONFLICT DO NOTHING RETURNING subject`` statements of 500 rows (cheaper than an
        executemany, and they say which rows were written). Returns the subjects that already
        had a row (another writer's key, or `TOMBSTONE`), with its blob; their rows are kept."""
        if not wrapped:
            return {}
        dialect = conn.dialect
        bind = self._t.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
        at = now() if bind is None else bind(now())
        kek_id = self.kek_id
        params: list[Any] = []
        for s in sorted(wrapped):
            blob = wrapped[s]  # `join_wrapped` form, split inline (a batch's hot loop)
            epoch = int.from_bytes(blob[:4], "big") or None
            params += (s, blob[4:], kek_id if epoch is None else None, at, epoch)
        sqlite = dialect.name == "sqlite"
        row = "(?, ?, ?, ?, ?)" if sqlite else "(%s, %s, %s, %s, %s)"
        written: set[str] = set()
        step = 5 * _CHUNK
        with contextlib.closing(conn.connection.cursor()) as cur:
            if dialect.name == "postgresql":  # one statement over arrays (see `_insert_arrays`)
                written.update(self._insert_arrays(cur, params))
                params = []
            was = 1
            if sqlite:  # as `secure_delete`, without its statements when the setting is on
                cur.execute("PRAGMA secure_delete")
                was = int(cur.fetchall()[0][0] or 0)
                if not was:
                    cur.execute("PRAGMA secure_delete=ON")
            try:
                for lo in range(0, len(params), step):
                    part = params[lo : lo + step]
                    cur.execute(
                        "INSERT INTO subject_keys (subject, wrapped_key, kek_id, created_at, "
                        f"epoch) VALUES {', '.join([row] * (len(part) // 5))} "
                        "ON CONFLICT (subject) DO NOTHING RETURNING subject", part)
                    written.update(r[0] for r in cur.fetchall())
            finally:
                if not was:
                    cur.execute("PRAGMA secure_delete=0")
        if len(written) == len(wrapped):
            return {}
        return self.read_in(conn, sorted(s for s in wrapped if s not in written))

    @staticmethod
    def _insert_arrays(cur: Any, params: list[Any]) -> list[str]:
        """PostgreSQL: `insert_in`'s rows (``params``: five values a row) by one ``INSERT ...
        SELECT FROM unnest(arrays)`` in binary: psycopg parses the text of a 500-row
        ``VALUES`` statement anew each time (too long for its cache: 45% of a batch's client
        CPU, profiled); the arrays are sent as they are. Returns the subjects written."""
        cur.execute(
            "INSERT INTO subject_keys (subject, wrapped_key, kek_id, created_at, epoch) "
            "SELECT s, w, k, %s, e FROM unnest(%s::varchar[], %s::bytea[], %s::varchar[], "
            "%s::int[]) AS u(s, w, k, e) ON CONFLICT (subject) DO NOTHING RETURNING subject",
            (params[3], params[0::5], params[1::5], params[2::5], params[4::5]), binary=True)
        return [r[0] for r in cur.fetchall()]

    @staticmethod
    def _row_values(blob: bytes, kek_id: str) -> dict[str, Any]:
        epoch, wrapped = split_wrapped(blob)
        return {"wrapped_key": wrapped, "epoch": epoch,
                "kek_id": kek_id if epoch is None else None}

    @staticmethod
    def _check_epoch(conn: sa.Connection, epochs: Iterable[int | None], current: int | None,
                     ) -> None:
        if any(e != current for e in epochs):
            raise StaleEpochError("a key epoch rotation happened while this key was wrapped")

    def insert_many(self, wrapped: dict[str, bytes]) -> set[str]:
        """Insert keys (`join_wrapped` blobs) for subjects that have no row (an existing row,
        live or erased, is never replaced, even when another process inserts it at the same
        moment); returns the subjects whose key is now the one given. A key wrapped under an
        epoch that is not current raises `StaleEpochError` and nothing is stored."""
        if not wrapped:
            return set()
        t = self._t
        at = now()
        inserted: set[str] = set()
        values = {s: self._row_values(b, self.kek_id) for s, b in wrapped.items()}
        with write_transaction(self.engine, "storing subject keys") as conn, secure_delete(conn):
            if conn.dialect.name == "postgresql":
                from sqlalchemy.dialects.postgresql import insert
            else:
                from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
            current = current_epoch(conn, share=True)
            stmt = insert(t).on_conflict_do_nothing(index_elements=[t.c.subject])
            for chunk in _chunks(list(values)):
                conn.execute(stmt, [{"subject": s, "created_at": at, **values[s]} for s in chunk])
                stored = conn.execute(
                    sa.select(t.c.subject, t.c.wrapped_key).where(t.c.subject.in_(chunk))
                )
                inserted.update(s for s, w in stored
                                if w is not None and bytes(w) == values[s]["wrapped_key"])
            self._check_epoch(conn, (values[s]["epoch"] for s in inserted), current)
        return inserted

    def _revive(self, subject: str, wrapped: bytes) -> bool:
        """Give an erased subject a new key (`SubjectKeys.create(recreate_erased=True)`)."""
        t = self._t
        values = self._row_values(wrapped, self.kek_id)
        with write_transaction(self.engine, "storing a subject key") as conn, secure_delete(conn):
            current = current_epoch(conn, share=True)
            res = conn.execute(
                t.update()
                .where(t.c.subject == subject, t.c.wrapped_key.is_(None))
                .values(created_at=now(), **values)
            )
            if res.rowcount:
                self._check_epoch(conn, [values["epoch"]], current)
            return bool(res.rowcount)

    def erase(self, subject: str) -> bool:
        """Erase one subject's key; True if a live key was destroyed."""
        return subject in self.erase_many([subject])

    def erase_many(self, subjects: Iterable[str]) -> set[str]:
        """Erase keys (leaving tombstones, also for subjects never seen); returns the subjects
        whose live key was destroyed. Freed space is zeroed (SQLite) and purged afterwards."""
        t = self._t
        subs = list(dict.fromkeys(subjects))
        at = now()
        destroyed: set[str] = set()
        with write_transaction(self.engine, "erasing subject keys") as conn, secure_delete(conn):
            for chunk in _chunks(subs):
                rows = dict(
                    conn.execute(
                        sa.select(t.c.subject, t.c.wrapped_key).where(t.c.subject.in_(chunk))
                    ).all()
                )
                live = [s for s, w in rows.items() if w is not None]
                if live:
                    conn.execute(
                        t.update()
                        .where(t.c.subject.in_(live))
                        .values(wrapped_key=None, kek_id=None, erased_at=at)
                    )
                    destroyed.update(live)
                absent = [s for s in chunk if s not in rows]
                if absent:  # a tombstone, so no key is silently made for them later
                    conn.execute(
                        t.insert(),
                        [{"subject": s, "wrapped_key": None, "kek_id": None, "created_at": at,
                          "erased_at": at} for s in absent],
                    )
        if self.purge and destroyed:
            purge_freed_space(self.engine, t.name)
        return destroyed

    def changed_since(self, since: datetime) -> list[str]:
        """Subjects erased at or after ``since`` (for other processes' caches).

        A re-keyed subject was erased first (a key is only ever replaced after erasure), so
        erasure times alone cover it; new keys are not "changes" (nobody can have cached a key
        that did not exist), and counting them would empty a busy writer's cache every second.
        """
        t = self._t
        with read_connection(self.engine, "reading subject key changes") as conn:
            return list(
                conn.execute(sa.select(t.c.subject).where(t.c.erased_at >= since)).scalars()
            )

    def rewrap_all(self, conn: sa.Connection, old: KEK, new: KEK, aad_for: Any) -> int:
        """Re-wrap every live subject key wrapped directly under ``old`` (no epoch: keys an
        older version stored) to ``new`` inside ``conn``'s transaction."""
        t = self._t
        n = 0
        last = ""
        while True:
            rows = conn.execute(
                sa.select(t.c.subject, t.c.wrapped_key, t.c.kek_id)
                .where(t.c.subject > last, t.c.wrapped_key.is_not(None), t.c.epoch.is_(None))
                .order_by(t.c.subject)
                .limit(_CHUNK)
            ).all()
            if not rows:
                return n
            for s, w, kid in rows:
                if kid == new.kek_id:
                    continue
                if kid != old.kek_id:
                    raise WrongKeyError(
                        f"a subject key is wrapped under KEK {kid}, neither the current "
                        f"({old.kek_id}) nor the new one",
                        where=f"subject {s}",
                    )
                aad = aad_for(s)
                conn.execute(
                    t.update()
                    .where(t.c.subject == s)
                    .values(wrapped_key=new.wrap(old.unwrap(bytes(w), aad), aad),
                            kek_id=new.kek_id)
                )
                n += 1
            last = rows[-1][0]


class StoreSubjectKeys(SubjectKeys):
    """`SubjectKeys` over `SqlSubjectKeyStore`: a whole batch's keys at once (`keys_for`: one
    query per 500 uncached subjects, the new keys made, wrapped and inserted in one
    transaction, primitives built as each subject is reached so memory holds 32-byte keys,
    not OpenSSL contexts; the LRU cache keeps the last ``cache_size`` across batches) and an
    erasure check across processes.

    Every ``sync_interval`` seconds (None: never) the first key lookup asks the store which
    subjects were erased or re-keyed since the last check and drops them from the cache, so a
    shred made by another process takes effect here within that interval. `sync` does it now.
    """

    store: SqlSubjectKeyStore

    def __init__(
        self,
        kek: KEK,
        store: SqlSubjectKeyStore,
        *,
        cache_size: int = 4096,
        namespace: str = "veil",
        sync_interval: float | None = 1.0,
    ) -> None:
        super().__init__(kek, store, cache_size=cache_size, namespace=namespace)
        self.sync_interval = sync_interval
        self._new_share = 0.0  # of the last batch's uncached subjects, the share that was new
        self._had_rows = 0  # of the keys the last `_create_in` tried, those that had a row
        self._synced_at = now()
        self._next_sync = time.monotonic() + (sync_interval or 0.0)

    # cross-process erasure ------------------------------------------------------------------

    def sync(self) -> list[str]:
        """Drop from the cache every subject erased or re-keyed since the last sync (and let
        the wrapping keyring see epoch rotations and destructions)."""
        with self._lock:
            refresh = getattr(self.kek, "refresh", None)
            if refresh is not None:
                refresh()
            started = now()
            # A margin covers clock skew between writers and commit delays.
            changed = self.store.changed_since(self._synced_at - timedelta(seconds=5))
            for s in changed:
                self._cache.pop(s, None)
            self._synced_at = started
            if self.sync_interval is not None:
                self._next_sync = time.monotonic() + self.sync_interval
            return changed

    def _maybe_sync(self) -> None:
        if self.sync_interval is not None and time.monotonic() >= self._next_sync:
            self.sync()

    def _primitive(self, subject: str, create: bool) -> AESGCM:
        self._maybe_sync()
        return super()._primitive(subject, create)

    # lifecycle ------------------------------------------------------------------------------

    def create(self, subject: str, *, recreate_erased: bool = False) -> bool:
        with self._lock:
            cur = self.store.get(subject)
            if cur is not None and (cur != TOMBSTONE or not recreate_erased):
                if cur == TOMBSTONE:
                    raise ErasedError("erased", where=f"subject {subject}")
                return False
            key = secrets.token_bytes(32)
            made = bool(self._store_new({subject: key}, revive=cur is not None))
            if made:
                self._put(subject, AESGCM(key))
            else:  # someone else was first: use theirs
                self._cache.pop(subject, None)
                stored = self.store.get(subject)
                if stored is None or stored == TOMBSTONE:
                    raise ErasedError("erased", where=f"subject {subject}")
                self._put(subject, AESGCM(self.kek.unwrap(stored, self._wrap_aad(subject))))
            return made

    def _store_new(self, keys: dict[str, bytes], *, revive: bool = False) -> set[str]:
        """Wrap and store new keys; the subjects whose key is now the given one. A rotation
        racing with this (`StaleEpochError`) makes the keyring look again and wrap anew."""
        for _ in range(_STALE_RETRIES):
            wrapped = {s: self.kek.wrap(k, self._wrap_aad(s)) for s, k in keys.items()}
            try:
                if revive:
                    return {s for s, w in wrapped.items() if self.store._revive(s, w)}
                return self.store.insert_many(wrapped)
            except StaleEpochError:
                refresh = getattr(self.kek, "refresh", None)
                if refresh is None:
                    raise
                refresh()
        raise CryptoError("the key epoch kept changing while new subject keys were stored: "
                          "try again")

    def shred(self, subject: str) -> bool:
        return subject in self.shred_many([subject])

    def shred_many(self, subjects: Iterable[str]) -> set[str]:
        """Erase several subjects in one transaction; returns those whose live key was destroyed."""
        subs = list(subjects)
        with self._lock:
            for s in subs:
                self._cache.pop(s, None)
            return self.store.erase_many(subs)

    # batches --------------------------------------------------------------------------------

    def _unwrap_found(self, found: dict[str, bytes]) -> tuple[dict[str, bytes], list[str]]:
        """(raw keys, erased subjects) of a `read_in` result."""
        raw: dict[str, bytes] = {}
        erased: list[str] = []
        unwrap, aad = self.kek.unwrap, self._wrap_aad
        for s, w in found.items():
            if w == TOMBSTONE:
                erased.append(s)
            else:
                raw[s] = unwrap(w, aad(s))
        return raw, erased

    def _cached(self, subjects: Iterable[str]) -> dict[str, KeyOrPrimitive]:
        with self._lock:
            get = self._cache.get
            return {s: p for s in subjects if (p := get(s)) is not None}

    def keys_for(self, subjects: Iterable[str], *, create: bool,
                 ) -> tuple[dict[str, KeyOrPrimitive], list[str]]:
        """(each distinct subject's key, the erased subjects) in bulk: cached primitives,
        the rest read by one query per 500 subjects and unwrapped; with ``create`` the
        missing keys are made and stored in ONE transaction, and an erased subject raises
        `ErasedError` before anything is made. Keys come as primitives or raw bytes
        (`veil.keys.subject_keys_bulk`); subjects without a key and not erased are absent."""
        self._maybe_sync()
        subs = list(dict.fromkeys(subjects))
        if not all(isinstance(s, str) and s for s in subs):
            raise CryptoError("a subject must be a non-empty pseudonym string")
        keys: dict[str, KeyOrPrimitive] = self._cached(subs)
        missing = [s for s in subs if s not in keys] if keys else subs
        if not missing:
            return keys, []
        if create and self._new_share > 0.5:  # mostly new lately: insert first, no look
            keys.update(self._create_stored(missing))
            self._new_share = 1.0 - self._had_rows / len(missing)
            return keys, []
        with read_connection(self.store.engine, "reading subject keys") as conn:
            found = self.store.read_in(conn, missing)
        raw, erased = self._unwrap_found(found)
        keys.update(raw)
        if create and erased:
            raise ErasedError("erased", where=f"subject {erased[0]}")
        new = [s for s in missing if s not in found]
        self._new_share = len(new) / len(missing)
        if create and new:
            keys.update(self._create_stored(new))
        return keys, erased

    def _create_stored(self, subjects: list[str]) -> dict[str, bytes]:
        """Raw keys of ``subjects`` (none had a row when read), made, wrapped and stored in
        one write transaction; a key another writer stored meanwhile is used instead, a
        tombstone stored meanwhile raises `ErasedError` (nothing is stored). Only a short
        insert count sends it back to the store for the rows it did not write."""
        with write_transaction(self.store.engine, "storing subject keys") as conn:
            if not conn.in_transaction():
                conn.begin()  # the plain DBAPI statements below commit with it (PostgreSQL)
            raw = self._create_in(conn, subjects)  # a row stored meanwhile: see `insert_in`
        return raw

    def _keep(self, prims: list[tuple[str, AESGCM]]) -> None:
        with self._lock:
            self._put_many(prims)

    def prefetch(self, subjects: Iterable[str], *, create: bool = False) -> None:
        """Load (and with ``create``, make) the keys of uncached subjects in bulk: at most
        ``cache_size`` of them enter the cache."""
        keys, _ = self.keys_for(subjects, create=create)
        with self._lock:
            for s, k in list(keys.items())[-self.cache_size:]:
                self._put(s, k if isinstance(k, AESGCM) else AESGCM(k))

    def _prefetch(self, subjects: list[str], create: bool) -> None:
        self.prefetch(subjects, create=create)

    def encrypt_many(
        self, subjects: Sequence[str], plaintexts: Sequence[bytes], associated_data: bytes = b""
    ) -> list[bytes]:
        """`SubjectKeys.encrypt_many` with the batch's keys looked up, unwrapped and (for
        new subjects) made and stored in bulk (`keys_for`): one transaction per batch."""
        n = len(plaintexts)
        if len(subjects) != n:
            raise ValueError(f"{n} records but {len(subjects)} subjects")
        with gc_paused():
            groups = self._groups(subjects)
            keys, _ = self.keys_for(groups, create=True)
            return seal_groups(groups, keys, plaintexts, associated_data, self._keep,
                               self.cache_size)

    def decrypt_many(
        self,
        subjects: Sequence[str],
        ciphertexts: Sequence[bytes],
        associated_data: bytes = b"",
        *,
        erased: Any = ErasedError,
    ) -> list[Any]:
        """`SubjectKeys.decrypt_many` with the batch's keys looked up and unwrapped in bulk."""
        n = len(ciphertexts)
        if len(subjects) != n:
            raise ValueError(f"{n} records but {len(subjects)} subjects")
        with gc_paused():
            groups = self._groups(subjects)
            keys, gone = self.keys_for(groups, create=False)
            gone_set = set(gone)
            for s in groups:  # the first subject without a key names the error
                if s in keys:
                    continue
                if s not in gone_set:
                    raise KeyMissingError("no key for this subject", where=f"subject {s}")
                if erased is ErasedError:
                    raise ErasedError("erased", where=f"subject {s}")
            return open_groups(groups, keys, ciphertexts, associated_data, erased, self._keep,
                               self.cache_size)

    # inside the caller's transaction --------------------------------------------------------

    def prepare(self) -> None:
        """Do, before a caller opens its write transaction, what may write on its own: make
        the first key epoch (`veil.keys.epochs`) and look at erasures elsewhere. On SQLite a
        second writer inside the caller's transaction would wait for it: "database is
        locked"."""
        self._maybe_sync()
        _ = self.kek.kek_id  # an epoch keyring makes its first epoch here

    def encrypt_many_in(
        self, conn: sa.Connection, subjects: Sequence[str], plaintexts: Sequence[bytes],
        associated_data: bytes = b"",
    ) -> list[bytes]:
        """`encrypt_many` inside the caller's write transaction ``conn`` (call `prepare`
        before opening it): the keys the store lacks are made, wrapped in one pass and
        inserted by multi-row inserts in ``conn``, so they commit or vanish with the caller's
        rows (one transaction for a batch of decisions instead of one per subject). New keys
        enter the cache only through a later lookup, after the commit: a key whose
        transaction rolled back is never used again."""
        n = len(plaintexts)
        if len(subjects) != n:
            raise ValueError(f"{n} records but {len(subjects)} subjects")
        self._maybe_sync()
        with gc_paused():
            groups = self._groups(subjects)
            if not all(isinstance(s, str) and s for s in groups):
                raise CryptoError("a subject must be a non-empty pseudonym string")
            keys: dict[str, KeyOrPrimitive] = self._cached(groups)
            missing = [s for s in groups if s not in keys]
            if missing and self._new_share > 0.5:  # mostly new lately: insert first
                keys.update(self._create_in(conn, sorted(missing)))
                self._new_share = 1.0 - self._had_rows / len(missing)
                return seal_groups(groups, keys, plaintexts, associated_data)
            found = self.store.read_in(conn, missing)
            raw, erased = self._unwrap_found(found)
            if erased:
                raise ErasedError("erased", where=f"subject {erased[0]}")
            with self._lock:
                for s, k in list(raw.items())[-self.cache_size:]:
                    self._put(s, AESGCM(k))
            keys.update(raw)
            new = sorted(s for s in missing if s not in found)
            if missing:
                self._new_share = len(new) / len(missing)
            if new:
                keys.update(self._create_in(conn, new))
            return seal_groups(groups, keys, plaintexts, associated_data)

    def _create_in(self, conn: sa.Connection, subjects: list[str]) -> dict[str, bytes]:
        """Raw new keys for ``subjects`` (none has a row), stored in ``conn``'s transaction
        (a key a concurrent writer stored first is unwrapped and returned instead)."""
        raw = os.urandom(32 * len(subjects))
        keys = {s: raw[32 * i : 32 * i + 32] for i, s in enumerate(subjects)}
        with contextlib.closing(conn.connection.cursor()) as cur:  # held against rotation (PG)
            cur.execute("SELECT id FROM key_epochs WHERE retired_at IS NULL ORDER BY id DESC "
                        "LIMIT 1" + ("" if conn.dialect.name == "sqlite" else " FOR SHARE"))
            rows = cur.fetchall()
        current = rows[0][0] if rows else None
        mark = int(current or 0).to_bytes(4, "big")  # `join_wrapped`'s epoch prefix
        wrap_many = getattr(self.kek, "wrap_many", None)
        head = self._wrap_aad("s")[:-1]  # `_wrap_aad` without the subject
        aads = [head + s.encode("utf-8") for s in keys]
        for _ in range(_STALE_RETRIES):
            blobs = (wrap_many(list(keys.values()), aads) if wrap_many is not None else
                     [self.kek.wrap(k, a) for k, a in zip(keys.values(), aads, strict=True)])
            if all(w[:4] == mark for w in blobs):
                break
            refresh = getattr(self.kek, "refresh", None)
            if refresh is None:
                raise StaleEpochError("a key epoch rotation happened while this key was wrapped")
            refresh()
        else:
            raise CryptoError("the key epoch kept changing while new subject keys were stored: "
                              "try again")
        theirs = self.store.insert_in(conn, dict(zip(keys, blobs, strict=True)))
        self._had_rows = len(theirs)
        if theirs:  # a concurrent writer was first (PostgreSQL): use theirs
            won, erased = self._unwrap_found(theirs)
            if erased:
                raise ErasedError("erased", where=f"subject {erased[0]}")
            keys.update(won)
        return keys
