"""Key epochs: subject keys wrapped under an epoch key that rotates, so backups can expire.

    KEK ──> epoch key (one per epoch; sealed in keys/epochs/, NOT in the database)
              └── subject keys (rows of ``subject_keys``, wrapped under the current epoch)

Why: erasing a subject deletes their wrapped key from the live store, but a database backup
taken before the erasure still holds it. Were subject keys wrapped under the KEK alone, that
backup plus the KEK would decrypt the subject's values for as long as the backup exists. Here a
backup holds them wrapped under an epoch key that lives outside the database; `rotate` makes a
new epoch, rewraps every live subject key under it and retires the old one, and once the
policy's backup retention has passed since an epoch's retirement (no backup still in retention
needs it) its key file is destroyed. From then on every backup taken while it was current is
unreadable for erased subjects, and restoring such a backup gives back only the keys that are
still live (they were rewrapped).

This holds for copies of the database. A copy of ``keys/epochs/`` holds the epoch keys it
copied: keep that folder out of database backups; docs/crypto.md says so. The epoch files are
sealed secrets (`veil.keys.epoch_files`), so `veil keys rewrap` moves them to a new KEK.

``KeyEpochs`` is the lifecycle (first epoch, rotation, destruction, listing), `EpochKeyring`
the `veil.kek.providers.KEK`-shaped object `StoreSubjectKeys` wraps with (unwrapped epoch keys
are cached per process, so bulk encryption pays one file read and one KEK unwrap per epoch),
and `backup_horizon` the date an erasure certificate states.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.errors import CryptoError, KeyMissingError, WrongKeyError
from veil.kek.providers import KEK
from veil.keys import epoch_files
from veil.keys.keystore import (
    join_wrapped,
    purge_freed_space,
    record_event,
    secure_delete,
    split_wrapped,
)
from veil.keys.subject_keys import subject_wrap_aad
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.duration import Duration
    from veil.policy.model import Policy

__all__ = [
    "BackupHorizon",
    "Epoch",
    "EpochKeyring",
    "EpochRotation",
    "EpochSchedule",
    "KeyEpochs",
    "backup_horizon",
    "key_check",
]

_CHUNK = 500
_LOCK_ID = 0x7665696C_65706F63  # "veilepoc": PostgreSQL advisory lock of epoch changes
_NONCE = 12
#: (root, epoch, kek id, key check, file signature) -> key: a rewritten file (resealed under
#: another KEK, replaced) is read again, so the cache never answers for a KEK the file refuses.
_KEYS: dict[tuple[Any, ...], AESGCM] = {}
_KEYS_LOCK = threading.Lock()


def key_check(key: bytes) -> str:
    """A check value naming an epoch key without revealing it (HMAC of a fixed label)."""
    return hmac.new(key, b"veil.epoch.key-check.v1", hashlib.sha256).hexdigest()[:32]


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    t = _utc(t)
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _table() -> sa.Table:
    from veil.store.schema import key_epochs

    return key_epochs


def _subjects() -> sa.Table:
    from veil.store.schema import subject_keys

    return subject_keys


# --------------------------------------------------------------------------------------------
# records


@dataclass(frozen=True)
class Epoch:
    """One key epoch, described without its key."""

    id: int
    created_at: datetime
    retired_at: datetime | None
    destroyed_at: datetime | None
    key_check: str

    @property
    def status(self) -> str:
        if self.destroyed_at is not None:
            return "destroyed"
        return "retired" if self.retired_at is not None else "current"

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.id, "status": self.status, "created_at": _iso(self.created_at),
                "retired_at": _iso(self.retired_at), "destroyed_at": _iso(self.destroyed_at)}


def _epoch(row: Any) -> Epoch:
    return Epoch(row.id, _utc(row.created_at), _utc(row.retired_at),  # type: ignore[arg-type]
                 _utc(row.destroyed_at), row.key_check)


@dataclass(frozen=True)
class EpochSchedule:
    """The policy's ``keys:`` settings: how often the epoch rotates, how long backups live.

    None means "not set": without ``rotation`` an epoch is retired only by an explicit rotation;
    without ``retention`` a retired epoch is never destroyed (backups never expire)."""

    rotation: Duration | None = None
    retention: Duration | None = None
    rotation_text: str | None = None
    retention_text: str | None = None

    @classmethod
    def from_policy(cls, policy: Policy | None) -> EpochSchedule:
        keys = getattr(policy, "keys", None)
        if keys is None:
            return cls()
        return cls(keys.rotation_period, keys.retention_period, keys.epoch_rotation,
                   keys.backup_retention)

    def retire_due(self, epoch: Epoch) -> datetime | None:
        """When ``epoch`` is due to retire (None: no rotation period)."""
        return None if self.rotation is None else self.rotation.after(epoch.created_at)

    def destroy_due(self, epoch: Epoch) -> datetime | None:
        """When the retired ``epoch`` may be destroyed (None: not retired, or no retention)."""
        if epoch.retired_at is None or self.retention is None:
            return None
        return self.retention.after(epoch.retired_at)

    def to_dict(self) -> dict[str, str | None]:
        return {"epoch_rotation": self.rotation_text, "backup_retention": self.retention_text}


@dataclass(frozen=True)
class EpochRotation:
    """What one `KeyEpochs.rotate` did."""

    rotated: bool
    current: int
    retired: list[int] = field(default_factory=list)
    subject_keys: int = 0  # live subject keys rewrapped under the new epoch
    destroyed: list[int] = field(default_factory=list)
    next_due: datetime | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"rotated": self.rotated, "current": self.current, "retired": self.retired,
                "subject_keys": self.subject_keys, "destroyed": self.destroyed,
                "next_due": _iso(self.next_due), "reason": self.reason}


# --------------------------------------------------------------------------------------------
# the keyring subject keys are wrapped with


class EpochKeyring:
    """Wraps new subject keys under the current epoch, unwraps under the epoch a key names.

    Blobs are `veil.keys.keystore.join_wrapped` forms: epoch 0 is a key an older version
    wrapped directly under the KEK. Associated data binds the epoch id as well as the subject.
    """

    def __init__(self, epochs: KeyEpochs) -> None:
        self.epochs = epochs

    @property
    def kek_id(self) -> str:
        return f"epoch:{self.epochs.current_id()}"

    @staticmethod
    def _aad(epoch: int, aad: bytes) -> bytes:
        return b"veil.epoch-wrap.v1\x00" + epoch.to_bytes(4, "big") + aad

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        epoch = self.epochs.current_id()
        nonce = os.urandom(_NONCE)
        sealed = self.epochs.key(epoch).encrypt(nonce, plaintext, self._aad(epoch, aad))
        return join_wrapped(epoch, nonce + sealed)

    def wrap_many(self, plaintexts: Sequence[bytes], aads: Sequence[bytes]) -> list[bytes]:
        """`wrap` of many keys under one look-up of the current epoch (a batch's new subject
        keys: the per-key look-ups and nonce reads cost more than the encryption)."""
        epoch = self.epochs.current_id()
        enc = self.epochs.key(epoch).encrypt
        head = int(epoch).to_bytes(4, "big")
        pool = os.urandom(_NONCE * len(plaintexts))
        out = []
        for i, (p, a) in enumerate(zip(plaintexts, aads, strict=True)):
            nonce = pool[_NONCE * i : _NONCE * i + _NONCE]
            out.append(head + nonce + enc(nonce, p, self._aad(epoch, a)))
        return out

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        epoch, blob = split_wrapped(ciphertext)
        if epoch is None:
            return self.epochs.kek.unwrap(blob, aad)
        try:
            return self.epochs.key(epoch).decrypt(blob[:_NONCE], blob[_NONCE:],
                                                  self._aad(epoch, aad))
        except (InvalidTag, ValueError):
            raise WrongKeyError(f"key epoch {epoch} cannot unwrap this subject key (damaged, "
                                "or moved from another subject)") from None

    def refresh(self) -> None:
        """Look at the store's epochs again (after a rotation or destruction elsewhere)."""
        self.epochs.refresh()


# --------------------------------------------------------------------------------------------
# the lifecycle


class KeyEpochs:
    """The key epochs of one workspace (its store and its ``keys/epochs/`` folder).

    ``kek`` is the KEK or a callable that opens it on first need (listing needs none);
    ``notify`` gets the key events rows after their transaction commits.
    """

    def __init__(self, root: Path, engine: sa.Engine, kek: KEK | Callable[[], KEK] | None,
                 *, actor: str = "veil", namespace: str = "veil",
                 notify: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self.root = Path(root)
        self.engine = engine
        self._kek = kek
        self.actor = actor
        self.namespace = namespace
        self.notify = notify
        self._rows: dict[int, Epoch] = {}
        self._current: int | None = None
        self._ready: dict[int, AESGCM] = {}  # this object's epoch keys, checked once
        self._lock = threading.RLock()

    # reading (no KEK) -----------------------------------------------------------------------

    @property
    def kek(self) -> KEK:
        if self._kek is None:
            raise KeyMissingError("this operation needs the workspace's KEK")
        if callable(self._kek) and not hasattr(self._kek, "unwrap"):
            self._kek = self._kek()
        return self._kek  # type: ignore[return-value]

    def history(self) -> list[Epoch]:
        """Every epoch, oldest first."""
        t = _table()
        with read_connection(self.engine, "reading key epochs") as conn:
            return [_epoch(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]

    def refresh(self) -> None:
        epochs = self.history()
        with self._lock:
            self._rows = {e.id: e for e in epochs}
            cur = [e.id for e in epochs if e.status == "current"]
            self._current = cur[-1] if cur else None
            for e in epochs:
                if e.status == "destroyed":
                    self._ready.pop(e.id, None)
                    _forget(self.root, e.id)

    def live_keys(self) -> dict[int | None, int]:
        """Live subject keys per wrapping epoch (None: directly under the KEK)."""
        t = _subjects()
        q = (sa.select(t.c.epoch, sa.func.count()).where(t.c.wrapped_key.is_not(None))
             .group_by(t.c.epoch))
        with read_connection(self.engine, "counting subject keys") as conn:
            return {e: int(n) for e, n in conn.execute(q)}

    # keys -----------------------------------------------------------------------------------

    def current_id(self) -> int:
        with self._lock:
            if self._current is None:
                self.ensure()
            assert self._current is not None
            return self._current

    def key(self, epoch: int) -> AESGCM:
        """Epoch ``epoch``'s key, from this process's cache or its sealed file."""
        ready = self._ready.get(epoch)
        if ready is not None:
            return ready
        row = self._rows.get(epoch)
        if row is None:
            self.refresh()
            row = self._rows.get(epoch)
        if row is None:
            raise KeyMissingError(f"no key epoch {epoch} in this store")
        if row.destroyed_at is not None:
            raise KeyMissingError(
                f"key epoch {epoch} was destroyed on {_iso(row.destroyed_at)} (its backup "
                "retention had passed): subject keys wrapped under it cannot be opened")
        kek = self.kek
        ck = self._cache_key(epoch, kek, row.key_check)
        with _KEYS_LOCK:
            aes = _KEYS.get(ck) if ck is not None else None
        if aes is None:
            aes = AESGCM(self._raw_key(row))  # a missing file raises here
            if ck is not None:
                with _KEYS_LOCK:
                    _KEYS[ck] = aes
        self._ready[epoch] = aes
        return aes

    def _cache_key(self, epoch: int, kek: KEK, check: str) -> tuple[Any, ...] | None:
        try:
            st = epoch_files.epoch_path(self.root, epoch).stat()
        except FileNotFoundError:
            return None  # reading it says what is wrong
        return (str(self.root.resolve()), epoch, kek.kek_id, check, st.st_ino, st.st_mtime_ns,
                st.st_size)

    def keyring(self) -> EpochKeyring:
        """The wrapping object for `veil.keys.keystore.StoreSubjectKeys` (makes the first
        epoch, and moves keys stored directly under the KEK into it, if there is none)."""
        self.ensure()
        return EpochKeyring(self)

    # changes --------------------------------------------------------------------------------

    def _locked(self, conn: sa.Connection) -> Epoch | None:
        """Take the epochs lock (SQLite: the write transaction already has it) and return the
        current epoch, its row held against concurrent writers of subject keys."""
        t = _table()
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_ID})
        q = sa.select(t).where(t.c.retired_at.is_(None)).order_by(t.c.id.desc()).limit(1)
        if conn.dialect.name != "sqlite":
            q = q.with_for_update()
        row = conn.execute(q).first()
        return None if row is None else _epoch(row)

    def _new_epoch(self, conn: sa.Connection, at: datetime) -> tuple[int, bytes]:
        """Make the next epoch: its sealed file first, then its row (same transaction as the
        caller's rewrap: if that fails, the file is an orphan no key depends on)."""
        t = _table()
        last = conn.execute(sa.select(sa.func.max(t.c.id))).scalar() or 0
        new_id = max([last, *epoch_files.epoch_file_ids(self.root)]) + 1
        key = secrets.token_bytes(32)
        epoch_files.write_epoch_key(self.root, new_id, key, self.kek)
        conn.execute(t.insert().values(id=new_id, created_at=at, key_check=key_check(key)))
        ck = self._cache_key(new_id, self.kek, key_check(key))
        if ck is not None:
            with _KEYS_LOCK:
                _KEYS[ck] = AESGCM(key)
        return new_id, key

    def _rewrap(self, conn: sa.Connection, target: int, key: bytes,
                only: int | None = None) -> int:
        """Rewrap live subject keys (all not under ``target``, or those under ``only``) under
        epoch ``target``, inside ``conn``'s transaction."""
        t = _subjects()
        ring = EpochKeyring(self)
        aes = AESGCM(key)
        cond = [t.c.wrapped_key.is_not(None)]
        if only is not None:
            cond.append(t.c.epoch == only)
        else:
            cond.append(sa.or_(t.c.epoch.is_(None), t.c.epoch != target))
        n, last = 0, ""
        while True:
            rows = conn.execute(sa.select(t.c.subject, t.c.wrapped_key, t.c.kek_id, t.c.epoch)
                                .where(t.c.subject > last, *cond).order_by(t.c.subject)
                                .limit(_CHUNK)).all()
            if not rows:
                return n
            for s, w, kid, epoch in rows:
                if epoch is None and kid != self.kek.kek_id:
                    raise WrongKeyError(f"a subject key is wrapped under KEK {kid}, not the "
                                        f"workspace's KEK {self.kek.kek_id}",
                                        where=f"subject {s}")
                aad = subject_wrap_aad(self.namespace, s)
                plain = ring.unwrap(join_wrapped(epoch, bytes(w)), aad)
                nonce = os.urandom(_NONCE)
                blob = nonce + aes.encrypt(nonce, plain, EpochKeyring._aad(target, aad))
                conn.execute(t.update().where(t.c.subject == s).values(
                    wrapped_key=blob, epoch=target, kek_id=None))
                n += 1
            last = rows[-1][0]

    def ensure(self, now: datetime | None = None) -> Epoch:
        """The current epoch; the first one is made (and keys stored directly under the KEK
        are rewrapped into it) when there is none."""
        self.refresh()
        with self._lock:
            if self._current is not None:
                return self._rows[self._current]
        at = now or datetime.now(UTC)
        _ = self.kek  # open it (maybe asking for the passphrase) before taking the write lock
        events = []
        with write_transaction(self.engine, "making the first key epoch") as conn, \
                secure_delete(conn):
            if self._locked(conn) is None:
                new_id, key = self._new_epoch(conn, at)
                n = self._rewrap(conn, new_id, key)
                events.append(record_event(conn, self.actor, "epoch-create", kek_id=self.kek.kek_id,
                                           detail={"epoch": new_id, "subject_keys": n}, at=at))
        self._done(events)
        self.refresh()
        with self._lock:
            assert self._current is not None
            return self._rows[self._current]

    def rotate(self, schedule: EpochSchedule, *, now: datetime | None = None,
               force: bool = False) -> EpochRotation:
        """Make a new epoch when the current one is due (``force``: now), rewrap every live
        subject key under it and retire the old one, all in one transaction (a failure
        leaves the old epoch current and every key as it was); then destroy the retired
        epochs whose backup retention has passed. Running it again changes nothing more.

        ``now`` is the clock (tests simulate months with it). Without a rotation period the
        epoch rotates on every call; without a retention nothing is destroyed."""
        at = now or datetime.now(UTC)
        self.refresh()
        first = self._current is None
        cur = self.ensure(at)
        due = schedule.retire_due(cur)
        rotated, n = False, 0
        retired: list[int] = []
        events: list[dict[str, Any]] = []
        new_id = cur.id
        reason = (f"epoch {cur.id} is the first epoch" if first
                  else f"epoch {cur.id} is not due before {_iso(due)}")
        if force or (not first and (due is None or due <= at)):
            with write_transaction(self.engine, "rotating the key epoch") as conn, \
                    secure_delete(conn):
                locked = self._locked(conn)
                if locked is not None and locked.id == cur.id:
                    new_id, key = self._new_epoch(conn, at)
                    n = self._rewrap(conn, new_id, key)
                    t = _table()
                    retired = list(conn.execute(sa.select(t.c.id).where(
                        t.c.retired_at.is_(None), t.c.id != new_id)).scalars())
                    conn.execute(t.update().where(t.c.id.in_(retired)).values(retired_at=at))
                    events.append(record_event(
                        conn, self.actor, "epoch-rotate", kek_id=self.kek.kek_id, at=at,
                        detail={"epoch": new_id, "retired": retired, "subject_keys": n,
                                **schedule.to_dict()}))
                    rotated, reason = True, "forced" if force else "due"
                else:
                    new_id = locked.id if locked is not None else cur.id
                    reason = "rotated by another process meanwhile"
            if rotated:
                purge_freed_space(self.engine, _subjects().name)
        self._done(events)
        self.refresh()
        destroyed = self.destroy_expired(schedule, now=at)
        nxt = self._rows[new_id]
        return EpochRotation(rotated, new_id, retired, n, destroyed, schedule.retire_due(nxt),
                             reason)

    def destroy_expired(self, schedule: EpochSchedule, *, now: datetime | None = None,
                        ) -> list[int]:
        """Destroy every retired epoch whose retention has passed: rewrap any live key still
        under it (a straggler), mark it destroyed, then shred its file. Files of epochs already
        marked destroyed (a crash after the mark) go too."""
        at = now or datetime.now(UTC)
        done: list[int] = []
        for e in self.history():
            due = schedule.destroy_due(e)
            if (e.destroyed_at is None and due is not None and due <= at
                    and self._destroy(e.id, at)):
                done.append(e.id)
        self._sweep()
        self.refresh()
        return done

    def _destroy(self, epoch: int, at: datetime) -> bool:
        t = _table()
        events = []
        with write_transaction(self.engine, "destroying a key epoch") as conn, \
                secure_delete(conn):
            cur = self._locked(conn)
            row = conn.execute(sa.select(t).where(t.c.id == epoch)).first()
            if cur is None or row is None or row.destroyed_at is not None or row.retired_at is None:
                return False
            n = self._rewrap(conn, cur.id, self._raw_key(cur), only=epoch)
            conn.execute(t.update().where(t.c.id == epoch).values(destroyed_at=at))
            events.append(record_event(conn, self.actor, "epoch-destroy", at=at,
                                       detail={"epoch": epoch, "retired_at": _iso(row.retired_at),
                                               "stragglers_rewrapped": n}))
        epoch_files.shred_epoch_file(self.root, epoch)
        _forget(self.root, epoch)
        self._done(events)
        return True

    def _raw_key(self, epoch: Epoch) -> bytes:
        raw = epoch_files.read_epoch_key(self.root, epoch.id, self.kek)
        if not hmac.compare_digest(key_check(raw), epoch.key_check):
            raise CryptoError(f"the key file of epoch {epoch.id} holds another key than this "
                              "store's epoch (a file from another workspace?)",
                              where=str(epoch_files.epoch_path(self.root, epoch.id)))
        return raw

    def _sweep(self) -> None:
        """Shred the files of epochs the store marks destroyed (a crash between the mark and
        the deletion). Files without a row are left alone: a failed rotation's (no key
        depends on it) or a newer copy of this store's (a restored backup must not delete
        them)."""
        for e in self.history():
            if e.destroyed_at is not None:
                epoch_files.shred_epoch_file(self.root, e.id)

    def _done(self, events: list[dict[str, Any]]) -> None:
        if events and self.notify is not None:
            self.notify(events)

    def reseal_switch(self, old: KEK, new: KEK) -> EpochReseal:
        """What moves the epoch files to ``new`` inside a KEK rotation's transaction."""
        return EpochReseal(self.root, old, new)


class EpochReseal:
    """Seals every epoch file under the new KEK when called (just before the store's
    transaction commits), and puts the old files back on `undo` (it did not commit)."""

    def __init__(self, root: Path, old: KEK, new: KEK) -> None:
        self.root, self.old, self.new = root, old, new
        self.done: list[tuple[int, bytes]] = []

    def __call__(self) -> None:
        for i in sorted(epoch_files.epoch_file_ids(self.root)):
            key = epoch_files.read_epoch_key(self.root, i, self.old)
            epoch_files.write_epoch_key(self.root, i, key, self.new)
            self.done.append((i, key))

    def undo(self) -> None:
        for i, key in reversed(self.done):
            epoch_files.write_epoch_key(self.root, i, key, self.old)
        self.done.clear()


def _forget(root: Path, epoch: int) -> None:
    r = str(Path(root).resolve())
    with _KEYS_LOCK:
        for k in [k for k in _KEYS if k[0] == r and k[1] == epoch]:
            del _KEYS[k]


# --------------------------------------------------------------------------------------------
# what an erasure certificate can say about backups


@dataclass(frozen=True)
class BackupHorizon:
    """When backups taken before an erasure stop decrypting the erased subject's values.

    ``case``: ``no-key`` (the subject never had a key), ``kek`` (no epochs at the erasure: the
    key was wrapped under the KEK, backups stay readable with it), ``unscheduled`` (an epoch,
    but the policy sets no rotation or no retention), ``scheduled`` (``unreadable_after``)."""

    case: str
    erased_at: datetime | None = None
    epoch: int | None = None
    epoch_created_at: datetime | None = None
    retire_by: datetime | None = None
    unreadable_after: datetime | None = None
    overdue: bool = False
    schedule: EpochSchedule = field(default_factory=EpochSchedule)

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "erased_at": _iso(self.erased_at), "epoch": self.epoch,
                "epoch_created_at": _iso(self.epoch_created_at),
                "epoch_retires_by": _iso(self.retire_by),
                "unreadable_after": _iso(self.unreadable_after),
                "rotation_overdue": self.overdue, **self.schedule.to_dict()}


def horizon(epoch: Epoch | None, schedule: EpochSchedule, erased_at: datetime) -> BackupHorizon:
    """The backup horizon of an erasure at ``erased_at`` while ``epoch`` was current.

    Backups taken before the erasure hold the subject key wrapped under ``epoch`` or an older
    one; ``epoch`` retires at its scheduled rotation (its actual retirement if that is already
    known; the erasure time if the rotation was overdue) and is destroyed once the backup
    retention has passed after that."""
    erased_at = _utc(erased_at)  # type: ignore[assignment]
    if epoch is None:
        return BackupHorizon("kek", erased_at, schedule=schedule)
    retire = epoch.retired_at or schedule.retire_due(epoch)
    if retire is None or schedule.retention is None:
        return BackupHorizon("unscheduled", erased_at, epoch.id, epoch.created_at,
                             retire_by=retire, schedule=schedule)
    overdue = epoch.retired_at is None and retire < erased_at
    effective = max(retire, erased_at)
    return BackupHorizon("scheduled", erased_at, epoch.id, epoch.created_at, effective,
                         schedule.retention.after(effective), overdue, schedule)


def backup_horizon(engine: sa.Engine, schedule: EpochSchedule,
                   erased_at: datetime | None) -> BackupHorizon:
    """The horizon of an erasure recorded at ``erased_at`` (None: the subject had no key),
    from the epoch that was current then (read from the store; no KEK needed)."""
    if erased_at is None:
        return BackupHorizon("no-key", schedule=schedule)
    t = _table()
    when = _utc(erased_at)
    with read_connection(engine, "reading key epochs") as conn:
        rows = [_epoch(r) for r in conn.execute(sa.select(t).order_by(t.c.id))]
    current = [e for e in rows if e.created_at <= when]  # type: ignore[operator]
    return horizon(current[-1] if current else None, schedule, when)  # type: ignore[arg-type]
