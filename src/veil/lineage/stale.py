"""Stale training data: how many subjects of a run output have since been erased, withdrawn
their consent, objected or been restricted.

A model trained on such an output keeps what it learnt from them, so registering one is refused
unless the registrant accepts it with a reason (`Lineage.register_model`). The answer is
computed from the current state (active ``rights_exclusions`` and the consent ledger's state),
not from the marks propagation left, so it also covers what happened before propagation
existed. Each subject is counted once, under the strongest reason (erased, withdrawn,
objecting, restricted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.lineage.sets import PseudonymSet

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["StaleReport", "stale_subjects"]

_EXCLUSION = {"erased": "erased", "objected": "objecting", "restricted": "restricted"}
_ORDER = ("erased", "withdrawn", "objecting", "restricted")


@dataclass(frozen=True)
class StaleReport:
    """Counts of an output's subjects whose data should no longer train a model."""

    run_id: str
    purpose: str
    erased: int = 0
    withdrawn: int = 0
    objecting: int = 0
    restricted: int = 0

    @property
    def total(self) -> int:
        return self.erased + self.withdrawn + self.objecting + self.restricted

    def __bool__(self) -> bool:
        return self.total > 0

    def describe(self) -> str:
        """'3 subjects (2 erased, 1 withdrawn)' (only the non-zero reasons)."""
        parts = [f"{getattr(self, k)} {k}" for k in _ORDER if getattr(self, k)]
        n = self.total
        return f"{n} subject{'s' if n != 1 else ''} ({', '.join(parts) or 'none'})"

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "purpose": self.purpose, "erased": self.erased,
                "withdrawn": self.withdrawn, "objecting": self.objecting,
                "restricted": self.restricted, "total": self.total}


def _members(subjects: PseudonymSet, tokens: list[str]) -> list[bool]:
    """Which of ``tokens`` (hex pseudonyms) are in the set (a binary search each)."""
    return [t in subjects for t in tokens]


def _output_set(conn: sa.Connection, run_id: str) -> PseudonymSet:
    from veil.store.schema import lineage_subjects as s

    blob = b"".join(bytes(b) for b in conn.execute(
        sa.select(s.c.subjects).where(s.c.run_id == run_id).order_by(s.c.bucket)).scalars())
    return PseudonymSet.from_bytes(blob)


def _reasons(ws: Workspace, conn: sa.Connection, purpose: str,
             consent: bool | None) -> dict[str, str]:
    """pseudonym -> strongest reason, over every subject excluded or withdrawn for purpose."""
    from veil.store.schema import consent_state, rights_exclusions

    t = rights_exclusions.c
    found: dict[str, str] = {}
    for subj, why in conn.execute(sa.select(t.subject, t.reason).where(
            t.lifted_at.is_(None), t.purpose.in_([purpose, "*"]))):
        _keep(found, subj, _EXCLUSION.get(why, "restricted"))
    if consent is not False:
        c = consent_state.c
        ids = list(conn.execute(sa.select(c.subject).where(
            c.purpose == purpose, c.status == "withdrawn")).scalars())
        if ids:
            from veil.consent.models import SubjectRef

            ref = SubjectRef(ws.root)
            for sid in ids:
                tok = sid[7:] if sid.startswith("erased:") else ref.token(sid)
                _keep(found, tok, "withdrawn")
    return found


def _keep(found: dict[str, str], token: str, reason: str) -> None:
    cur = found.get(token)
    if cur is None or _ORDER.index(reason) < _ORDER.index(cur):
        found[token] = reason


def stale_subjects(ws: Workspace, run_id: str, *, consent: bool | None = None) -> StaleReport:
    """How many subjects of output ``run_id`` are erased, withdrawn (for the output's
    purpose), objecting or restricted now. ``consent=False`` ignores withdrawals (a purpose
    that does not rest on consent); None counts them when the ledger has any."""
    from veil.store.schema import lineage_outputs as o

    with ws.engine.connect() as conn:
        row = conn.execute(sa.select(o.c.run_id, o.c.purpose)
                           .where(o.c.run_id == run_id)).first()
        if row is None:
            from veil.errors import InputError

            raise InputError(f"no recorded run output '{run_id}' (see `veil lineage outputs`)")
        found = _reasons(ws, conn, row.purpose, consent)
        if not found:
            return StaleReport(row.run_id, row.purpose)
        tokens = list(found)
        hit = _members(_output_set(conn, row.run_id), tokens)
    counts = dict.fromkeys(_ORDER, 0)
    for tok, h in zip(tokens, hit, strict=True):
        if h:
            counts[found[tok]] += 1
    return StaleReport(row.run_id, row.purpose, **counts)


def stale_members(ws: Workspace, run_id: str, tokens: list[str]) -> list[str]:
    """The ``tokens`` (hex pseudonyms) that output ``run_id`` holds."""
    with ws.engine.connect() as conn:
        hit = _members(_output_set(conn, run_id), tokens)
    return [t for t, h in zip(tokens, hit, strict=True) if h]
