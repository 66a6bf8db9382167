"""The disposal certificate: a JSON file saying what was deleted, when, which key was destroyed
and under which retention rule (no personal data: run ids, paths, digests, rules)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from veil.io.writers import atomic_write_bytes
from veil.lifecycle.retention_records import LEGAL_BASIS, Disposal, iso

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["FORMAT", "certificate_folder", "write_certificate"]

FORMAT = "veil.retention-disposal.v1"


def certificate_folder(ws: Workspace) -> Path:
    return Path(ws.root) / "retention" / "certificates"


def write_certificate(ws: Workspace, disposals: Sequence[Disposal], *, actor: str,
                      as_of: datetime, records: dict[str, int] | None = None) -> Path:
    """Write one certificate for these disposals (atomically); returns its path."""
    at = datetime.now(UTC)
    folder = certificate_folder(ws)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{at.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}.json"
    doc = {
        "format": FORMAT,
        "issued_at": iso(at),
        "as_of": iso(as_of),
        "actor": actor,
        "legal_basis": LEGAL_BASIS,
        "outputs": [{k: v for k, v in d.to_dict().items() if k != "certificate"}
                    for d in disposals],
        "store_records": records or {},
        "statement": "Each output file listed was deleted; where 'key' is 'destroyed', the "
                     "keyset that alone encrypted it was destroyed, so no copy of the file "
                     "(backups included) can be decrypted.",
    }
    # one output per line: readable, and the C encoder (an indented dump is pure Python)
    rows = ",\n    ".join(json.dumps(o, ensure_ascii=False) for o in doc.pop("outputs"))
    text = json.dumps({**doc, "outputs": "@outputs@"}, indent=2, ensure_ascii=False)
    text = text.replace('"@outputs@"', f"[\n    {rows}\n  ]" if rows else "[]")
    atomic_write_bytes(path, (text + "\n").encode())
    return path
