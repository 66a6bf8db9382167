"""A decision's inputs (and a contest's statement, a review's rationale) sealed under the
subject's own key (`veil.keys.subject_keys`): erasing the subject destroys that key, so these
become unreadable everywhere, backups included, while the decision record stays.

Plaintext: JSON ``{"id": <decision id>, "f": {feature: value}}`` (the id inside binds the
ciphertext to its decision: a ciphertext moved to another decision of the same subject does not
open as that decision's); associated data ``veil.decision.v1\\0<kind>``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from veil.crypto.errors import ErasedError, KeyMissingError
from veil.errors import CryptoError

if TYPE_CHECKING:  # pragma: no cover
    import sqlalchemy as sa

    from veil.keys.keystore import StoreSubjectKeys
    from veil.keys.subject_keys import SubjectKeys

__all__ = ["encode", "encode_columns", "open_inputs", "open_text", "seal_inputs", "seal_inputs_in",
           "seal_text"]

_AD_INPUTS = b"veil.decision.v1\x00inputs"
_AD_TEXT = b"veil.decision.v1\x00text"


def _plain(v: Any) -> Any:
    """JSON for numpy scalars, dates and anything else a feature frame may hold."""
    item = getattr(v, "item", None)
    if item is not None:
        return item()
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


def _features_encoder() -> Callable[[Any], str]:
    """A value as compact JSON, the text ``json.dumps(..., separators=(",", ":"),
    default=_plain)`` gives, through the C encoder made once (``json.dumps`` with options
    builds a new encoder per call: half the cost of sealing a decision's inputs)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython without the C accelerator
        enc = json.JSONEncoder(separators=(",", ":"), default=_plain, allow_nan=True)
        return enc.encode
    c = make(None, _plain, json.encoder.encode_basestring_ascii, None, ":", ",", False, False,
             True)
    return lambda m: "".join(c(m, 0))


_FEATURES = _features_encoder()


def _column_json(values: Sequence[Any]) -> list[str]:
    """Each value's JSON text: a finite float's is its ``repr`` (as ``json`` writes it)."""
    if set(map(type, values)) == {float} and all(map(math.isfinite, values)):
        return list(map(float.__repr__, values))
    return [_FEATURES(v) for v in values]


def encode_columns(ids: Sequence[str], names: Sequence[str],
                   columns: Sequence[Sequence[Any]]) -> list[bytes]:
    """`encode` of ``ids[i]`` with the features ``{names[k]: columns[k][i]}``, column by
    column (a batch: one JSON conversion per column instead of one encoder call per row);
    the bytes are `encode`'s."""
    if len(set(names)) != len(names) or not all(i.isalnum() and i.isascii() for i in ids):
        rows = [dict(zip(names, vals, strict=True)) for vals in zip(*columns, strict=True)]
        return [encode(i, r) for i, r in zip(ids, rows, strict=True)]
    keys = [_FEATURES(str(n)).replace("%", "%%") + ":%s" for n in names]
    template = '{"id":"%s","f":{' + ",".join(keys) + "}}"
    texts = [_column_json(c) for c in columns]
    return [(template % row).encode("utf-8") for row in zip(ids, *texts, strict=True)]


def encode(decision_id: str, features: Mapping[str, Any]) -> bytes:
    """The sealed plaintext: ``{"id":<decision id>,"f":{feature: value}}`` (compact JSON)."""
    if not isinstance(features, dict):
        features = dict(features)
    did = decision_id if decision_id.isalnum() and decision_id.isascii() else None
    quoted = f'"{did}"' if did is not None else json.dumps(str(decision_id))
    return ('{"id":' + quoted + ',"f":' + _FEATURES(features) + "}").encode("utf-8")


def seal_inputs(keys: SubjectKeys, subjects: Sequence[str], ids: Sequence[str],
                rows: Sequence[Mapping[str, Any]]) -> list[bytes]:
    """One ciphertext per decision, each under its subject's key (made on first use)."""
    plain = [encode(i, r) for i, r in zip(ids, rows, strict=True)]
    return keys.encrypt_many(subjects, plain, _AD_INPUTS)


def seal_inputs_in(conn: sa.Connection, keys: StoreSubjectKeys, subjects: Sequence[str],
                   plain: Sequence[bytes]) -> list[bytes]:
    """Plaintexts (`encode`, `encode_columns`) sealed inside the caller's write transaction:
    the subjects' new keys are stored with the caller's rows
    (`veil.keys.keystore.StoreSubjectKeys.encrypt_many_in`)."""
    return keys.encrypt_many_in(conn, subjects, plain, _AD_INPUTS)


def open_inputs(keys: SubjectKeys, subject: str, decision_id: str,
                sealed: bytes | None) -> dict[str, Any] | None:
    """The decision's features, or None once the subject's key is destroyed."""
    if sealed is None:
        return None
    try:
        doc = json.loads(keys.decrypt(subject, bytes(sealed), _AD_INPUTS))
    except (ErasedError, KeyMissingError):
        return None
    if doc.get("id") != decision_id:
        raise CryptoError("the stored inputs belong to another decision",
                          where=f"decision {decision_id}")
    features: dict[str, Any] = doc["f"]
    return features


def seal_text(keys: SubjectKeys, subject: str, decision_id: str, text: str) -> bytes:
    return keys.encrypt(subject, encode(decision_id, {"text": text}), _AD_TEXT)


def open_text(keys: SubjectKeys, subject: str, decision_id: str,
              sealed: bytes | None) -> str | None:
    """A statement or rationale, or None once the subject is erased."""
    if sealed is None:
        return None
    try:
        doc = json.loads(keys.decrypt(subject, bytes(sealed), _AD_TEXT))
    except (ErasedError, KeyMissingError):
        return None
    if doc.get("id") != decision_id:
        raise CryptoError("the stored text belongs to another decision",
                          where=f"decision {decision_id}")
    return str(doc["f"]["text"])
