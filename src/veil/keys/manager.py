"""The workspace's key hierarchy: a KEK from ``veil.toml``, wrapped keysets and subject keys in
the store, every operation recorded.

    KEK (passphrase-protected key file, or an environment secret; a KMS later)
     ├── keysets (Tink format, wrapped under the KEK; one row per name in ``keysets``)
     └── subject keys (one random key per data subject; rows of ``subject_keys``)

Configuration (``veil.toml``; ``veil keys init`` writes it)::

    [keys]
    kek = "passphrase-file"          # or "env"
    path = "keys/kek.json"           # passphrase-file: the key file, relative to the workspace
    # variable = "VEIL_KEK"          # env: the variable holding base64 of 32 random bytes
    # kdf = "argon2id"               # passphrase-file creation: argon2id (default) or scrypt
    # kdf_params = {iterations = 3, lanes = 4, memory_cost_kib = 65536}

The passphrase comes from ``VEIL_KEK_PASSPHRASE``, else a prompt on a terminal. Without a
``[keys]`` table the KEK is ``env`` when ``VEIL_KEK`` is set, else ``keys/kek.json`` if it exists.

`KeyManager(workspace)` does ``init`` / ``list`` / ``rotate`` / ``rewrap`` / ``disable`` /
``enable`` / ``destroy`` and is a `veil.crypto.aead.KeyProvider` (``keyset(name)``); unwrapped
keysets and opened KEKs are cached per process (a keyset's cache entry is checked against its
version in the store, so another process's rotation is seen on the next call).
"""

from __future__ import annotations

import builtins
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa

from veil._actor import default_actor
from veil.crypto import tink_proto as pb
from veil.crypto.errors import CryptoError, KeyMissingError, KeysetError, WrongKeyError
from veil.crypto.keyset import Keyset, Kind, decrypt_keyset, encrypt_keyset
from veil.kek.config import (  # noqa: F401 - re-exported for callers of the key manager
    DEFAULT_KEK_PATH,
    DEFAULT_KEK_VAR,
    PASSPHRASE_ENV,
    KeysConfig,
    Passphrase,
    create_kek,
    load_kek,
    write_keys_config,
)
from veil.kek.providers import KEK
from veil.keys.epochs import EpochRotation, EpochSchedule, KeyEpochs
from veil.keys.keystore import (
    SqlSubjectKeyStore,
    StoreSubjectKeys,
    now,
    purge_freed_space,
    record_event,
    secure_delete,
)
from veil.keys.subject_keys import SubjectKeys
from veil.store.transactions import read_connection, write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = [
    "DEFAULT_KEK_PATH",
    "OUTPUT_KEYSET",
    "OUTPUT_KEYSET_PREFIX",
    "PASSPHRASE_ENV",
    "KeyManager",
    "KeysConfig",
    "KeysetInfo",
    "keyset_associated_data",
    "output_keyset_name",
    "write_keys_config",
]

#: The streaming keyset run outputs and `veil encrypt` use unless told otherwise.
OUTPUT_KEYSET = "output"
#: Keysets of one run output alone: ``output.<run id>`` (`KeyManager.output_keyset`).
OUTPUT_KEYSET_PREFIX = "output."
SUBJECT_NAMESPACE = "veil"
KINDS: tuple[Kind, ...] = ("streaming", "aead", "daead")
_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
Status = Literal["ENABLED", "DISABLED", "DESTROYED"]


def keyset_associated_data(name: str) -> bytes:
    """What a stored keyset is bound to: its wrapped blob cannot be moved to another name."""
    return b"veil:keyset:" + name.encode("utf-8")


def output_keyset_name(run_id: str) -> str:
    """The name of the keyset that encrypts run ``run_id``'s output alone."""
    return OUTPUT_KEYSET_PREFIX + run_id


def _destroyed(row: Any) -> KeyMissingError:
    if row.name.startswith(OUTPUT_KEYSET_PREFIX):
        return KeyMissingError(
            f"keyset {row.name!r} was destroyed when its run output was disposed of "
            f"(retention, {_iso(row.updated_at)}): no copy of that output can be decrypted")
    return KeyMissingError(f"keyset {row.name!r} was destroyed")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise KeysetError(
            f"invalid keyset name {name!r} (letters, digits, _ . -; at most 128 characters)"
        )
    return name


# --------------------------------------------------------------------------------------------
# keyset descriptions


@dataclass(frozen=True)
class KeysetInfo:
    """A stored keyset, described without secrets."""

    name: str
    kind: str
    purpose: str
    status: Status
    kek_id: str | None
    primary_key_id: int | None
    version: int
    created_at: datetime
    updated_at: datetime
    keys: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "purpose": self.purpose, "status": self.status,
            "kek_id": self.kek_id, "primary_key_id": self.primary_key_id, "version": self.version,
            "created_at": _iso(self.created_at), "updated_at": _iso(self.updated_at),
            "keys": self.keys,
        }


def _utc(t: datetime) -> datetime:
    """Times come back naive from SQLite (stored as UTC) and aware from PostgreSQL."""
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime | None) -> str | None:
    return None if t is None else _utc(t).isoformat().replace("+00:00", "Z")


_STATUS_NAME = {v: k for k, v in pb.STATUS.items()}
_PREFIX_NAME = {v: k for k, v in pb.PREFIX.items()}


def _keys_of(blob: bytes | None) -> list[dict[str, Any]]:
    """The cleartext KeysetInfo that Tink's EncryptedKeyset carries beside the ciphertext."""
    if blob is None:
        return []
    msg = pb.EncryptedKeyset()
    try:
        msg.ParseFromString(bytes(blob))
    except Exception:
        raise KeysetError("stored keyset is not an EncryptedKeyset (damaged store)") from None
    info = msg.keyset_info
    return [
        {
            "key_id": k.key_id,
            "status": _STATUS_NAME.get(k.status, str(k.status)),
            "primary": k.key_id == info.primary_key_id,
            "type_url": k.type_url,
            "output_prefix": _PREFIX_NAME.get(k.output_prefix_type, str(k.output_prefix_type)),
        }
        for k in info.key_info
    ]


def _info(row: Any) -> KeysetInfo:
    return KeysetInfo(
        name=row.name, kind=row.kind, purpose=row.purpose or "", status=row.status,
        kek_id=row.kek_id, primary_key_id=row.primary_key_id, version=row.version,
        created_at=_utc(row.created_at), updated_at=_utc(row.updated_at),
        keys=_keys_of(row.encrypted_keyset),
    )


_KEYSET_CACHE: OrderedDict[tuple[str, str], tuple[int, str, Keyset]] = OrderedDict()
_KEYSET_LOCK = threading.Lock()
_KEYSET_CACHE_SIZE = 256


def _cache_get(url: str, name: str, version: int, kek_id: str) -> Keyset | None:
    with _KEYSET_LOCK:
        hit = _KEYSET_CACHE.get((url, name))
        if hit is not None and hit[0] == version and hit[1] == kek_id:
            _KEYSET_CACHE.move_to_end((url, name))
            return hit[2]
    return None


def _cache_put(url: str, name: str, version: int, kek_id: str, ks: Keyset) -> None:
    with _KEYSET_LOCK:
        _KEYSET_CACHE[(url, name)] = (version, kek_id, ks)
        _KEYSET_CACHE.move_to_end((url, name))
        while len(_KEYSET_CACHE) > _KEYSET_CACHE_SIZE:
            _KEYSET_CACHE.popitem(last=False)


def _cache_drop(url: str, name: str | None = None) -> None:
    with _KEYSET_LOCK:
        for k in [k for k in _KEYSET_CACHE if k[0] == url and (name is None or k[1] == name)]:
            del _KEYSET_CACHE[k]


# --------------------------------------------------------------------------------------------
# the manager


class KeyManager:
    """Keys of one workspace. Cheap to create; the KEK is opened on first need.

    ``kek`` overrides the configured KEK (tests, a KMS client); ``passphrase`` is the key file's
    passphrase, or a callable ``(confirm: bool) -> str`` asked when it is needed; ``on_event`` is
    called with each recorded key event after its transaction commits (e.g. to copy it into the
    audit log).
    """

    def __init__(
        self,
        workspace: Workspace,
        *,
        kek: KEK | None = None,
        passphrase: Passphrase = None,
        actor: str | None = None,
        on_event: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self._kek = kek
        self._passphrase = passphrase
        self.actor = default_actor(actor)
        self.on_event = on_event
        self._t = _tables()

    # infrastructure -------------------------------------------------------------------------

    @property
    def engine(self) -> sa.Engine:
        return self.workspace.engine

    @property
    def _url(self) -> str:
        return str(self.workspace.database_url)

    def config(self) -> KeysConfig | None:
        return KeysConfig.from_workspace(Path(self.workspace.root))

    @property
    def kek(self) -> KEK:
        """The workspace's KEK, opened on first use (may ask for the passphrase)."""
        if self._kek is None:
            cfg = self.config()
            if cfg is None:
                raise KeyMissingError(
                    "this workspace has no key-encryption key yet: run `veil keys init`"
                )
            self._kek = load_kek(cfg, self._passphrase)
        return self._kek

    def setup_kek(
        self,
        kek: Literal["passphrase-file", "env"] = "passphrase-file",
        *,
        path: str | Path = DEFAULT_KEK_PATH,
        variable: str = DEFAULT_KEK_VAR,
        kdf: str = "argon2id",
        kdf_params: dict[str, int] | None = None,
        config: KeysConfig | None = None,
    ) -> KEK:
        """Create the workspace's KEK and write ``[keys]`` into ``veil.toml`` (``config``: a
        ready configuration, e.g. an HSM or KMS key, instead of ``kek``/``path``/``variable``).

        Refused when a KEK is already configured (use `rewrap` to change it)."""
        root = Path(self.workspace.root)
        cur = self.config()
        if cur is not None and (cur.explicit or cur.kek == "passphrase-file"):
            raise CryptoError(
                f"this workspace already has a KEK ({cur.describe()}); "
                "`veil keys rewrap` changes it"
            )
        p = Path(path)
        cfg = config or KeysConfig(kek, path=p if p.is_absolute() else root / p,
                                   variable=variable, kdf=kdf, kdf_params=kdf_params)
        new = create_kek(cfg, self._passphrase)
        write_keys_config(root, cfg.toml_table(root))
        self._kek = new
        self._record("kek-create", kek_id=new.kek_id, detail={"provider": cfg.kek})
        return new

    def _record(self, op: str, **kw: Any) -> None:
        """Record one event in its own transaction (when no other write happens)."""
        with write_transaction(self.engine, "recording a key event") as conn:
            row = record_event(conn, self.actor, op, **kw)
        self._notify([row])

    def _notify(self, rows: list[dict[str, Any]]) -> None:
        if self.on_event is None:
            _audit_key_events(self.workspace, rows)
            return
        for r in rows:
            self.on_event({**r, "time": _iso(r["time"])})

    def _row(self, conn: sa.Connection, name: str, *, lock: bool = False) -> Any:
        keysets = self._t[0]
        q = sa.select(keysets).where(keysets.c.name == name)
        if lock and conn.dialect.name != "sqlite":
            q = q.with_for_update()
        row = conn.execute(q).first()
        if row is None:
            raise KeyMissingError(f"no keyset named {name!r} (`veil keys list` shows them)")
        return row

    def _check_kek(self, row: Any) -> KEK:
        kek = self.kek
        if row.kek_id != kek.kek_id:
            var = str(kek.kek_id).split(":")[1] if str(kek.kek_id).startswith("env:") else None
            hint = (f"{var} is not the secret these keys were made with: set that one again; "
                    f"a new random {var} in each process cannot open earlier keys"
                    if var and str(row.kek_id).startswith(f"env:{var}:")
                    else "wrong key file, or an unfinished `veil keys rewrap`")
            raise WrongKeyError(
                f"keyset {row.name!r} is wrapped under KEK {row.kek_id}, but the workspace's KEK "
                f"is {kek.kek_id} ({hint})"
            )
        return kek

    def _unwrap(self, row: Any) -> Keyset:
        if row.status == "DESTROYED" or row.encrypted_keyset is None:
            raise KeyMissingError(f"keyset {row.name!r} was destroyed")
        kek = self._check_kek(row)
        return decrypt_keyset(bytes(row.encrypted_keyset), kek,
                              keyset_associated_data(row.name))

    def _wrap(self, name: str, ks: Keyset) -> bytes:
        return encrypt_keyset(ks, self.kek, keyset_associated_data(name))

    # KeyProvider ----------------------------------------------------------------------------

    def keyset(self, name: str) -> Keyset:
        """The enabled keyset ``name`` (KeyProvider). Disabled or destroyed: `KeyMissingError`."""
        with read_connection(self.engine, "reading a keyset") as conn:
            row = self._row(conn, name)
        if row.status == "DISABLED":
            raise KeyMissingError(
                f"keyset {name!r} is disabled (`veil keys enable {name}` re-enables it)"
            )
        if row.status == "DESTROYED" or row.encrypted_keyset is None:
            raise _destroyed(row)
        self._check_kek(row)  # the cache serves only holders of the row's KEK
        hit = _cache_get(self._url, name, row.version, row.kek_id)
        if hit is not None:
            return hit
        ks = self._unwrap(row)
        _cache_put(self._url, name, row.version, row.kek_id, ks)
        return ks

    def ensure(self, name: str, kind: Kind = "streaming", purpose: str = "") -> Keyset:
        """The keyset ``name``, created (and recorded) first if the store has none."""
        if not self.exists(name):
            try:
                self.init(name, kind, purpose)
            except KeysetError:
                if not self.exists(name):  # not a lost creation race
                    raise
        return self.keyset(name)  # a disabled or destroyed keyset is not replaced

    # operations -----------------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        keysets = self._t[0]
        with read_connection(self.engine, "reading keysets") as conn:
            return conn.execute(
                sa.select(keysets.c.name).where(keysets.c.name == name)
            ).first() is not None

    def init(self, name: str, kind: Kind = "streaming", purpose: str = "",
             **params: int) -> KeysetInfo:
        """Create keyset ``name`` with one fresh key (``params``: see `Keyset.generate`)."""
        self._create(name, kind, purpose, **params)
        return self.info(name)

    def output_keyset(self, run_id: str) -> tuple[str, Keyset]:
        """A fresh streaming keyset of one run output alone (``output.<run id>``, one KEK
        wrap): destroying it (`destroy_many`) makes every copy of the file unreadable."""
        name = output_keyset_name(run_id)
        return name, self._create(name, "streaming", f"run output {run_id} (its own key)")

    def _create(self, name: str, kind: Kind, purpose: str, **params: int) -> Keyset:
        _check_name(name)
        if kind not in KINDS:
            raise KeysetError(f"unknown key kind {kind!r} ({', '.join(KINDS)})")
        ks = Keyset.generate(kind, **params)  # type: ignore[arg-type]
        kek = self.kek
        keysets = self._t[0]
        at = now()
        with write_transaction(self.engine, "creating a keyset") as conn:
            if conn.execute(sa.select(keysets.c.name).where(keysets.c.name == name)).first():
                raise KeysetError(f"keyset {name!r} already exists (`veil keys rotate` adds a key)")
            try:
                with conn.begin_nested():
                    conn.execute(keysets.insert().values(
                        name=name, kind=kind, purpose=purpose[:255], status="ENABLED",
                        encrypted_keyset=self._wrap(name, ks), kek_id=kek.kek_id,
                        primary_key_id=ks.primary_key_id, version=1, created_at=at,
                        updated_at=at))
            except sa.exc.IntegrityError:  # created by another process just now
                raise KeysetError(f"keyset {name!r} already exists") from None
            ev = record_event(conn, self.actor, "init", keyset=name, key_id=ks.primary_key_id,
                              kek_id=kek.kek_id, detail={"kind": kind, "purpose": purpose},
                              at=at)
        _cache_put(self._url, name, 1, kek.kek_id, ks)  # its creator need not unwrap it again
        self._notify([ev])
        return ks

    def list(self) -> builtins.list[KeysetInfo]:
        """All keysets, by name (no KEK needed: the key list is stored in clear beside the
        wrapped keyset, as in Tink's EncryptedKeyset)."""
        keysets = self._t[0]
        with read_connection(self.engine, "listing keysets") as conn:
            rows = conn.execute(sa.select(keysets).order_by(keysets.c.name)).all()
        return [_info(r) for r in rows]

    def info(self, name: str) -> KeysetInfo:
        with read_connection(self.engine, "reading a keyset") as conn:
            return _info(self._row(conn, name))

    def _modify(self, name: str, op: str, change: Callable[[Keyset], Keyset],
                key_id: Callable[[Keyset], int | None], detail: dict[str, Any] | None = None,
                ) -> KeysetInfo:
        """Read-modify-write of one keyset under a write lock, with its event."""
        keysets = self._t[0]
        _ = self.kek  # open it (maybe asking for the passphrase) before taking the write lock
        with write_transaction(self.engine, f"{op} keyset") as conn:
            row = self._row(conn, name, lock=True)
            if row.status == "DESTROYED":
                raise KeyMissingError(f"keyset {name!r} was destroyed")
            new = change(self._unwrap(row))
            at = now()
            with secure_delete(conn):  # the previous blob's bytes are zeroed on SQLite
                conn.execute(keysets.update().where(keysets.c.name == name).values(
                    encrypted_keyset=self._wrap(name, new), kek_id=self.kek.kek_id,
                    primary_key_id=new.primary_key_id, version=row.version + 1, updated_at=at))
            ev = record_event(conn, self.actor, op, keyset=name, key_id=key_id(new),
                              kek_id=self.kek.kek_id, detail=detail, at=at)
        _cache_drop(self._url, name)
        self._notify([ev])
        return self.info(name)

    def rotate(self, name: str) -> KeysetInfo:
        """Add a fresh key and make it the primary; older keys keep decrypting."""
        return self._modify(name, "rotate", lambda ks: ks.rotate(), lambda ks: ks.primary_key_id)

    def _set_status(self, name: str, status: Status, key_id: int | None) -> KeysetInfo:
        op = {"ENABLED": "enable", "DISABLED": "disable", "DESTROYED": "destroy"}[status]
        if key_id is not None:
            def change(ks: Keyset) -> Keyset:
                if key_id == ks.primary_key_id and status != "ENABLED":
                    raise KeysetError(
                        f"key {key_id} is the primary of {name!r}: rotate first, then "
                        f"{op} the old key"
                    )
                return ks.with_status(key_id, status)

            return self._modify(name, op, change, lambda ks: key_id)
        # the whole keyset
        keysets = self._t[0]
        with write_transaction(self.engine, f"{op} keyset") as conn:
            row = self._row(conn, name, lock=True)
            if row.status == "DESTROYED":
                raise KeyMissingError(f"keyset {name!r} was destroyed")
            at = now()
            values: dict[str, Any] = {"status": status, "version": row.version + 1,
                                      "updated_at": at}
            if status == "DESTROYED":
                values.update(encrypted_keyset=None)
            with secure_delete(conn):
                conn.execute(keysets.update().where(keysets.c.name == name).values(**values))
            ev = record_event(conn, self.actor, op, keyset=name, kek_id=row.kek_id, at=at)
        _cache_drop(self._url, name)
        if status == "DESTROYED":
            purge_freed_space(self.engine, keysets.name)
        self._notify([ev])
        return self.info(name)

    def destroy_many(self, names: Iterable[str], *,
                     before_commit: Callable[[sa.Connection], None] | None = None,
                     ) -> builtins.list[str]:
        """Destroy keysets in one transaction (`veil.keys.output_keys.destroy_keysets`)."""
        from veil.keys.output_keys import destroy_keysets

        return destroy_keysets(self, names, before_commit=before_commit)

    def disable(self, name: str, key_id: int | None = None) -> KeysetInfo:
        """Disable one key (it stops decrypting) or the whole keyset (reversible)."""
        return self._set_status(name, "DISABLED", key_id)

    def enable(self, name: str, key_id: int | None = None) -> KeysetInfo:
        return self._set_status(name, "ENABLED", key_id)

    def destroy(self, name: str, key_id: int | None = None) -> KeysetInfo:
        """Destroy one key's material, or the whole keyset: irreversible; whatever was encrypted
        under it is unreadable from then on."""
        return self._set_status(name, "DESTROYED", key_id)

    def rewrap(self, new_kek: KEK, *,
               before_commit: Callable[[], None] | None = None) -> dict[str, int]:
        """KEK rotation: re-wrap every keyset and subject key under ``new_kek`` in one
        transaction, without touching any data encrypted under them. Afterwards this manager
        uses ``new_kek`` (the caller points ``veil.toml`` at it: `veil keys rewrap` does, in
        ``before_commit``, called inside the transaction: if it raises, nothing is committed)."""
        old = self.kek
        if new_kek.kek_id == old.kek_id:
            raise CryptoError("the new KEK is the current KEK")
        if before_commit is None:  # called directly: the epoch keys (keys/epochs/) move too
            switch = self.epochs(kek=old).reseal_switch(old, new_kek)
            try:
                return self.rewrap(new_kek, before_commit=switch)
            except BaseException:
                switch.undo()
                raise
        keysets, _, _ = self._t
        sk_store = SqlSubjectKeyStore(self.engine, old.kek_id)
        aad_for = SubjectKeys(old, namespace=SUBJECT_NAMESPACE)._wrap_aad
        events = []
        n_keysets = 0
        with write_transaction(self.engine, "re-wrapping keys") as conn:
            q = sa.select(keysets).order_by(keysets.c.name)
            if conn.dialect.name != "sqlite":
                q = q.with_for_update()
            with secure_delete(conn):
                for row in conn.execute(q).all():
                    if row.encrypted_keyset is None or row.kek_id == new_kek.kek_id:
                        continue
                    ks = self._unwrap(row)
                    at = now()
                    conn.execute(keysets.update().where(keysets.c.name == row.name).values(
                        encrypted_keyset=encrypt_keyset(ks, new_kek,
                                                        keyset_associated_data(row.name)),
                        kek_id=new_kek.kek_id, version=row.version + 1, updated_at=at))
                    events.append(record_event(conn, self.actor, "rewrap", keyset=row.name,
                                               kek_id=new_kek.kek_id,
                                               detail={"from_kek": old.kek_id}, at=at))
                    n_keysets += 1
                n_subjects = sk_store.rewrap_all(conn, old, new_kek, aad_for)
            events.append(record_event(
                conn, self.actor, "kek-rotate", kek_id=new_kek.kek_id,
                detail={"from_kek": old.kek_id, "keysets": n_keysets,
                        "subject_keys": n_subjects}))
            if before_commit is not None:
                before_commit()
        self._kek = new_kek
        _cache_drop(self._url)
        purge_freed_space(self.engine, keysets.name)
        self._notify(events)
        return {"keysets": n_keysets, "subject_keys": n_subjects}

    def export(self, name: str) -> Keyset:
        """The keyset in clear, for handing to another Tink implementation (recorded as an
        ``export`` event). Whoever holds the export can decrypt everything under it."""
        ks = self.keyset(name)
        self._record("export", keyset=name, key_id=ks.primary_key_id, kek_id=self.kek.kek_id,
                     detail={"keys": len(ks.entries)})
        return ks

    def events(self, keyset: str | None = None,
               limit: int | None = 100) -> builtins.list[dict[str, Any]]:
        """Recorded key operations, newest first (`veil.keys.key_events.read_key_events`)."""
        from veil.keys.key_events import read_key_events

        return read_key_events(self.engine, keyset, limit)

    # subject keys ---------------------------------------------------------------------------

    def subject_keys(self, *, cache_size: int = 4096,
                     sync_interval: float | None = 1.0) -> StoreSubjectKeys:
        """Per-subject keys in this workspace's store (crypto-shredding), wrapped under the
        current key epoch (the first use makes the first epoch)."""
        kek = self.kek
        store = SqlSubjectKeyStore(self.engine, kek.kek_id)
        return StoreSubjectKeys(self.epochs().keyring(), store, cache_size=cache_size,
                                namespace=SUBJECT_NAMESPACE, sync_interval=sync_interval)

    def epochs(self, *, kek: KEK | None = None) -> KeyEpochs:
        """The workspace's key epochs (listing needs no KEK; the KEK opens on first need)."""
        return KeyEpochs(Path(self.workspace.root), self.engine,
                         kek if kek is not None else (lambda: self.kek), actor=self.actor,
                         namespace=SUBJECT_NAMESPACE, notify=self._notify)

    def rotate_epoch(self, schedule: EpochSchedule | None = None, *,
                     now: datetime | None = None, force: bool = False) -> EpochRotation:
        """`veil keys rotate-epoch`: a new epoch when due (or ``force``), then the retired
        epochs past the backup retention destroyed (`veil.keys.epochs.KeyEpochs.rotate`)."""
        return self.epochs().rotate(schedule or EpochSchedule(), now=now, force=force)

    def shred_subjects(self, subjects: Iterable[str]) -> set[str]:
        """Erase subjects' keys (no KEK needed) and record one event; returns those whose live
        key was destroyed. Caches in other processes notice within their sync interval."""
        subs = builtins.list(dict.fromkeys(subjects))
        store = SqlSubjectKeyStore(self.engine, kek_id="")
        destroyed = store.erase_many(subs)
        self._record("subject-shred",
                     detail={"subjects": len(subs), "keys_destroyed": len(destroyed)})
        return destroyed


def _tables() -> tuple[sa.Table, sa.Table, sa.Table]:
    from veil.store.schema import key_events, keysets, subject_keys

    return keysets, key_events, subject_keys


def _audit_key_events(workspace: Workspace, rows: list[dict[str, Any]]) -> None:
    """Every key operation also goes to the tamper-evident audit log (no key material)."""
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog

    events = []
    for r in rows:
        t = r["time"]
        if isinstance(t, str):
            t = datetime.fromisoformat(t)
        if t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        events.append(AuditEvent(
            time=t, actor=str(r["actor"]), action=f"key.{r['op']}", purpose="key-management",
            legal_basis="Art. 32 security of processing", outcome="success",
            details={"keyset": r.get("keyset"), "key_id": r.get("key_id"),
                     "kek_id": r.get("kek_id")}))
    if events:
        AuditLog(workspace).append(events)
