"""The Decisions pages' data: the review queue (the decisions ``DecisionLedger.review_queue``
lists, as ``veil decisions queue`` and ``GET /v1/decisions/queue`` do, counted and cut to the
soonest due in SQL: the library's call loads every waiting decision, seconds with 10,000), the
last 30 days' decisions counted in the store, the registered models with the fairness figures
of their cards, the bias checks recorded in the audit log, and one decision's explanation
(``explanation_for``).

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
from veil.store.schema import decision_events, decision_models, decisions
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


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def review_queue(engine: sa.Engine, now: datetime, limit: int = QUEUE_SHOWN
                 ) -> tuple[list[QueueItem], int, int]:
    """The soonest ``limit`` decisions waiting for a person, how many wait, how many overdue.

    The same rule as ``veil.decisions.review.queue``: automated decisions (not a final human
    one) not yet reviewed, routed to review or contested; due when the contest is (a contest
    with a due date), else when the routing said. tests/ui check the two agree."""
    d, e = decisions.c, decision_events.c
    reviewed = sa.select(e.decision_id).where(e.kind == "review")
    contest = (sa.select(e.decision_id.label("id"), sa.func.max(e.due).label("due"))
               .where(e.kind == "contest").group_by(e.decision_id).subquery())
    contested = sa.and_(contest.c.id.is_not(None), contest.c.due.is_not(None))
    due = sa.case((contested, contest.c.due), else_=d.review_due)
    why = sa.case((contested, sa.literal("contest")), else_=d.review)
    waiting = (sa.select(d.id, d.model, d.model_version, d.purpose, d.outcome, d.score,
                         d.threshold, d.decided_at, why.label("why"), due.label("due"))
               .select_from(decisions.outerjoin(contest, contest.c.id == d.id))
               .where(d.final_of.is_(None), d.id.not_in(reviewed),
                      sa.or_(d.review.is_not(None), contest.c.id.is_not(None)),
                      due.is_not(None)))
    w = waiting.subquery()
    late = sa.case((w.c.due < now, 1), else_=0)
    q = (sa.select(w, sa.func.count().over().label("total"),
                   sa.func.sum(late).over().label("late"))
         .order_by(w.c.due, w.c.id).limit(limit))  # one pass: the counts ride on each row
    with read_connection(engine, "reading the review queue") as conn:
        rows = conn.execute(q).all()
    total, overdue = (rows[0].total, rows[0].late) if rows else (0, 0)
    items = []
    for r in rows:
        when = _utc(r.due) or now
        items.append(QueueItem(decision_id=r.id, why=str(r.why), due=when, overdue=when < now,
                               model=f"{r.model}.v{r.model_version}", purpose=r.purpose,
                               outcome=r.outcome, score=r.score, threshold=r.threshold,
                               since=_utc(r.decided_at) or now))
    return items, int(total or 0), int(overdue or 0)


def overview(ledger: Any, *, actor: str, now: datetime | None = None) -> DecisionsOverview:
    """The Decisions page; reading the queue is an audit event (``decision.queue``, with the
    counts, as the library's ``review_queue(actor=...)`` records it)."""
    from veil.decisions import trail

    now = now or datetime.now(UTC)
    queue, waiting, overdue = review_queue(ledger.engine, now)
    ledger.audit([trail.event("decision.queue", actor, "decisions",
                              "Art. 22(3) human intervention",
                              counts={"waiting": waiting, "overdue": overdue})])
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
           "RecentCounts", "review_queue"]
