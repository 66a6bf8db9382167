"""What a breach exposed, as items found in the evidence (outputs, time windows of outputs,
datasets, keysets, things the DPO declares), and the scope computed from them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from veil.errors import InputError
from veil.incidents.scope import Evidence, Item, compute_scope
from veil.policy.taxonomy import Category


@dataclass(frozen=True)
class Exposed:
    """What the DPO says was exposed (each a list of names, as given)."""

    outputs: Sequence[str] = ()
    datasets: Sequence[str] = ()
    keysets: Sequence[str] = ()
    windows: Sequence[tuple[datetime, datetime]] = ()
    other: Sequence[str] = ()


def _key(it: Item) -> tuple[str, str]:
    return it.kind, it.run_id or it.ref


def find_items(ev: Evidence, exposed: Exposed, policy: Any | None, *,
               encrypted_datasets: bool = False) -> list[Item]:
    """The items the evidence holds for what was exposed, in the order named; InputError for
    what it does not know."""
    items = [ev.output_item(ref) for ref in exposed.outputs]
    for start, end in exposed.windows:
        items += ev.window_items(start, end)
    for name in exposed.datasets:
        it = ev.dataset_item(name, policy)
        if encrypted_datasets:
            it.encrypted = True
        items.append(it)
    items += [ev.keyset_item(name) for name in exposed.keysets]
    items += [Item("other", text, detail={"description": text}) for text in exposed.other]
    return items


def distinct(items: Iterable[Item]) -> list[Item]:
    """One item per run, dataset or keyset: the first named."""
    seen: dict[tuple[str, str], Item] = {}
    for it in items:
        seen.setdefault(_key(it), it)
    return list(seen.values())


def new_items(have: Sequence[Item], found: Sequence[Item]) -> list[Item]:
    """``found`` less what the breach already holds."""
    known = {_key(i) for i in have}
    return [i for i in found if _key(i) not in known]


def mark_key_exposed(items: Sequence[Item], names: Iterable[str], hint: str = "") -> None:
    """Mark the outputs whose key was exposed, named by path, run id or keyset; InputError
    (ending with ``hint``) for a name that is none of the exposed items."""
    marked = set(names)
    for it in items:
        if it.kind == "output" and marked & {it.ref, it.run_id, it.keyset}:
            it.key_exposed = True
    known = {x for it in items for x in (it.ref, it.run_id, it.keyset) if x}
    unknown = sorted(marked - known)
    if unknown:
        raise InputError(f"'{unknown[0]}' is not an exposed output or its keyset{hint}",
                         where="--key-exposed")


def policy_for(policy: Any | None, items: Sequence[Item]) -> Any | None:
    """The policy given, else the first readable policy of the exposed outputs' runs."""
    if policy is not None:
        return policy
    from veil.policy import load_policy

    for it in items:
        path = it.detail.get("policy")
        if path:
            try:
                return load_policy(path)
            except Exception:
                continue
    return None


def custom_categories(policy: Any | None) -> dict[str, Category]:
    if policy is None:
        return {}
    return {k: policy.category(k) for k in policy.categories}


def scope_of(ev: Evidence, items: Sequence[Item], estimates: dict[str, Any],
             policy: Any | None) -> tuple[dict[str, Any], list[str]]:
    """The scope (with the DPO's estimates kept in it) and the subject pseudonyms."""
    scope, pseudonyms = compute_scope(ev, items, estimates=estimates,
                                      custom_categories=custom_categories(policy))
    scope["estimates"] = estimates
    return scope, pseudonyms
