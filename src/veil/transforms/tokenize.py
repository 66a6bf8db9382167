"""``tokenize``: reversible join tokens (AES-SIV), and `reidentify`, their recorded reversal.

A token is Tink's deterministic AEAD (AES-SIV, RFC 5297) of the value's UTF-8 bytes under the
domain's keyset, with ``"veil.token.v1\\0" + domain`` as associated data, in unpadded
base64url: equal values give equal tokens within a domain (tables join on them), different
tokens across domains, and only the keyset's holder can turn a token back into its value.
A token that was altered, or that comes from another key or domain, does not decrypt
(`veil.crypto.errors.TamperedError`): a wrong key never yields a value.

`reidentify` is the only way back (and ``veil reidentify`` its command): it needs the
workspace's keys (so the KEK), an actor and a reason, and it appends one audit event
(action ``reidentify``: actor, domain, reason, key id, counts, a digest of the tokens; never
the values, nor a digest of them) to the workspace's tamper-evident audit log before it
returns anything. A failed attempt (no KEK, wrong key, altered token) is recorded too, with
outcome ``failure`` and the error's kind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, VeilError
from veil.policy.model import FieldDef
from veil.transforms._common import (
    allowed,
    b64url_strings,
    distinct_or_rows,
    domain_param,
    spread,
    types,
)
from veil.transforms.context import TransformContext
from veil.transforms.keys import (
    TransformKeys,
    check_domain,
    domain_of,
    key_id,
    keys_from,
    workspace_keys,
)
from veil.transforms.registry import Transform, register

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

ACTION = "reidentify"
SIV_SIZE = 16  # AES-SIV output = the synthetic IV, then as many bytes as the value


def tokens(values: pa.Array | pa.ChunkedArray, keys: TransformKeys, domain: str) -> pa.Array:
    """Tokens of ``values`` (Arrow ``string``; nulls stay null), each distinct value encrypted
    once (every row, in a batch whose values do not repeat: `distinct_or_rows`); the Tink
    prefix is joined on while the base64url is written, not per value."""
    items, indices = distinct_or_rows(values)
    prefix, raw = keys.token_cipher(domain).tokenize_parts(items.to_pylist(), domain)
    lengths = pc.binary_length(items).to_numpy(zero_copy_only=False) + SIV_SIZE
    return spread(b64url_strings(raw, prefix, lengths), indices)


def detokenize(toks: Sequence[str | None] | pa.Array, keys: TransformKeys,
               domain: str) -> list[str | None]:
    """Values of tokens (no record: use `reidentify` outside tests)."""
    items = toks.to_pylist() if isinstance(toks, (pa.Array, pa.ChunkedArray)) else list(toks)
    cipher = keys.token_cipher(domain)
    out = cipher.detokenize_many(items, domain)
    try:
        return [None if b is None else b.decode("utf-8") for b in out]
    except UnicodeDecodeError:
        raise InputError("a token decrypts to bytes that are not UTF-8 text") from None


def _check(field: FieldDef, params: dict[str, Any]) -> None:
    allowed(params, ("domain",))
    types(field, ("string", "integer"), "tokens are made from identifiers (text or whole "
          "numbers)")
    domain_param(params)


def _apply(values: pa.Array, params: dict[str, Any], ctx: TransformContext) -> pa.Array:
    d = domain_of(params, ctx)
    return tokens(values, keys_from(ctx, "tokenize"), d)


def _describe(params: dict[str, Any], ctx: TransformContext | None) -> dict[str, Any]:
    out: dict[str, Any] = {"transform": "tokenize", "params": dict(params),
                           "algorithm": "AES-SIV (Tink deterministic AEAD), base64url"}
    if ctx is not None:
        d = domain_of(params, ctx)
        out.update(domain=d, key_id=key_id(keys_from(ctx, "tokenize"), "token", d))
    return out


register(Transform(
    "tokenize", "reversible AES-SIV tokens for joins (veil reidentify reverses them)",
    _check, _apply, output_type=lambda f, p: "string", describe=_describe,
    example="customer_id: tokenize"))


# -- re-identification ------------------------------------------------------------------------


def _digest(items: Sequence[str | None]) -> str:
    h = hashlib.sha256()
    for t in items:
        b = b"" if t is None else t.encode("utf-8")
        h.update(len(b).to_bytes(4, "big") + b)
    return "sha256:" + h.hexdigest()


def reidentify(
    workspace: Workspace,
    values: Sequence[str | None],
    *,
    domain: str,
    actor: str,
    reason: str,
    transform: str = "tokenize",
    fpe_params: dict[str, Any] | None = None,
    expected_key_id: str | None = None,
    legal_basis: str = "not stated",
    data_category: str | None = None,
    keys: TransformKeys | None = None,
    audit: Any = None,
) -> list[str | None]:
    """The original values of tokens (``transform="tokenize"``) or of FPE outputs
    (``transform="fpe"``, with the run's ``fpe_params`` and the receipt's key id), for an
    ``actor`` with a ``reason``; recorded in the workspace's audit log before returning.

    ``keys`` default to the workspace's (`workspace_keys`: needs its KEK); ``audit`` to its
    `veil.audit.log.AuditLog`. Raises `CryptoError` for a wrong key or an altered token (after
    recording the failure).
    """
    if not isinstance(actor, str) or not actor.strip():
        raise InputError("re-identification needs the actor: who asks")
    if not isinstance(reason, str) or len(reason.strip()) < 3:
        raise InputError("re-identification needs a reason (e.g. a case or ticket number)")
    if transform not in ("tokenize", "fpe"):
        raise InputError(f"transform must be tokenize or fpe, not {transform!r}")
    check_domain(domain)
    items = list(values)
    if audit is None:
        from veil.audit.log import AuditLog

        audit = AuditLog(workspace)
    category = data_category or (
        "direct_identifier" if transform == "tokenize"
        else "card" if (fpe_params or {}).get("format") == "card" else "account")
    details: dict[str, Any] = {"reason": reason.strip(), "transform": transform,
                               "domain": domain}
    counts = {"values": len(items), "distinct": len(set(items) - {None})}
    digests = {"input": _digest(items)}

    def record(outcome: str, **more: Any) -> None:
        audit.record(actor.strip(), ACTION, purpose=domain, legal_basis=legal_basis,
                     outcome=outcome, data_categories=[category],
                     counts=counts, digests=digests, details={**details, **more})

    try:
        if keys is None:
            keys = workspace_keys(workspace, create=False, actor=actor)
        if transform == "tokenize":
            details["key_id"] = key_id(keys, "token", domain)
            out = detokenize(items, keys, domain)
        else:
            from veil.transforms.fpe import reverse

            if not fpe_params or "format" not in fpe_params:
                raise InputError("FPE re-identification needs the run's fpe parameters "
                                 "(at least format)")
            key = keys.fpe_key(domain)
            details["key_id"] = key_id(keys, "fpe", domain)
            if expected_key_id is None:
                raise InputError("FPE re-identification needs the key id the run's receipt "
                                 "recorded (FPE cannot tell a wrong key by itself)")
            out = reverse(pa.array(items, type=pa.string()), key, fpe_params,
                          expected_key_id=expected_key_id).to_pylist()
    except VeilError as exc:
        record("failure", error=exc.kind)
        raise
    record("success")
    return out
