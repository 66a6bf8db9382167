"""The Decisions pages' data: the review queue (``DecisionLedger.review_queue_counted``, as
``veil decisions queue`` and ``GET /v1/decisions/queue`` read it: counted over the indexes of
migration 0017 and cut to the soonest due in SQL), the last 30 days' decisions counted in the
store, the registered models with the fairness figures of their cards, the bias checks recorded
in the audit log, and one decision's explanation (``explanation_for``).

Everything here is pseudonymous: decisions name subjects by keyed pseudonym, fairness figures
are per group, and protected attributes are never stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from veil.decisions.records import QueueItem
from veil.store.schema import decision_models, decisions
from veil.store.transactions import read_connection
from veil.ui.charts import Chart, Series

QUEUE_SHOWN = 100  # the queue's soonest items shown on the page (the count is of all)
RECENT_DAYS = 30


@dataclass(frozen=True)
class ModelFairness:
    model: str  # name.vN
    purpose: str
    registered_at: datetime
    source: str | None  # what the figures were measured on (the holdout at registration)
    charts: list[Chart]  # selection rate per group, one per protected attribute
    differences: list[tuple[str, Any, Any]]  # attribute, demographic parity diff, equalized odds


@dataclass(frozen=True)
class FairnessCheck:
    """A bias check recorded in the audit log (``decisions.fairness``)."""

    index: int
    time: str
    actor: str
    purpose: str
    decisions: int | None
    figures: list[tuple[str, Any, Any]]  # attribute, demographic parity diff, equalized odds


@dataclass(frozen=True)
class RecentCounts:
    """The decisions of the last 30 days: automated ones per purpose and outcome, and the
    final decisions people made after a review. A pass over those days' rows: kept between
    requests (``veil.ui.pages.consent_cache``) when it is costly."""

    at: datetime
    automated: list[tuple[str, str, int]]  # purpose, outcome, decisions
    human: int
    seconds: float = 0.0


@dataclass(frozen=True)
class DecisionsOverview:
    queue: list[QueueItem]
    waiting: int
    overdue: int
    models: list[ModelFairness]
    checks: list[FairnessCheck]


def recent_counts(engine: sa.Engine, now: datetime | None = None) -> RecentCounts:
    """Automated decisions of the last 30 days per purpose and outcome, and the human ones."""
    t0 = time.perf_counter()
    now = now or datetime.now(UTC)
    d = decisions.c
    since = now - timedelta(days=RECENT_DAYS)
    with read_connection(engine, "counting decisions") as conn:
        rows = conn.execute(
            sa.select(d.purpose, d.outcome, sa.func.count())
            .where(d.decided_at >= since, d.final_of.is_(None))
            .group_by(d.purpose, d.outcome).order_by(d.purpose, d.outcome)).all()
        human = conn.execute(sa.select(sa.func.count()).where(
            d.decided_at >= since, d.final_of.is_not(None))).scalar()
    return RecentCounts(now, [(str(p), str(o), int(n)) for p, o, n in rows], int(human or 0),
                        time.perf_counter() - t0)


def recent_size(engine: sa.Engine, now: datetime | None = None) -> int:
    """How many decisions the 30-day counts would read (from the time index alone): a large
    window's first counts are computed in the background, not in the page's request."""
    since = (now or datetime.now(UTC)) - timedelta(days=RECENT_DAYS)
    with read_connection(engine, "sizing the decisions") as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(
            decisions.c.decided_at >= since)).scalar() or 0)


def _ci(ci: Any) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return ""
    return f"{100 * float(ci[0]):.1f}% to {100 * float(ci[1]):.1f}%"


def fairness_charts(model_id: str, fairness: dict[str, Any]) -> tuple[list[Chart], list[Any]]:
    """The selection rate of each group, per protected attribute (a card's fairness dict)."""
    charts, diffs = [], []
    for i, a in enumerate(fairness.get("attributes") or []):
        groups = a.get("groups") or []
        charts.append(Chart(
            id=f"fair-{model_id}-{i}".replace(".", "-"), kind="bar", percent=True,
            caption=f"{model_id}: approval rate by {a.get('attribute')}",
            label_header=str(a.get("attribute")),
            labels=[f"{g.get('group')} ({g.get('decisions', 0):,} decisions; 95% interval "
                    f"{_ci(g.get('selection_ci')) or 'n/a'})" for g in groups],
            series=[Series("approval rate", [g.get("selection_rate") for g in groups])]))
        diffs.append((a.get("attribute"), a.get("demographic_parity_difference"),
                      a.get("equalized_odds_difference")))
    return charts, diffs


def model_fairness(engine: sa.Engine) -> list[ModelFairness]:
    """Each registered model version with the fairness its card recorded (newest first)."""
    m = decision_models.c
    with read_connection(engine, "reading the model cards") as conn:
        rows = conn.execute(sa.select(m.name, m.version, m.purpose, m.registered_at, m.card)
                            .order_by(m.registered_at.desc()).limit(20)).all()
    out = []
    for r in rows:
        card = r.card if isinstance(r.card, dict) else json.loads(r.card or "{}")
        fair = card.get("fairness")
        model_id = f"{r.name}.v{r.version}"
        charts, diffs = fairness_charts(model_id, fair) if fair else ([], [])
        out.append(ModelFairness(model_id, r.purpose, r.registered_at,
                                 (fair or {}).get("source"), charts, diffs))
    return out


def fairness_checks(workspace: Any, limit: int = 10) -> list[FairnessCheck]:
    """The latest bias checks (``veil decisions fairness``), from their audit events."""
    from veil.audit.log import AuditLog

    out = []
    for logged in AuditLog(workspace).events(action="decisions.fairness", newest_first=True,
                                             limit=limit):
        ev = logged.event
        details = dict(ev.details)
        attrs = sorted({k.split(".", 1)[0] for k in details if "." in k})
        out.append(FairnessCheck(
            logged.idx, logged.time, logged.actor, logged.purpose,
            dict(ev.counts).get("decisions"),
            [(a, details.get(f"{a}.demographic_parity_difference"),
              details.get(f"{a}.equalized_odds_difference")) for a in attrs]))
    return out


def review_queue(engine: sa.Engine, now: datetime, limit: int = QUEUE_SHOWN
                 ) -> tuple[list[QueueItem], int, int]:
    """The soonest ``limit`` decisions waiting for a person, how many wait, how many overdue
    (`veil.decisions.review.waiting`, from the queue's indexes)."""
    from veil.decisions.review import waiting

    with read_connection(engine, "reading the review queue") as conn:
        return waiting(conn, now, limit)


def overview(ledger: Any, *, actor: str, now: datetime | None = None) -> DecisionsOverview:
    """The Decisions page; reading the queue is an audit event (``decision.queue``, with the
    counts, as the library's ``review_queue(actor=...)`` records it)."""
    queue, waiting, overdue = ledger.review_queue_counted(now, actor=actor, limit=QUEUE_SHOWN)
    return DecisionsOverview(
        queue=queue, waiting=waiting, overdue=overdue, models=model_fairness(ledger.engine),
        checks=fairness_checks(ledger.workspace))


def factors_chart(explanation: Any) -> Chart | None:
    """The main factors of one decision and how much each moved the score."""
    factors = [f for f in explanation.factors if f.get("contribution") is not None]
    if not factors:
        return None
    return Chart(id="decision-factors", kind="hbar", label_header="Factor",
                 caption="The factors that weighed most (contribution to the score)",
                 labels=[f"{f.get('feature')} ({f.get('direction')} the score)" for f in factors],
                 series=[Series("contribution", [float(f["contribution"]) for f in factors])])


__all__ = ["DecisionsOverview", "FairnessCheck", "ModelFairness", "factors_chart",
           "fairness_charts", "fairness_checks", "model_fairness", "overview", "recent_counts",
           "recent_size", "RecentCounts", "review_queue"]
