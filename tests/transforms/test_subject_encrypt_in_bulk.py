"""Transform ``encrypt`` (per-subject keys) on a workspace's store, SQLite and PostgreSQL: what
a batch seals in bulk opens one value at a time under the subject's pseudonym and back; nulls
stay null; a batch of new subjects makes their keys in one transaction; an erased subject's
row fails the batch and stores nothing."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
import sqlalchemy as sa

from veil.consent.models import SubjectRef
from veil.crypto.errors import ErasedError
from veil.keys.manager import KeyManager
from veil.store.schema import subject_keys
from veil.transforms import REGISTRY, TransformContext
from veil.transforms.subject_encrypt import associated_data, decode

AD = associated_data("offers", "email")


def _apply(
    ws: Any, ids: list[str | None], values: list[str | None], ctx: TransformContext | None = None
) -> list[str | None]:
    ctx = ctx or TransformContext(dataset_id="offers", workspace=ws)
    out = REGISTRY["encrypt"].apply(
        pa.array(values, pa.string()), {}, ctx.for_field("email", pa.array(ids, pa.string()))
    )
    assert out.type == pa.string()
    return list(out.to_pylist())


def _key_rows(ws: Any) -> int:
    with ws.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(subject_keys)).scalar())


def test_bulk_sealed_values_open_one_by_one_and_back(workspace: Any) -> None:
    ids = [f"C{i % 7}" for i in range(40)]
    vals = [f"c{i}@bank.example" for i in range(40)]
    out = _apply(workspace, ids, vals)  # dense: every row sealed
    ref = SubjectRef(workspace.root)
    one = KeyManager(workspace).subject_keys(cache_size=2)
    for s, v, c in zip(ids, vals, out, strict=True):
        assert c is not None and one.decrypt(ref.token(s), decode(c), AD) == v.encode()
    singles = [one.encrypt(ref.token(s), v.encode(), AD) for s, v in zip(ids, vals, strict=True)]
    bulk = KeyManager(workspace).subject_keys()
    assert bulk.decrypt_many([ref.token(s) for s in ids], singles, AD) == [v.encode() for v in vals]
    assert _key_rows(workspace) == 7


def test_nulls_stay_null_and_the_rest_is_sealed(workspace: Any) -> None:
    ids = ["A", None, "B", "A", "C"]
    vals = ["a@x.example", "n@x.example", None, "a2@x.example", "c@x.example"]
    out = _apply(workspace, ids, vals)
    assert out[1] is None and out[2] is None
    ref = SubjectRef(workspace.root)
    keys = KeyManager(workspace).subject_keys()
    got = keys.decrypt_many(
        [ref.token(ids[i]) for i in (0, 3, 4)], [decode(out[i]) for i in (0, 3, 4)], AD
    )
    assert got == [b"a@x.example", b"a2@x.example", b"c@x.example"]
    assert _key_rows(workspace) == 2  # B's only value was null: no key made for it


def test_new_subjects_of_a_batch_are_stored_in_one_transaction(workspace: Any) -> None:
    ctx = TransformContext(dataset_id="offers", workspace=workspace)
    _apply(workspace, ["warm"], ["w@x.example"], ctx)  # the run's keys are open
    commits = [0]
    sa.event.listen(workspace.engine, "commit", lambda _c: commits.__setitem__(0, commits[0] + 1))
    _apply(workspace, [f"N{i}" for i in range(1_200)], ["v"] * 1_200, ctx)
    assert commits[0] == 1 and _key_rows(workspace) == 1_201


def test_an_erased_subject_fails_the_batch_and_stores_nothing(workspace: Any) -> None:
    ref = SubjectRef(workspace.root)
    KeyManager(workspace).shred_subjects([ref.token("GONE")])
    before = _key_rows(workspace)
    with pytest.raises(ErasedError):
        _apply(workspace, ["NEW-1", "GONE", "NEW-2"], ["a", "b", "c"])
    assert _key_rows(workspace) == before
