"""Decrypt values written by the ``encrypt`` transform, for an authorized caller, recorded.

The caller names the subject (by id: the key is found by its pseudonym), the dataset and field
the values came from (bound as associated data), who asks and why. Every call, failed or not,
appends a ``dsr.decrypt`` audit event (subject by pseudonym, counts; never a value). After the
subject's erasure the key is gone and this raises `veil.crypto.errors.ErasedError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from veil.errors import InputError, VeilError

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace


def decrypt_values(workspace: Workspace, subject_id: str, values: Sequence[str], *,
                   dataset: str, field: str, actor: str, reason: str) -> list[str]:
    """The plaintexts of one subject's ``encrypt`` values (ErasedError once erased)."""
    from veil.audit.event import AuditEvent
    from veil.audit.log import AuditLog
    from veil.consent.models import SubjectRef
    from veil.crypto.errors import ErasedError
    from veil.keys.manager import KeyManager
    from veil.transforms.subject_encrypt import associated_data, decode

    if not actor or not reason or not reason.strip():
        raise InputError("decrypting needs an actor and a reason (both recorded)")
    if not subject_id or not subject_id.strip():
        raise InputError("the subject id is empty")
    token = SubjectRef(workspace.ready().root).token(subject_id.strip())
    outcome, error = "success", None
    try:
        keys = KeyManager(workspace, actor=actor).subject_keys()
        raw = [decode(v) for v in values]
        out = keys.decrypt_many([token] * len(raw), raw, associated_data(dataset, field))
        return [bytes(b).decode("utf-8") for b in out]
    except ErasedError:
        outcome, error = "failure", "erased"
        raise ErasedError("the subject's key was destroyed by an erasure (Art. 17): these "
                          "values can no longer be decrypted",
                          where=f"subject #{token[:10]}") from None
    except VeilError as exc:
        outcome, error = "failure", exc.kind
        raise
    finally:
        AuditLog(workspace).append([AuditEvent(
            time=datetime.now(UTC), actor=actor, action="dsr.decrypt",
            purpose="data-subject-rights", legal_basis="authorized re-identification",
            outcome=outcome, counts={"values": len(values)}, subjects=[f"dsr:{token}"],
            details={"dataset": dataset, "field": field, "reason": reason.strip()[:200],
                     "error": error})])
