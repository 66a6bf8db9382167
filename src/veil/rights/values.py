"""Decrypt values written by the ``encrypt`` transform, for an authorized caller, recorded.

The caller names the subject (by id: the key is found by its pseudonym), the dataset and field
the values came from (bound as associated data), who asks and why. Every call, failed or not,
appends one ``dsr.decrypt`` audit event (`veil.keys.key_use`): the subject by pseudonym, the
key (the subject's key under the workspace's KEK), the count and a digest of the ciphertexts;
never a value. After the subject's erasure the key is gone and this raises
`veil.crypto.errors.ErasedError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from veil.errors import InputError

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

ACTION = "dsr.decrypt"


def decrypt_values(workspace: Workspace, subject_id: str, values: Sequence[str], *,
                   dataset: str, field: str, actor: str, reason: str) -> list[str]:
    """The plaintexts of one subject's ``encrypt`` values (ErasedError once erased)."""
    from veil.consent.models import SubjectRef
    from veil.crypto.errors import ErasedError
    from veil.keys.key_use import bytes_digest, recorded_use
    from veil.keys.manager import KeyManager
    from veil.transforms.subject_encrypt import associated_data, decode

    if not actor or not reason or not reason.strip():
        raise InputError("decrypting needs an actor and a reason (both recorded)")
    if not subject_id or not subject_id.strip():
        raise InputError("the subject id is empty")
    token = SubjectRef(workspace.ready().root).token(subject_id.strip())
    with recorded_use(workspace, ACTION, actor=actor, purpose="data-subject-rights",
                      legal_basis="authorized re-identification",
                      details={"dataset": dataset, "field": field,
                               "reason": reason.strip()[:200], "key": "subject"}) as use:
        use.subjects.append(f"dsr:{token}")
        use.counts["values"] = len(values)
        use.digests["input"] = bytes_digest(str(v).encode("utf-8") for v in values)
        km = KeyManager(workspace, actor=actor)
        use.details["kek_id"] = km.kek.kek_id
        raw = [decode(v) for v in values]
        try:
            out = km.subject_keys().decrypt_many([token] * len(raw), raw,
                                                 associated_data(dataset, field))
        except ErasedError:
            raise ErasedError("the subject's key was destroyed by an erasure (Art. 17): these "
                              "values can no longer be decrypted",
                              where=f"subject #{token[:10]}") from None
        return [bytes(b).decode("utf-8") for b in out]
