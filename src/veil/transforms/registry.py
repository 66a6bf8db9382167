"""Field transforms, registered by name; a purpose names one per field it keeps.

A transform checks its parameters against the field's declared type when the policy is
checked (before any data is read) and then works on whole Arrow arrays. This module holds the
registry and the two treatments every policy can use: ``keep`` and ``drop``; the transform
families (``basic``, ``pseudonymize``, ``tokenize``, ``fpe``, ``generalize``, ``dates``,
``noise``, ``text``) register themselves when ``veil.transforms`` is imported.

A `Transform` is:

* ``check(field_def, params)``: raises ``ValueError`` with the reason when the transform does
  not fit the field's declared type or the parameters are wrong (the plan turns it into a
  ``PolicyError`` naming the field and the policy's file:line);
* ``apply(array, params, ctx) -> array``: the field's values in, the treated values out (same
  length, of the Arrow type of ``output_type``); ``ctx`` is a
  `veil.transforms.context.TransformContext` (the run's purpose, dataset, keys, and the
  field's name and the rows' subject ids for this call);
* ``output_type(field_def, params)``: the policy type name of the output (``"string"`` for a
  pseudonym of an integer id, say); the output schema of a run is built from it;
* ``describe(params, ctx)``: what the receipt records: the transform, its parameters and the
  ids of the keys it used (never a key);
* ``needs_subject``: the transform needs the row's subject id (``date_shift``), so the dataset
  must declare ``subject_id``;
* ``check_files(field_def, params, base_dir)``: optional check of files the parameters name
  (hierarchies), relative paths taken from ``base_dir`` (the policy file's folder).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from veil.policy.model import FieldDef

if TYPE_CHECKING:  # pragma: no cover
    from veil.transforms.context import TransformContext

Apply = Callable[[pa.Array, dict[str, Any], "TransformContext"], pa.Array]
Check = Callable[[FieldDef, dict[str, Any]], None]
OutputType = Callable[[FieldDef, dict[str, Any]], str]
Describe = Callable[[dict[str, Any], "TransformContext | None"], dict[str, Any]]
CheckFiles = Callable[[FieldDef, dict[str, Any], Path | None], None]


def same_type(field: FieldDef, _params: dict[str, Any]) -> str:
    return field.type


def describe_params(name: str) -> Describe:
    def describe(params: dict[str, Any], _ctx: TransformContext | None) -> dict[str, Any]:
        return {"transform": name, "params": dict(params)}

    return describe


@dataclass(frozen=True)
class Transform:
    name: str
    summary: str
    check: Check
    apply: Apply
    drops_field: bool = False
    output_type: OutputType = same_type
    describe: Describe | None = None
    needs_subject: bool = False
    check_files: CheckFiles | None = None
    example: str = ""

    def info(self, params: dict[str, Any], ctx: TransformContext | None = None) -> dict[str, Any]:
        """The receipt entry of this transform with ``params`` (key ids, never keys)."""
        if self.describe is None:
            return {"transform": self.name, "params": dict(params)}
        return self.describe(dict(params), ctx)


REGISTRY: dict[str, Transform] = {}


def register(t: Transform) -> Transform:
    if t.name in REGISTRY:
        raise ValueError(f"transform '{t.name}' is already registered")
    REGISTRY[t.name] = t
    return t


def check_treatment(t: Transform, field: FieldDef, params: dict[str, Any],
                    base_dir: str | Path | None = None) -> None:
    """Every policy-time check of ``t`` on ``field`` (``ValueError`` with the reason):
    parameters and type, then the files the parameters name (relative to ``base_dir``)."""
    for name, value in params.items():
        _check_number(name, value)
    t.check(field, params)
    if t.check_files is not None:
        t.check_files(field, params, Path(base_dir) if base_dir is not None else None)


#: The largest number a transform parameter takes: a longer one is a typing mistake, and would
#: overflow a float (a 400-digit epsilon) before the transform could say what is wrong.
MAX_PARAM = 10**15


def _check_number(name: str, value: Any) -> None:
    """A numeric parameter (or a list of them) is finite and at most ``MAX_PARAM`` in size."""
    for v in value if isinstance(value, list) else [value]:
        if isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"'{name}' must be a finite number")
        if abs(v) > MAX_PARAM:
            raise ValueError(f"'{name}' must be between -{MAX_PARAM:.0e} and {MAX_PARAM:.0e}")


def _no_params(_field: FieldDef, params: dict[str, Any]) -> None:
    if params:
        raise ValueError(f"takes no parameters (got {', '.join(sorted(params))})")


register(Transform("keep", "keep the value as it is", _no_params, lambda a, _p, _c: a,
                   example="amount: keep"))
register(Transform("drop", "remove the field from the output", _no_params,
                   lambda a, _p, _c: a, drops_field=True,
                   example="email: drop"))
