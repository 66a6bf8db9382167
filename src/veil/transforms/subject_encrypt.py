"""``encrypt``: encrypt a field under the row's own subject key, so erasure crypto-shreds it.

Each value is AES-256-GCM encrypted (``veil.keys.subject_keys``) under a random key that
belongs to the row's data subject alone, with the dataset and column bound as associated data
(``"veil.encrypt.v1\\0" dataset "\\0" column``; the subject is bound by the subject-key layer).
The subject is named by their keyed pseudonym (`veil.consent.models.SubjectRef` token), never by
the id itself. The output is unpadded base64url text of ``nonce || ciphertext || tag``.

Erasing the subject (``veil dsr run`` on an erasure request, or
`veil.keys.manager.KeyManager.shred_subjects`) deletes that key: every copy of every value
encrypted for them, in any output or backup, is unreadable from then on, and decrypting raises
`veil.crypto.errors.ErasedError`. `veil.rights.decrypt_values` is the recorded way back for an
authorized caller (it needs the subject id and the workspace's KEK).

The run passes its workspace in ``ctx.workspace``; tests and notebooks may set a ready
``ctx.state.subject_keys`` (`SubjectKeys`) and ``ctx.state.subject_ref`` instead.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from veil.errors import InputError
from veil.policy.model import FieldDef
from veil.transforms._common import allowed, as_array, b64url_strings, hmac_many, to_text
from veil.transforms.context import field_name, subject_ids
from veil.transforms.registry import Transform, register

if TYPE_CHECKING:  # pragma: no cover
    from veil.consent.models import SubjectRef
    from veil.keys.subject_keys import SubjectKeys
    from veil.transforms.context import TransformContext

LABEL = b"veil.encrypt.v1\x00"


def associated_data(dataset: str, column: str) -> bytes:
    """What a value is bound to besides its subject: the dataset and column it belongs to."""
    return LABEL + dataset.encode("utf-8") + b"\x00" + column.encode("utf-8")


def subject_tokens(ref: SubjectRef, ids: Sequence[bytes]) -> list[str]:
    """The subjects' keyed pseudonyms (hex HMAC-SHA256, as `SubjectRef.token`) of UTF-8 ids,
    one keyed-state copy per id."""
    key = ref.key()  # the subject-reference key; token(x) == HMAC(key, x)
    blob = hmac_many(key, b"", ids)
    return [blob[i:i + 32].hex() for i in range(0, len(blob), 32)]


def run_subject_keys(ctx: TransformContext) -> tuple[SubjectKeys, SubjectRef]:
    """The run's subject keys and subject references (made once per run from its workspace,
    unless the caller set them in ``ctx.state``)."""
    state = ctx.state
    keys, ref = state.subject_keys, state.subject_ref
    if keys is None or ref is None:
        ws = ctx.workspace
        if ws is None:
            raise InputError("transform 'encrypt' needs a workspace (its subject keys live in "
                             "the workspace's store): run in a workspace")
        from veil.consent.models import SubjectRef
        from veil.keys.manager import KeyManager

        if keys is None:
            keys = state.subject_keys = KeyManager(ws).subject_keys()
        if ref is None:
            ref = state.subject_ref = SubjectRef(ws.root)
    return keys, ref


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ())


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    values = as_array(values)
    subjects = subject_ids(ctx, len(values), "encrypt")
    column = field_name(ctx, "encrypt")
    dataset = ctx.dataset_id
    keys, ref = run_subject_keys(ctx)
    id_arr, val_arr = to_text(as_array(subjects)), to_text(values)
    ids, texts = id_arr.to_pylist(), val_arr.cast(pa.binary()).to_pylist()  # UTF-8 bytes
    dense = id_arr.null_count == 0 and val_arr.null_count == 0
    rows = range(len(ids)) if dense else [
        i for i, (s, v) in enumerate(zip(ids, texts, strict=True))
        if s is not None and v is not None]
    distinct = list(dict.fromkeys(ids if dense else (ids[i] for i in rows)))
    token_of = dict(zip(distinct, subject_tokens(ref, [s.encode("utf-8") for s in distinct]),
                        strict=True))
    sealed = keys.encrypt_many([token_of[s] for s in ids] if dense else
                               [token_of[ids[i]] for i in rows],
                               texts if dense else [texts[i] for i in rows],
                               associated_data(dataset, column))
    if dense:  # every row sealed: the base64url array is the column
        return b64url_strings(sealed)
    out: list[str | None] = [None] * len(values)
    for i, s in zip(rows, b64url_strings(sealed).to_pylist(), strict=True):
        out[i] = s
    return pa.array(out, type=pa.string())


def _output_type(_field: FieldDef, _params: dict[str, Any]) -> str:
    return "string"


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    return {"transform": "encrypt", "params": dict(params),
            "algorithm": "AES-256-GCM under the row's subject key (crypto-shredding)",
            "associated_data": "veil.encrypt.v1, dataset, column, subject pseudonym"}


def decode(value: str) -> bytes:
    """The ciphertext bytes of one output value (InputError if it is not base64url)."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (ValueError, TypeError):
        raise InputError("not a value written by transform 'encrypt' (bad base64url)") from None


register(Transform(
    "encrypt", "encrypt under the row's own subject key; erasure crypto-shreds it",
    _check, _apply, output_type=_output_type, describe=_describe, needs_subject=True,
    example="email: {transform: encrypt}"))
