"""The log's identity: its origin (its name in signed heads) and its Ed25519 signing key.

Both are fixed the first time they are needed and recorded in the ``audit_state`` row, so that a
later change (another ``[audit] origin``, a replaced key file) is refused instead of silently
forking the log's history.
"""

from __future__ import annotations

import secrets
import tomllib
from os import PathLike
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from veil.audit.heads import (
    generate_signing_key,
    key_id,
    load_private_key_pem,
    public_key_to_pem,
)
from veil.audit.storage import READING, STATE_ID, read_state
from veil.errors import AuditError, CryptoError
from veil.kek.sealed import sealed_path, sealed_secret
from veil.store.schema import audit_state
from veil.store.transactions import read_connection, write_transaction
from veil.store.workspace import CONFIG_NAME

KEY_FILE = Path("keys") / "audit_signing.pem"
"""Where older versions kept the signing key in clear (PKCS#8 PEM), relative to the workspace
root. Such a file is sealed under the KEK on first use and then removed."""

SEALED_NAME = "audit_signing"
"""The name of the sealed signing key: ``<workspace>/keys/audit_signing.sealed``."""

DEFAULT_ORIGIN_PREFIX = "veil.local/audit-"


def _raw_private(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _decode_key(secret: bytes, where: Path) -> Ed25519PrivateKey:
    """The sealed secret as a key: 32 raw bytes, or the PEM an older version kept in clear."""
    try:
        if len(secret) == 32:
            return Ed25519PrivateKey.from_private_bytes(secret)
        return load_private_key_pem(secret)
    except (ValueError, CryptoError) as exc:
        raise AuditError(
            f"the sealed audit signing key is damaged ({exc})", where=str(where)
        ) from None


def signing_key_exists(root: str | PathLike[str]) -> bool:
    """Whether the workspace has a signing key (sealed, or a legacy plaintext file)."""
    return sealed_path(Path(root), SEALED_NAME).is_file() or (Path(root) / KEY_FILE).is_file()


def load_signing_key(root: str | PathLike[str], *, create: bool) -> Ed25519PrivateKey | None:
    """The workspace's Ed25519 signing key, sealed under the KEK (``keys/audit_signing.sealed``).

    Unsealing needs the workspace's KEK: a copy of the workspace and its database without the
    KEK cannot sign a head. A plaintext ``keys/audit_signing.pem`` left by an older version is
    sealed on first use and removed. With ``create=True`` a missing key is generated (a
    concurrent creator's key wins). Returns None when there is no key and ``create`` is False.
    """
    root = Path(root)
    path = sealed_path(root, SEALED_NAME)
    if not create and not signing_key_exists(root):
        return None
    try:
        secret = sealed_secret(
            root,
            SEALED_NAME,
            legacy=root / KEY_FILE,
            make=lambda: _raw_private(generate_signing_key()),
        )
    except OSError as exc:
        raise AuditError(
            f"cannot read or create the audit signing key: {exc.strerror}", where=str(path)
        ) from None
    return _decode_key(secret, path)


def read_audit_config(root: Path) -> dict[str, Any]:
    """The ``[audit]`` table of the workspace's ``veil.toml`` (empty when there is none)."""
    path = root / CONFIG_NAME
    try:
        cfg = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"invalid workspace config: {exc}", where=str(path)) from None
    audit = cfg.get("audit", {})
    if not isinstance(audit, dict):
        raise AuditError("[audit] must be a table", where=str(path))
    return audit


def ensure_origin(engine: sa.Engine, wanted: str | None) -> str:
    """The stored origin; a new log is named ``wanted`` (else a random ``veil.local/audit-<hex>``).

    Refuses a ``wanted`` origin that differs from the one the log was created with.
    """
    with read_connection(engine, READING) as conn:
        stored = read_state(conn).origin
    if stored is None:
        name = wanted or DEFAULT_ORIGIN_PREFIX + secrets.token_hex(8)
        key_id(generate_signing_key().public_key(), name)  # validates the origin
        with write_transaction(engine, "naming the audit log", durable=True) as conn:
            conn.execute(
                audit_state.update()
                .where(audit_state.c.id == STATE_ID, audit_state.c.origin.is_(None))
                .values(origin=name)
            )
            stored = read_state(conn).origin
    if wanted is not None and stored != wanted:
        raise AuditError(
            f"this log's origin is {stored!r} (fixed when it was created), "
            f"not {wanted!r}: change [audit] origin in {CONFIG_NAME} back"
        )
    return str(stored)


def registered_signing_key(engine: sa.Engine, root: Path, origin: str) -> Ed25519PrivateKey:
    """The workspace's signing key, checked against (or, the first time, recorded as) the log's.

    Raises when the key file is missing for a log that has a key, or holds another key.
    """
    with read_connection(engine, READING) as conn:
        st = read_state(conn)
    key = load_signing_key(root, create=st.public_key is None)
    if key is None:
        raise AuditError(
            f"the audit signing key is missing (the log's key id is {st.key_id}); "
            "restore it from backup",
            where=str(sealed_path(root, SEALED_NAME)),
        )
    pem = public_key_to_pem(key.public_key()).decode()
    if st.public_key is None:
        with write_transaction(engine, "registering the audit key", durable=True) as conn:
            conn.execute(
                audit_state.update()
                .where(audit_state.c.id == STATE_ID, audit_state.c.public_key.is_(None))
                .values(public_key=pem, key_id=key_id(key.public_key(), origin))
            )
            st = read_state(conn)
    if st.public_key != pem:
        raise AuditError(
            f"the workspace signing key is not this log's key (key id {st.key_id})",
            where=str(sealed_path(root, SEALED_NAME)),
        )
    return key
