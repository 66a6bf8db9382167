"""Write a DPIA draft (DIR/dpia-<purpose>.md and .json) and record it in the audit log."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

from veil._actor import default_actor
from veil.audit.event import AuditEvent
from veil.audit.log import AuditLog
from veil.dpia.document import Dpia
from veil.dpia.draft import draft_dpia
from veil.io.writers import atomic_write_bytes
from veil.policy.model import Policy
from veil.store.workspace import Workspace


def write_dpia(policy: Policy, purpose_id: str, out_dir: str | Path, workspace: Workspace,
               actor: str | None = None) -> tuple[Path, Path, Dpia]:
    """Draft the purpose's DPIA from the policy and the workspace, write both files and append
    a ``dpia.draft`` audit event (with the files' digests); a failed append removes the files."""
    dpia = draft_dpia(policy, purpose_id, workspace)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    md, js = out / f"dpia-{purpose_id}.md", out / f"dpia-{purpose_id}.json"
    md_bytes = dpia.to_markdown().encode()
    js_bytes = (json.dumps(dpia.to_dict(), indent=2, ensure_ascii=False) + "\n").encode()
    atomic_write_bytes(js, js_bytes)
    atomic_write_bytes(md, md_bytes)
    met = [c["id"] for c in dpia.criteria if c["met"]]
    try:
        AuditLog(workspace).append([AuditEvent(
            time=datetime.now(UTC), actor=default_actor(actor), action="dpia.draft",
            purpose=purpose_id, legal_basis="Art. 35 GDPR", outcome="success",
            counts={"criteria_met": len(met), "open_questions": len(dpia.open_risks)},
            digests={"dpia.md": "sha256:" + hashlib.sha256(md_bytes).hexdigest(),
                     "dpia.json": "sha256:" + hashlib.sha256(js_bytes).hexdigest(),
                     "policy": f"sha256:{policy.digest}" if policy.digest else "none"},
            details={"criteria": ",".join(met), "required": dpia.required,
                     "reference": dpia.reference,
                     "run": dpia.measured_risk["run_id"] if dpia.measured_risk else None})])
    except BaseException:
        md.unlink(missing_ok=True)
        js.unlink(missing_ok=True)
        raise
    return md, js, dpia
