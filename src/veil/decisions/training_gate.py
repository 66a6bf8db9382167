"""The training-data gate: what a model's training outputs must show before it is registered.

For every training output (a published run output in lineage), read its run row and receipt and
check, in this order (`RULES` below, one row per check):

* **run**: the run is in the run history and succeeded (a failed run published nothing);
* **purpose**: the output was made for the model's purpose (Art. 5(1)(b): a credit model is not
  trained on the marketing purpose's output);
* **consent**: if the purpose needs consent (now, or when it ran), the receipt shows the run's
  consent stage, i.e. rows were filtered against the consent ledger at run time. The run's policy
  digest is compared with the registering policy's: a different digest is reported, and the
  purpose's legal basis and consent requirement must then be the same in both;
* **risk**: if the policy's dataset declares a `risk:` gate, the receipt must carry the gate's
  figures (k, l, t, suppression); the figures are copied to the model card either way;
* **stale**: no subject of the output is erased, withdrawn or objecting now (lineage's
  ``stale_subjects``). This is the only check ``--accept-stale --reason`` overrides: the others
  say the output should not have been used at all.

What it does not check: that the estimator was really trained on these outputs (the caller says
so), or the rows the caller filtered before training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:  # pragma: no cover
    from veil.lineage import OutputRecord
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace


@dataclass
class OutputCheck:
    """One training output as the gate saw it (the rules fill it in)."""

    run_id: str
    sha256: str
    purpose: str
    dataset: str
    rows: int
    subjects: int
    created_at: str
    policy_digest: str | None
    consent: str  # "not required" | "filtered at run time" | "missing"
    consent_rows_dropped: int
    risk: dict[str, Any] | None
    stale: dict[str, int] = field(default_factory=dict)  # why -> subjects
    problems: list[str] = field(default_factory=list)  # blocking, not overridable
    notes: list[str] = field(default_factory=list)

    @property
    def stale_count(self) -> int:
        return sum(self.stale.values())

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "sha256": self.sha256, "purpose": self.purpose,
                "dataset": self.dataset, "rows": self.rows, "subjects": self.subjects,
                "created_at": self.created_at, "policy_sha256": self.policy_digest,
                "consent": self.consent, "consent_rows_dropped": self.consent_rows_dropped,
                "risk": self.risk, "stale_subjects": dict(self.stale),
                "problems": list(self.problems), "notes": list(self.notes)}


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict over all training outputs."""

    outputs: list[OutputCheck]
    checked_at: datetime
    accepted_stale: bool = False
    reason: str | None = None

    @property
    def problems(self) -> list[str]:
        return [p for o in self.outputs for p in o.problems]

    @property
    def stale_count(self) -> int:
        return sum(o.stale_count for o in self.outputs)

    @property
    def outcome(self) -> str:
        if self.problems:
            return "refused"
        if self.stale_count:
            return "accepted_stale" if self.accepted_stale else "refused"
        return "passed"

    def refusal(self) -> str:
        """The one line a refused registration prints."""
        if self.problems:
            more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
            return self.problems[0] + more
        stale = [o for o in self.outputs if o.stale_count]
        o = stale[0]
        why = ", ".join(f"{n} {k}" for k, n in sorted(o.stale.items()))
        return (f"training output {o.run_id[:12]} holds {o.stale_count} subject(s) who are "
                f"{why} now: retrain without them, or give --accept-stale --reason TEXT")

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "checked_at": _iso(self.checked_at),
                "stale_subjects": self.stale_count, "accepted_stale": self.accepted_stale,
                "reason": self.reason, "problems": self.problems,
                "outputs": [o.to_dict() for o in self.outputs]}


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def risk_figures(receipt: dict[str, Any]) -> dict[str, Any] | None:
    """k, l, t and suppression from a receipt's ``risk`` section (None if the run had none)."""
    r = receipt.get("risk")
    if not isinstance(r, dict):
        return None
    m = r.get("after") or r.get("before") or {}
    sens = {}
    for a, s in (m.get("sensitive") or {}).items():
        ts = [s.get(k) for k in ("t_equal", "t_ordered", "t_hierarchical")]
        ts = [t for t in ts if t is not None]
        sens[a] = {"l_distinct": s.get("distinct_l"), "t_max": max(ts) if ts else None}
    return {"outcome": r.get("outcome"), "k": m.get("k"), "records": m.get("records"),
            "sensitive": sens, "suppressed_records": r.get("suppressed_records", 0),
            "suppression_limit": r.get("suppression_limit"),
            "models": r.get("models") or []}


def _consent_dropped(receipt: dict[str, Any]) -> int:
    dropped = (receipt.get("rows") or {}).get("dropped") or {}
    return sum(int(n) for k, n in dropped.items() if "consent" in k)


@dataclass
class _Ctx:
    policy: Policy
    purpose_id: str
    run: Any  # the run row (or None)
    receipt: dict[str, Any]
    out: OutputRecord
    check: OutputCheck


def _rule_run(c: _Ctx) -> None:
    if c.run is None:
        c.check.problems.append(f"training output {c.out.run_id[:12]} has no run in the run "
                                "history: its receipt cannot be checked")
    elif c.run.status != "succeeded":
        c.check.problems.append(f"training output {c.out.run_id[:12]}: its run "
                                f"{c.run.status}, it published nothing usable")


def _rule_purpose(c: _Ctx) -> None:
    if c.out.purpose != c.purpose_id:
        c.check.problems.append(
            f"training output {c.out.run_id[:12]} was made for purpose '{c.out.purpose}', not "
            f"'{c.purpose_id}' (Art. 5(1)(b) purpose limitation)")


def _rule_consent(c: _Ctx) -> None:
    rp = c.receipt.get("purpose") or {}
    now = c.policy.purposes.get(c.out.purpose)
    then_needs = bool(rp.get("consent_required"))
    now_needs = bool(now and now.needs_consent)
    same_digest = bool(c.policy.digest) and c.policy.digest == (c.receipt.get("policy") or {}
                                                               ).get("sha256")
    if not same_digest:
        c.check.notes.append("the run used a different policy file (sha256 "
                             f"{str(c.check.policy_digest)[:12]}) than this registration")
        if now is not None and (rp.get("legal_basis") != now.legal_basis
                                or then_needs != now_needs):
            c.check.problems.append(
                f"training output {c.out.run_id[:12]}: the purpose's legal basis or consent "
                "requirement changed since the run: run it again under this policy")
    if not (then_needs or now_needs):
        return
    stages = {s.get("stage") for s in c.receipt.get("stages") or []}
    if "consent" not in stages:
        c.check.consent = "missing"
        c.check.problems.append(f"training output {c.out.run_id[:12]}: purpose "
                                f"'{c.out.purpose}' needs consent but the run shows no consent "
                                "filter")
    else:
        c.check.consent = "filtered at run time"


def _rule_risk(c: _Ctx) -> None:
    ds = c.policy.datasets.get(c.out.dataset)
    declared = ds is not None and ds.risk is not None
    fig = c.check.risk
    if declared and fig is None:
        c.check.problems.append(f"training output {c.out.run_id[:12]}: dataset "
                                f"'{c.out.dataset}' declares a risk gate but the run has no "
                                "risk figures")


def _rule_stale(c: _Ctx, stale_of: Callable[[str], dict[str, int]]) -> None:
    c.check.stale.update({k: n for k, n in stale_of(c.out.run_id).items() if n})


RULES: list[tuple[str, Callable[[_Ctx], None]]] = [
    ("run succeeded", _rule_run),
    ("made for the model's purpose", _rule_purpose),
    ("consent filtered at run time when the purpose needs it", _rule_consent),
    ("risk figures present when the dataset declares a risk gate", _rule_risk),
]
"""The checks, in order; the stale-subject check follows them (it reads lineage)."""


def check_training_data(ws: Workspace, policy: Policy, purpose_id: str,
                        outputs: list[OutputRecord], *,
                        stale_of: Callable[[str], dict[str, int]],
                        at: datetime | None = None) -> GateResult:
    """Run every rule on every output; ``stale_of(run_id)`` counts the output's erased,
    withdrawn and objecting subjects by reason."""
    from veil.store.schema import runs

    checks = []
    with ws.engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(
            sa.select(runs.c.id, runs.c.status, runs.c.policy_digest, runs.c.receipt)
            .where(runs.c.id.in_([o.run_id for o in outputs])))}
    for out in outputs:
        run = rows.get(out.run_id)
        receipt = dict(run.receipt or {}) if run is not None else {}
        check = OutputCheck(
            run_id=out.run_id, sha256=out.digest, purpose=out.purpose, dataset=out.dataset,
            rows=out.rows, subjects=out.subject_count, created_at=_iso(out.created_at),
            policy_digest=run.policy_digest if run is not None else None,
            consent="not required", consent_rows_dropped=_consent_dropped(receipt),
            risk=risk_figures(receipt))
        ctx = _Ctx(policy, purpose_id, run, receipt, out, check)
        for _, rule in RULES:
            rule(ctx)
        _rule_stale(ctx, stale_of)
        checks.append(check)
    return GateResult(checks, at or datetime.now(UTC))
