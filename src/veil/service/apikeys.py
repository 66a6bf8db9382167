"""API keys and short-lived bearer tokens of the service, stored hashed in the workspace's store.

A key is shown once, at creation: ``veil_<key id>_<secret>``; the store keeps only
``HMAC-SHA256(pepper, "<key id>:<secret>")``. Why a keyed fast hash and not scrypt: the secret is
256 random bits, so there is nothing for a slow KDF to protect (slow hashes defend low-entropy
passwords against guessing); the pepper (32 random bytes sealed under the workspace's KEK in
``<workspace>/keys/service_pepper.sealed``, or ``VEIL_SERVICE_PEPPER`` in hex) means a copy of the
database, or of the whole workspace without the KEK, cannot even test a guess;
and a check costs microseconds, so every request can verify its key against the store, which is
what makes a revocation take effect on the next request.

Bearer tokens (``vt_<token id>_<secret>``) are exchanged for a key at ``POST /v1/auth/token``
(OAuth 2 client-credentials style): they carry the key's role, expire after minutes, and die with
their key (each use checks the key too). Key ids name the caller in audit events
(``key:<key id>``); secrets never appear in logs, errors or the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from veil.errors import InputError, StoreError, VeilError
from veil.kek.sealed import sealed_path, sealed_secret
from veil.service.roles import ROLES
from veil.store.schema import api_keys, api_tokens

KEY_PREFIX = "veil"
TOKEN_PREFIX = "vt"
PEPPER_SECRET = "service_pepper"  # keys/service_pepper.sealed
LEGACY_PEPPER_FILE = Path("keys") / "service_pepper.key"  # plaintext, from older versions
PEPPER_ENV = "VEIL_SERVICE_PEPPER"
AUDIT_PURPOSE = "service-access"
AUDIT_BASIS = "Art. 32 security of processing"
MAX_TOKEN_TTL = timedelta(hours=12)

_ID = re.compile(r"^[0-9a-f]{12}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
_NAME = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")


class AuthError(VeilError):
    """Missing, malformed, unknown, expired or revoked credentials (HTTP 401)."""

    exit_code = 4
    kind = "authentication error"


def _now_us() -> int:
    t = datetime.now(UTC)
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _dt(us: int | None) -> datetime | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def _us(t: datetime) -> int:
    if t.tzinfo is None:
        raise InputError(f"time {t.isoformat()} has no time zone: give UTC times")
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _iso(t: datetime | None) -> str | None:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ") if t is not None else None


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its secret."""

    key_id: str
    name: str
    role: str
    created: datetime
    created_by: str
    expires: datetime | None = None
    revoked: datetime | None = None
    revoked_by: str | None = None
    last_used: datetime | None = None

    def status(self, now: datetime | None = None) -> str:
        """active | expired | revoked"""
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "name": self.name, "role": self.role,
                "status": self.status(), "created": _iso(self.created),
                "created_by": self.created_by, "expires": _iso(self.expires),
                "revoked": _iso(self.revoked), "revoked_by": self.revoked_by,
                "last_used": _iso(self.last_used)}


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key (never its secret), its role, and how it authenticated."""

    key_id: str
    role: str
    name: str
    via: str  # "api-key" | "bearer-token"
    token_id: str | None = None

    @property
    def actor(self) -> str:
        """The caller as audit events name it."""
        return f"key:{self.key_id}"


def parse_credential(presented: str) -> tuple[str, str, str]:
    """``veil_<id>_<secret>`` or ``vt_<id>_<secret>`` -> (kind, id, secret). Never echoes it."""
    parts = presented.strip().split("_", 2)
    if len(parts) == 3 and parts[0] in (KEY_PREFIX, TOKEN_PREFIX) and _ID.match(parts[1]) \
            and _SECRET.match(parts[2]):
        return ("key" if parts[0] == KEY_PREFIX else "token"), parts[1], parts[2]
    raise AuthError("malformed credentials: expected an API key 'veil_<id>_<secret>' or a bearer "
                    "token 'vt_<id>_<secret>'")


def load_pepper(root: Path) -> bytes:
    """The server-side HMAC key: ``VEIL_SERVICE_PEPPER`` (hex), else the workspace's pepper
    (32 random bytes sealed under the KEK, made on first use; a plaintext pepper file an older
    version left is sealed and removed, so existing API keys keep working). Every process that
    creates or checks keys of one store needs the same pepper."""
    env = os.environ.get(PEPPER_ENV)
    if env:
        try:
            value = bytes.fromhex(env.strip())
        except ValueError:
            raise StoreError(f"{PEPPER_ENV} must be hex") from None
        if len(value) < 16:
            raise StoreError(f"{PEPPER_ENV} must hold at least 16 bytes (32 hex digits)")
        return value
    path = sealed_path(root, PEPPER_SECRET)
    try:
        value = sealed_secret(root, PEPPER_SECRET, legacy=root / LEGACY_PEPPER_FILE)
    except OSError as exc:
        raise StoreError(f"cannot read or create the service pepper: {exc.strerror}",
                         where=str(path)) from None
    if len(value) < 16:
        raise StoreError("the service pepper is too short (want 32 random bytes)",
                         where=str(path))
    return value


# Statements shared by the sync store and the service's async path.
KEY_ROW = sa.select(api_keys.c.secret_hash, api_keys.c.role, api_keys.c.name,
                    api_keys.c.expires_us, api_keys.c.revoked_us,
                    api_keys.c.key_id).where(api_keys.c.key_id == sa.bindparam("id"))
TOKEN_ROW = (sa.select(api_tokens.c.secret_hash, api_keys.c.role, api_keys.c.name,
                       sa.func.coalesce(
                           sa.case((api_keys.c.expires_us < api_tokens.c.expires_us,
                                    api_keys.c.expires_us), else_=api_tokens.c.expires_us),
                           api_tokens.c.expires_us).label("expires_us"),
                       api_keys.c.revoked_us, api_keys.c.key_id)
             .join(api_keys, api_keys.c.key_id == api_tokens.c.key_id)
             .where(api_tokens.c.token_id == sa.bindparam("id")))


class Hasher:
    """HMAC-SHA256 under the pepper; constant-time comparison."""

    def __init__(self, pepper: bytes) -> None:
        self._pepper = pepper

    def hash(self, ident: str, secret: str) -> str:
        return hmac.new(self._pepper, f"{ident}:{secret}".encode(), hashlib.sha256).hexdigest()

    def judge(self, kind: str, ident: str, secret: str, row: Any, now_us: int) -> Principal:
        """The principal a looked-up row gives, or AuthError. The same answer for an unknown
        id and a wrong secret; expiry and revocation are told only to holders of the secret."""
        expected = row.secret_hash if row is not None else "0" * 64
        ok = hmac.compare_digest(self.hash(ident, secret), expected)
        if row is None or not ok:
            raise AuthError("invalid API key or token")
        what = "API key" if kind == "key" else "bearer token (or its API key)"
        if row.revoked_us is not None:
            raise AuthError(f"{what} {ident} is revoked")
        if row.expires_us is not None and row.expires_us <= now_us:
            raise AuthError(f"{what} {ident} has expired")
        return Principal(key_id=row.key_id, role=row.role, name=row.name,
                         via="api-key" if kind == "key" else "bearer-token",
                         token_id=ident if kind == "token" else None)


class ApiKeyStore:
    """Create, list, revoke and check the service's API keys (the CLI's ``veil apikey``)."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace.ready()
        self.engine: sa.Engine = workspace.engine
        self.hasher = Hasher(load_pepper(Path(workspace.root)))

    # ------------------------------------------------------------------ writes

    def create(self, role: str, name: str, *, expires: datetime | timedelta | None = None,
               created_by: str) -> tuple[ApiKey, str]:
        """A new key; returns it and the full secret ``veil_<id>_<secret>`` (shown once)."""
        if role not in ROLES:
            raise InputError(f"unknown role '{str(role)[:30]}' (roles: {', '.join(ROLES)})")
        if not isinstance(name, str) or not _NAME.match(name) or not name.strip():
            raise InputError("key name must be one line of 1 to 128 characters")
        now = _now_us()
        exp_us: int | None = None
        if isinstance(expires, timedelta):
            if expires <= timedelta(0):
                raise InputError("expiry must be in the future")
            exp_us = now + int(expires.total_seconds() * 1_000_000)
        elif expires is not None:
            exp_us = _us(expires)
            if exp_us <= now:
                raise InputError(f"expiry {_iso(expires)} is not in the future")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = {"key_id": key_id, "name": name.strip(), "role": role,
               "secret_hash": self.hasher.hash(key_id, secret), "created_us": now,
               "created_by": created_by[:128] or "unknown", "expires_us": exp_us}
        with self._write("creating an API key") as conn:
            conn.execute(api_keys.insert().values(**row))
        self._audit(created_by, "apikey.created", {"key_id": key_id, "role": role,
                                                    "expires": _iso(_dt(exp_us))})
        return self.get(key_id), f"{KEY_PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str, *, by: str) -> ApiKey:
        """Revoke a key (and with it every bearer token issued for it), from now on. The
        tokens stay stored until they expire, so a token holder is told "revoked" (each token
        use checks its key), not "invalid"."""
        key = self.get(key_id)
        if key.revoked is not None:
            raise InputError(f"API key {key_id} is already revoked ({_iso(key.revoked)})")
        with self._write("revoking an API key") as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id,
                                                 api_keys.c.revoked_us.is_(None))
                         .values(revoked_us=_now_us(), revoked_by=by[:128] or "unknown"))
        self._audit(by, "apikey.revoked", {"key_id": key_id, "role": key.role})
        return self.get(key_id)

    def issue_token(self, principal: Principal, ttl: timedelta = timedelta(minutes=15)
                    ) -> tuple[str, datetime]:
        """A bearer token for the principal's key, valid for ``ttl`` (at most 12 hours, and
        never beyond the key's expiry). Expired tokens are purged on the way."""
        if ttl <= timedelta(0) or ttl > MAX_TOKEN_TTL:
            raise InputError(f"token lifetime must be between 1 second and {MAX_TOKEN_TTL}")
        now = _now_us()
        exp = now + int(ttl.total_seconds() * 1_000_000)
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self._write("issuing a bearer token") as conn:
            key_exp = conn.execute(sa.select(api_keys.c.expires_us).where(
                api_keys.c.key_id == principal.key_id)).scalar()
            if key_exp is not None:
                exp = min(exp, int(key_exp))
            conn.execute(api_tokens.delete().where(api_tokens.c.expires_us <= now))
            conn.execute(api_tokens.insert().values(
                token_id=token_id, key_id=principal.key_id,
                secret_hash=self.hasher.hash(token_id, secret), created_us=now,
                expires_us=exp))
        expires = _dt(exp)
        assert expires is not None
        self._audit(principal.actor, "apikey.token_issued",
                    {"key_id": principal.key_id, "token_id": token_id,
                     "expires": _iso(expires)})
        return f"{TOKEN_PREFIX}_{token_id}_{secret}", expires

    def touch(self, key_id: str) -> None:
        """Record that a key was used now (the service calls it at most once a minute per key)."""
        with self._write("recording API key use") as conn:
            conn.execute(api_keys.update().where(api_keys.c.key_id == key_id)
                         .values(last_used_us=_now_us()))

    # ------------------------------------------------------------------ reads

    def get(self, key_id: str) -> ApiKey:
        if not isinstance(key_id, str) or not _ID.match(key_id):
            raise InputError(f"'{str(key_id)[:20]}' is not an API key id (12 hex digits)")
        with self._read("reading API keys") as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.key_id == key_id)).first()
        if row is None:
            raise InputError(f"no API key {key_id}")
        return _key(row)

    def list(self, *, include_revoked: bool = True) -> list[ApiKey]:
        q = sa.select(api_keys).order_by(api_keys.c.created_us, api_keys.c.key_id)
        if not include_revoked:
            q = q.where(api_keys.c.revoked_us.is_(None))
        with self._read("reading API keys") as conn:
            return [_key(r) for r in conn.execute(q)]

    def authenticate(self, presented: str) -> Principal:
        """The principal of a key or bearer token, or :class:`AuthError`."""
        kind, ident, secret = parse_credential(presented)
        with self._read("checking an API key") as conn:
            row = conn.execute(KEY_ROW if kind == "key" else TOKEN_ROW, {"id": ident}).first()
        return self.hasher.judge(kind, ident, secret, row, _now_us())

    # ------------------------------------------------------------------ plumbing

    def _audit(self, actor: str, action: str, details: dict[str, Any]) -> None:
        from veil.audit.log import AuditLog

        AuditLog(self.workspace).record(actor[:128] or "unknown", action,
                                        purpose=AUDIT_PURPOSE, legal_basis=AUDIT_BASIS,
                                        outcome="success", details=details)

    def _write(self, doing: str) -> Any:
        return _Tx(self.engine, doing, write=True)

    def _read(self, doing: str) -> Any:
        return _Tx(self.engine, doing, write=False)


class _Tx:
    """A connection (a transaction when writing) whose database errors become StoreError."""

    def __init__(self, engine: sa.Engine, doing: str, *, write: bool) -> None:
        self.engine, self.doing, self.write = engine, doing, write
        self._cm: Any = None

    def __enter__(self) -> sa.Connection:
        try:
            self._cm = self.engine.begin() if self.write else self.engine.connect()
            conn: sa.Connection = self._cm.__enter__()
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.doing}: database error ({_short(exc)})") from None
        return conn

    def __exit__(self, et: Any, ev: Any, tb: Any) -> Literal[False]:
        try:
            self._cm.__exit__(et, ev, tb)
        except sa.exc.DBAPIError as exc:
            raise StoreError(f"{self.doing}: database error ({_short(exc)})") from None
        if isinstance(ev, sa.exc.DBAPIError):
            raise StoreError(f"{self.doing}: database error ({_short(ev)})") from None
        return False


def _short(exc: sa.exc.DBAPIError) -> str:
    orig = getattr(exc, "orig", None)
    return (str(orig).splitlines()[0] if orig is not None else type(exc).__name__)[:200]


def _key(r: Any) -> ApiKey:
    created = _dt(r.created_us)
    assert created is not None
    return ApiKey(key_id=r.key_id, name=r.name, role=r.role, created=created,
                  created_by=r.created_by, expires=_dt(r.expires_us), revoked=_dt(r.revoked_us),
                  revoked_by=r.revoked_by, last_used=_dt(r.last_used_us))


__all__ = ["ApiKey", "ApiKeyStore", "AuthError", "Hasher", "Principal", "load_pepper",
           "parse_credential"]
