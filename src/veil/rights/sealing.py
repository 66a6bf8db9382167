"""The request's sealed payload: the subject id (and a rectification's new values), kept only
encrypted with the workspace's ``dsr`` AEAD keyset and bound to the request id, so a failed
request can be rerun; an erasure drops the seal once done."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.errors import RunRefused
from veil.rights.records import DSR_KEYSET
from veil.store.schema import dsr_requests

if TYPE_CHECKING:
    from veil.store.workspace import Workspace

__all__ = ["Seals"]


class Seals:
    """Seal and unseal request payloads (the keyset is created on first use)."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._aead: Any = None

    def _cipher(self) -> Any:
        if self._aead is None:
            from veil.crypto.aead import Aead
            from veil.keys.manager import KeyManager

            ks = KeyManager(self.workspace).ensure(DSR_KEYSET, "aead",
                                                   "veil dsr: sealed subject ids of requests")
            self._aead = Aead(ks)
        return self._aead

    @staticmethod
    def _ad(request_id: str) -> bytes:
        return b"veil:dsr:v1:" + request_id.encode("ascii")

    def seal(self, request_id: str, payload: dict[str, Any]) -> bytes:
        """``payload`` as JSON, encrypted and bound to the request id."""
        data = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        return bytes(self._cipher().encrypt(data, self._ad(request_id)))

    def unseal(self, request_id: str, sealed: bytes | None) -> dict[str, Any]:
        """The payload back; RunRefused when an erasure has dropped it."""
        if sealed is None:
            raise RunRefused(f"request {request_id}: the subject id was deleted by an erasure "
                             "(Art. 17); open a new request to act again")
        return dict(json.loads(self._cipher().decrypt(bytes(sealed), self._ad(request_id))))

    def stored(self, request_id: str) -> bytes | None:
        """The request's sealed payload as stored (None: dropped, or never sealed)."""
        with self.workspace.engine.connect() as conn:
            v = conn.execute(sa.select(dsr_requests.c.sealed)
                             .where(dsr_requests.c.id == request_id)).scalar()
        return None if v is None else bytes(v)
