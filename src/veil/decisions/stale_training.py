"""How many of a training output's subjects are erased, withdrawn or objecting now.

Lineage answers this (``veil.lineage.stale_subjects``: erased, withdrawn for the output's purpose,
objecting, restricted, each subject once under its strongest reason). Should lineage not offer
it, the active rights exclusions (erased, objected) are matched against the output's pseudonym
set here; that fallback does not see consent withdrawals.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace


_REASONS = ("erased", "withdrawn", "objecting", "restricted")


def _counts(found: Any) -> dict[str, int]:
    """Normalise what lineage returns: a report with a count per reason, {why: count |
    [pseudonyms]}, or [pseudonyms]."""
    if all(hasattr(found, k) for k in _REASONS):
        return {k: int(getattr(found, k)) for k in _REASONS}
    if isinstance(found, Mapping):
        return {str(k): (v if isinstance(v, int) else len(v)) for k, v in found.items()}
    if isinstance(found, int):
        return {"stale": found}
    return {"stale": len(list(found or []))}


def _fallback(ws: Workspace, run_id: str) -> dict[str, int]:
    from veil.lineage import Lineage
    from veil.store.schema import rights_exclusions as rx

    lin = Lineage(ws)
    out = lin.output(run_id)
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.select(rx.c.subject, rx.c.reason).where(
            rx.c.lifted_at.is_(None), rx.c.reason.in_(["erased", "objected"]),
            rx.c.purpose.in_(["*", out.purpose]))).all()
    if not rows:
        return {}
    held = set(lin.subjects_of(run_id))
    by: dict[str, set[str]] = {}
    for subject, reason in rows:
        if subject[:32] in held:
            by.setdefault(reason, set()).add(subject)
    return {k: len(v) for k, v in by.items()}


def stale_counts(ws: Workspace, run_id: str) -> dict[str, int]:
    """{why: subjects} for one output (only non-zero counts)."""
    import veil.lineage as lineage

    fn = getattr(lineage, "stale_subjects", None)
    found = _counts(fn(ws, run_id)) if fn is not None else _fallback(ws, run_id)
    return {k: n for k, n in found.items() if n}
