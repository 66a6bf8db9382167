"""Browser sessions of the DPO's pages, and one-time login links, stored in the workspace's store.

Why a table and not a signed cookie alone: a signed cookie cannot be taken back. With a row per
session, logout and expiry end the session on the server at once, a revoked API key ends every
session opened with it (the lookup joins ``api_keys``), and several ``veil serve`` processes over
one store share the sessions. The cookie holds only a random id (256 bits); the row is keyed by
its SHA-256, so a copy of the database gives no cookie that works. A new id is made at every
login (no session fixation: an id the server did not just make is never adopted).

Expiry: a session ends :data:`IDLE` after its last request, and at the latest :data:`LIFETIME`
after login. A one-time link is spent by a single ``UPDATE ... WHERE used_us IS NULL``, so two
browsers racing for it cannot both get a session.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from veil.errors import StoreError
from veil.store.schema import api_keys, ui_links, ui_sessions

LIFETIME = 8 * 3600  # seconds: a session ends this long after login, whatever its use
IDLE = 30 * 60  # seconds: ... or this long after its last request
LINK_LIFETIME = 15 * 60  # seconds a one-time login link stays valid
_SEEN_EVERY = 60  # seconds between updates of a session's last-seen time


def now_us() -> int:
    return time.time_ns() // 1000


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class UISession:
    """Who is looking at the pages: their audit identity, role and the session's CSRF token."""

    sid_hash: str
    actor: str  # as audit events name the person: key:<id> or the name given to `veil ui`
    role: str
    via: str  # api-key | link
    key_id: str | None
    csrf: str
    expires_us: int

    @property
    def ref(self) -> str:
        """A short, non-secret name of the session for audit events (not usable as a cookie)."""
        return self.sid_hash[:12]


_LOOKUP = (
    sa.select(ui_sessions, api_keys.c.revoked_us.label("key_revoked_us"),
              api_keys.c.expires_us.label("key_expires_us"))
    .select_from(ui_sessions.outerjoin(api_keys, api_keys.c.key_id == ui_sessions.c.key_id))
    .where(ui_sessions.c.sid_hash == sa.bindparam("h")))


class SessionStore:
    """Create, look up and end sessions; make and spend one-time login links."""

    def __init__(self, workspace: Any) -> None:
        self.engine: sa.Engine = workspace.engine

    def create(self, *, actor: str, role: str, via: str, key_id: str | None = None,
               replaces: str | None = None) -> tuple[str, UISession]:
        """A new session: returns the cookie value (shown once) and the session. ``replaces``
        (a cookie the browser still had) is ended first; expired sessions are purged."""
        sid = secrets.token_urlsafe(32)
        now = now_us()
        row = {"sid_hash": digest(sid), "actor": actor[:128], "role": role, "key_id": key_id,
               "via": via, "csrf": secrets.token_urlsafe(32), "created_us": now,
               "seen_us": now, "expires_us": now + LIFETIME * 1_000_000}
        with self._tx("opening a session") as conn:
            conn.execute(ui_sessions.delete().where(ui_sessions.c.expires_us <= now))
            conn.execute(ui_sessions.delete().where(
                ui_sessions.c.seen_us <= now - IDLE * 1_000_000))
            if replaces:
                conn.execute(ui_sessions.delete().where(
                    ui_sessions.c.sid_hash == digest(replaces)))
            conn.execute(ui_sessions.insert().values(**row))
        return sid, _session(row)

    def get(self, sid: str | None) -> UISession | None:
        """The live session of a cookie value, or None (unknown, expired, idle too long, or
        its API key revoked or expired)."""
        if not sid or len(sid) > 100:
            return None
        now = now_us()
        with self._tx("reading a session", write=False) as conn:
            row = conn.execute(_LOOKUP, {"h": digest(sid)}).first()
        if row is None or row.expires_us <= now or row.seen_us <= now - IDLE * 1_000_000:
            return None
        if row.key_id is not None and (row.key_revoked_us is not None or (
                row.key_expires_us is not None and row.key_expires_us <= now)):
            return None
        if now - row.seen_us > _SEEN_EVERY * 1_000_000:
            with self._tx("recording session use") as conn:
                conn.execute(ui_sessions.update().where(ui_sessions.c.sid_hash == row.sid_hash)
                             .values(seen_us=now))
        return _session(row._mapping)

    def end(self, sid_hash: str) -> None:
        with self._tx("ending a session") as conn:
            conn.execute(ui_sessions.delete().where(ui_sessions.c.sid_hash == sid_hash))

    def make_link(self, *, actor: str, role: str, lifetime: int = LINK_LIFETIME) -> str:
        """A one-time login token for ``actor`` with ``role`` (stored hashed; shown once)."""
        token = secrets.token_urlsafe(32)
        now = now_us()
        with self._tx("making a login link") as conn:
            conn.execute(ui_links.delete().where(ui_links.c.expires_us <= now))
            conn.execute(ui_links.insert().values(
                link_hash=digest(token), actor=actor[:128], role=role, created_us=now,
                expires_us=now + lifetime * 1_000_000))
        return token

    def spend_link(self, token: str | None) -> tuple[str, str] | None:
        """(actor, role) of a valid, unused link, now spent; None otherwise."""
        if not token or len(token) > 100:
            return None
        h, now = digest(token), now_us()
        with self._tx("using a login link") as conn:
            done = conn.execute(ui_links.update().where(
                ui_links.c.link_hash == h, ui_links.c.used_us.is_(None),
                ui_links.c.expires_us > now).values(used_us=now))
            if done.rowcount != 1:
                return None
            row = conn.execute(sa.select(ui_links.c.actor, ui_links.c.role)
                               .where(ui_links.c.link_hash == h)).one()
        return str(row.actor), str(row.role)

    def _tx(self, doing: str, *, write: bool = True) -> Any:
        return _Tx(self.engine, doing, write)


class _Tx:
    """A transaction (or a plain connection) whose database errors become StoreError."""

    def __init__(self, engine: sa.Engine, doing: str, write: bool) -> None:
        self.engine, self.doing, self.write, self._cm = engine, doing, write, None

    def __enter__(self) -> sa.Connection:
        try:
            self._cm = self.engine.begin() if self.write else self.engine.connect()
            return self._cm.__enter__()  # type: ignore[union-attr]
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.doing}: database error ({type(exc).__name__})") from None

    def __exit__(self, et: Any, ev: Any, tb: Any) -> bool:
        try:
            self._cm.__exit__(et, ev, tb)  # type: ignore[union-attr]
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.doing}: database error ({type(exc).__name__})") from None
        if isinstance(ev, sa.exc.DBAPIError):
            raise StoreError(f"{self.doing}: database error ({type(ev).__name__})") from None
        return False


def _session(row: Any) -> UISession:
    return UISession(sid_hash=row["sid_hash"], actor=row["actor"], role=row["role"],
                     via=row["via"], key_id=row["key_id"], csrf=row["csrf"],
                     expires_us=int(row["expires_us"]))


__all__ = ["IDLE", "LIFETIME", "LINK_LIFETIME", "SessionStore", "UISession", "digest", "now_us"]
