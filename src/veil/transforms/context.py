"""What a transform reads besides its values and parameters, and how a batch is treated.

A transform's ``apply(values, params, ctx)`` gets a `TransformContext`: the run's id, purpose,
dataset and policy, its keys (`veil.transforms.keys.TransformKeys`), the workspace (per-subject
keys), the Spark partition, and for the call at hand the name of the field being treated and
the subject ids of the rows (aligned with the values). `TransformState` is what transforms
remember between the batches of one run: hierarchy files read once, span finders compiled
once, the reference date of age bands, noise batch counters, the subject key store.

The run's context (``veil.pipeline.context.RunContext``) makes one `TransformContext` per run;
`treat_batch` gives each transform call its own copy with ``field`` and ``subject_ids`` set, so
no call writes into another's slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from veil.errors import InputError, VeilError
from veil.policy.model import Dataset, FieldDef, Policy
from veil.transforms._common import ARROW
from veil.transforms.registry import Transform

if TYPE_CHECKING:
    from veil.consent.models import SubjectRef
    from veil.keys.subject_keys import SubjectKeys
    from veil.store.workspace import Workspace
    from veil.transforms.keys import TransformKeys

Active = Sequence[tuple[str, Transform, dict[str, Any]]]


@dataclass
class TransformState:
    """What transforms remember between the batches of one run (one per run and partition)."""

    as_of: date | None = None  # generalize: the run's reference date for age bands
    hierarchies: dict[str, Any] = field(default_factory=dict)  # generalize: path -> Hierarchy
    finders: dict[Any, Any] = field(default_factory=dict)  # redact_text: params -> SpanFinder
    noise_batches: dict[str, int] = field(default_factory=dict)  # noise: field -> batches seen
    subject_keys: SubjectKeys | None = None  # encrypt: the workspace's subject keys
    subject_ref: SubjectRef | None = None  # encrypt: keyed subject references


@dataclass(frozen=True)
class TransformContext:
    """What one transform call may read (see module doc). Every field has a default, so a test
    or a notebook can call a transform with only what it needs (``TransformContext(keys=k)``)."""

    run_id: str = ""
    purpose_id: str | None = None
    dataset_id: str = ""
    dataset: Dataset | None = None
    policy: Policy | None = None
    keys: TransformKeys | None = None
    workspace: Workspace | None = None
    partition: int = 0
    state: TransformState = field(default_factory=TransformState, compare=False)
    field: str | None = None
    subject_ids: pa.Array | None = None

    def for_field(self, name: str, subject_ids: pa.Array | None) -> TransformContext:
        """This context for one call: the field being treated and the rows' subject ids."""
        return replace(self, field=name, subject_ids=subject_ids)

    @property
    def policy_dir(self) -> Path | None:
        """The policy file's folder (relative hierarchy files), when the policy is a file."""
        source = self.policy.source if self.policy is not None else None
        if source and not str(source).startswith("<"):
            return Path(source).resolve().parent
        return None


def field_name(ctx: TransformContext, transform: str) -> str:
    if not ctx.field:
        raise InputError(f"transform '{transform}' needs the name of the field it treats "
                         "(TransformContext.field; veil.transforms.context.treat_batch sets it)")
    return ctx.field


def field_def(ctx: TransformContext, transform: str) -> FieldDef:
    name = field_name(ctx, transform)
    if ctx.dataset is None or name not in ctx.dataset.fields:
        raise InputError(f"transform '{transform}': field '{name}' is not in the run's "
                         "dataset")
    return ctx.dataset.fields[name]


def subject_ids(ctx: TransformContext, rows: int, transform: str) -> pa.Array:
    ids = ctx.subject_ids
    if ids is None:
        raise InputError(
            f"transform '{transform}' needs each row's subject id: declare the dataset's "
            "subject_id in the policy (the run then passes it as TransformContext.subject_ids)")
    if isinstance(ids, pa.ChunkedArray):
        ids = ids.combine_chunks()
    if len(ids) != rows:
        raise InputError(f"transform '{transform}': {len(ids)} subject ids for {rows} rows "
                         "(TransformContext.subject_ids is not aligned with the batch)")
    return ids


def treat_batch(batch: pa.RecordBatch, active: Active, ctx: TransformContext,
                subjects: pa.Array | None = None) -> pa.RecordBatch:
    """Apply each (field, transform, params) of ``active`` to its column of ``batch``.

    ``subjects`` are the rows' subject ids when the batch no longer holds the subject-id
    column (the run's minimize stage took it out); a batch that still holds it is read
    directly. Casts each result to the transform's declared output type, and turns a
    transform's error into one that names the field.
    """
    if not active:
        return batch
    dataset = ctx.dataset
    sid = dataset.subject_id if dataset is not None else None
    names = batch.schema.names
    if sid and sid in names:
        subjects = batch.column(names.index(sid))
    arrays = list(batch.columns)
    for name, transform, params in active:
        i = names.index(name)
        try:
            out = transform.apply(arrays[i], params, ctx.for_field(name, subjects))
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
        if len(out) != batch.num_rows:
            raise InputError(f"field '{name}', transform '{transform.name}' returned "
                             f"{len(out)} values for {batch.num_rows} rows")
        arrays[i] = out
    return pa.RecordBatch.from_arrays(arrays, names=names)


def describe_treatments(active: Active, ctx: TransformContext | None = None) -> dict[str, Any]:
    """The receipt's ``transformed`` entry: per field, the transform, its parameters and the
    ids of the keys it used (with ``ctx``; never a key)."""
    return {"transformed": {name: t.info(params, ctx.for_field(name, None) if ctx else None)
                            for name, t, params in active}}
