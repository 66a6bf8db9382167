"""Transform ``encrypt`` in bulk across batches and runs (SQLite and PostgreSQL): a second run
over the same subjects reuses their stored keys (no new rows, the same wrapped blobs) and what
either run sealed opens per subject; with a cache smaller than a batch, batches that mix cached,
stored and new subjects still seal each value under its own subject's key."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from veil.consent.models import SubjectRef
from veil.keys.manager import KeyManager
from veil.store.schema import subject_keys
from veil.transforms import REGISTRY, TransformContext
from veil.transforms.subject_encrypt import associated_data, decode

AD = associated_data("offers", "email")


def _apply(ctx: TransformContext, ids: list[str], values: list[str]) -> list[str]:
    out = REGISTRY["encrypt"].apply(
        pa.array(values, pa.string()), {}, ctx.for_field("email", pa.array(ids, pa.string()))
    )
    return list(out.to_pylist())


def _blobs(ws: Any) -> dict[str, bytes]:
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(subject_keys.c.subject, subject_keys.c.wrapped_key))
        return {s: bytes(w) for s, w in rows}


def _opens(ws: Any, ids: list[str], sealed: list[str], values: list[str]) -> None:
    ref = SubjectRef(ws.root)
    one = KeyManager(ws).subject_keys(cache_size=1)
    for s, c, v in zip(ids, sealed, values, strict=True):
        assert one.decrypt(ref.token(s), decode(c), AD) == v.encode()


def test_a_second_run_reuses_the_stored_keys(workspace: Any) -> None:
    ids = [f"S{i}" for i in range(300)]
    first_vals = [f"a{i}@bank.example" for i in range(300)]
    first = _apply(TransformContext(dataset_id="offers", workspace=workspace), ids, first_vals)
    stored = _blobs(workspace)
    assert len(stored) == 300
    second_vals = [f"b{i}@bank.example" for i in range(300)]
    again = TransformContext(dataset_id="offers", workspace=workspace)  # a new run
    second = _apply(again, ids[::-1], second_vals[::-1])
    assert _blobs(workspace) == stored  # no key made or replaced
    _opens(workspace, ids, first, first_vals)
    _opens(workspace, ids[::-1], second, second_vals[::-1])


def test_batches_mixing_cached_stored_and_new_subjects(workspace: Any) -> None:
    ctx = TransformContext(dataset_id="offers", workspace=workspace)
    ctx.state.subject_keys = KeyManager(workspace).subject_keys(cache_size=3)
    ctx.state.subject_ref = SubjectRef(workspace.root)
    batches = [[f"M{i}" for i in range(lo, lo + 10)] * 2 for lo in (0, 5, 12, 0, 20)]
    for b, ids in enumerate(batches):
        vals = [f"{s}-{b}-{j}@x.example" for j, s in enumerate(ids)]
        _opens(workspace, ids, _apply(ctx, ids, vals), vals)
    assert len(_blobs(workspace)) == 30
    assert len(ctx.state.subject_keys._cache) == 3
