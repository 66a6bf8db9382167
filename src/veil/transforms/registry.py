"""Field transforms, registered by name; a purpose names one per field it keeps.

A transform checks its parameters against the field's declared type when the policy is
checked (before any data is read) and then works on whole Arrow arrays. This module holds the
registry and the two treatments every policy can use: ``keep`` and ``drop``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from veil.policy.model import FieldDef

Apply = Callable[[pa.Array, dict[str, Any], Any], pa.Array]
Check = Callable[[FieldDef, dict[str, Any]], None]


@dataclass(frozen=True)
class Transform:
    name: str
    summary: str
    check: Check
    apply: Apply
    drops_field: bool = False


REGISTRY: dict[str, Transform] = {}


def register(t: Transform) -> Transform:
    if t.name in REGISTRY:
        raise ValueError(f"transform '{t.name}' is already registered")
    REGISTRY[t.name] = t
    return t


def _no_params(_field: FieldDef, params: dict[str, Any]) -> None:
    if params:
        raise ValueError(f"takes no parameters (got {', '.join(sorted(params))})")


register(Transform("keep", "keep the value as it is", _no_params, lambda a, _p, _c: a))
register(Transform("drop", "remove the field from the output", _no_params,
                   lambda a, _p, _c: a, drops_field=True))
