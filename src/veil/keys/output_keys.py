"""Keysets of one run output alone (``output.<run id>``): destroyed in bulk when outputs are
disposed of (`veil.lifecycle`), which makes every copy of those files unreadable."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.keys.keystore import now, purge_freed_space, secure_delete
from veil.keys.manager import _cache_drop
from veil.store.transactions import write_transaction

if TYPE_CHECKING:  # pragma: no cover
    from veil.keys.manager import KeyManager

__all__ = ["destroy_keysets"]


def destroy_keysets(km: KeyManager, names: Iterable[str], *,
                    before_commit: Callable[[sa.Connection], None] | None = None,
                    ) -> builtins.list[str]:
    """Destroy whole keysets in one transaction (no KEK needed): their wrapped blobs are
    removed (zeroed on SQLite, then purged from the files) and one ``destroy`` key event
    per keyset recorded; ``before_commit(conn)`` runs inside that transaction (a caller
    records its own progress with the destruction). Returns the names destroyed now;
    names already destroyed or absent are skipped (idempotent)."""
    keysets, key_events, _ = km._t
    wanted = builtins.list(dict.fromkeys(names))
    at = now()
    done: builtins.list[str] = []
    events: builtins.list[dict[str, Any]] = []
    with write_transaction(km.engine, "destroying keysets") as conn, secure_delete(conn):
        for i in range(0, len(wanted), 500):
            chunk = wanted[i:i + 500]
            q = sa.select(keysets.c.name, keysets.c.kek_id).where(
                keysets.c.name.in_(chunk), keysets.c.status != "DESTROYED")
            if conn.dialect.name != "sqlite":
                q = q.with_for_update()
            rows = conn.execute(q).all()
            if not rows:
                continue
            conn.execute(keysets.update().where(keysets.c.name.in_([r.name for r in rows]))
                         .values(status="DESTROYED", encrypted_keyset=None,
                                 version=keysets.c.version + 1, updated_at=at))
            batch = [{"time": at, "actor": km.actor[:128], "op": "destroy",
                      "keyset": r.name, "key_id": None, "kek_id": r.kek_id,
                      "detail": None} for r in rows]
            conn.execute(key_events.insert(), batch)
            events += batch
            done += [r.name for r in rows]
        if before_commit is not None:
            before_commit(conn)
    for name in done:
        _cache_drop(km._url, name)
    if done:
        purge_freed_space(km.engine, keysets.name)
        km._notify([{"time": at, "actor": km.actor, "op": "destroy",
                     "keyset": done[0] if len(done) == 1 else f"{len(done)} keysets",
                     "key_id": None, "kek_id": events[0]["kek_id"]}])
    return done
