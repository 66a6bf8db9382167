"""What a transform may read from the run's context, and how a batch is treated.

The run's context (``veil.pipeline.stage.RunContext``: ``.plan``, ``.run_id``, ``.extras``)
carries, in ``extras``:

* ``"keys"``: the run's `veil.transforms.keys.TransformKeys` (keyed transforms);
* ``"subject_ids"``: an Arrow array of the subject ids of the rows being treated, aligned with
  the batch (``date_shift``); `treat_batch` sets it from the batch's subject-id column when the
  column is there, else a stage before (minimization) must have set it for this batch;
* ``"field"``: the name of the field being treated, set by `treat_batch` around each
  ``apply`` (``replace`` without a value reads the field's category, ``noise`` draws an
  independent stream per field).

`treat_batch` is the body of the run's Treat stage; `describe_treatments` its receipt entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from veil.errors import InputError, VeilError
from veil.policy.model import FieldDef
from veil.transforms._common import ARROW
from veil.transforms.registry import Transform

KEYS = "keys"
SUBJECT_IDS = "subject_ids"
FIELD = "field"

Active = Sequence[tuple[str, Transform, dict[str, Any]]]


def field_name(ctx: Any, transform: str) -> str:
    extras = getattr(ctx, "extras", None) or {}
    name = extras.get(FIELD)
    if not name:
        raise InputError(f"transform '{transform}' needs the name of the field it treats "
                         "(ctx.extras['field']; veil.transforms.context.treat_batch sets it)")
    return str(name)


def field_def(ctx: Any, transform: str) -> FieldDef:
    name = field_name(ctx, transform)
    try:
        return ctx.plan.dataset.fields[name]  # type: ignore[no-any-return]
    except (AttributeError, KeyError):
        raise InputError(f"transform '{transform}': field '{name}' is not in the run's "
                         "dataset") from None


def subject_ids(ctx: Any, rows: int, transform: str) -> pa.Array:
    extras = getattr(ctx, "extras", None) or {}
    ids = extras.get(SUBJECT_IDS)
    if ids is None:
        raise InputError(
            f"transform '{transform}' needs each row's subject id: declare the dataset's "
            "subject_id in the policy (the run then passes it in ctx.extras['subject_ids'])")
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if len(ids) != rows:
        raise InputError(f"transform '{transform}': {len(ids)} subject ids for {rows} rows "
                         "(ctx.extras['subject_ids'] is not aligned with the batch)")
    return ids


def treat_batch(batch: pa.RecordBatch, active: Active, ctx: Any) -> pa.RecordBatch:
    """Apply each (field, transform, params) of ``active`` to its column of ``batch``.

    Sets ``ctx.extras["subject_ids"]`` from the batch's subject-id column when it is there,
    ``ctx.extras["field"]`` around each apply, casts each result to the transform's declared
    output type, and turns a transform's error into one that names the field.
    """
    if not active:
        return batch
    plan = getattr(ctx, "plan", None)
    dataset = getattr(plan, "dataset", None)
    sid = getattr(dataset, "subject_id", None)
    names = batch.schema.names
    if sid and sid in names:
        ctx.extras[SUBJECT_IDS] = batch.column(names.index(sid))
    arrays = list(batch.columns)
    for name, transform, params in active:
        i = names.index(name)
        ctx.extras[FIELD] = name
        try:
            out = transform.apply(arrays[i], params, ctx)
            if dataset is not None and name in dataset.fields:
                target = ARROW[transform.output_type(dataset.fields[name], params)]
                if out.type != target:
                    out = out.cast(target)
        except VeilError as exc:
            if exc.where:
                raise
            raise type(exc)(f"field '{name}', transform '{transform.name}': {exc.message}"
                            ) from exc
        except (ValueError, TypeError, pa.ArrowException) as exc:
            raise InputError(f"field '{name}', transform '{transform.name}': {exc}") from exc
        finally:
            ctx.extras.pop(FIELD, None)
        if len(out) != batch.num_rows:
            raise InputError(f"field '{name}', transform '{transform.name}' returned "
                             f"{len(out)} values for {batch.num_rows} rows")
        arrays[i] = out
    return pa.RecordBatch.from_arrays(arrays, names=names)


def describe_treatments(active: Active, ctx: Any = None) -> dict[str, Any]:
    """The receipt's ``transformed`` entry: per field, the transform, its parameters and the
    ids of the keys it used (with ``ctx``; never a key)."""
    return {"transformed": {name: t.info(params, ctx) for name, t, params in active}}
