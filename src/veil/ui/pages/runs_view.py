"""The Runs pages' data: recent runs (one indexed query, with each output's expiry) and one
run's receipt made readable (rows in and out and why rows were dropped, fields kept,
transformed and dropped, risk figures, digests, the audit tree head that covers the run).

The receipt is the run's own record (``veil.pipeline.history.get_run``, as ``veil runs show``
prints it); this module only arranges it for reading and adds what happened to the output
since (retention: expiry, legal hold, disposal).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from veil.store.schema import retention_outputs, runs
from veil.store.transactions import read_connection
from veil.ui.charts import Chart, Series

PAGE_SIZE = 50


@dataclass(frozen=True)
class RunRow:
    id: str
    started_at: Any
    finished_at: Any
    status: str
    purpose: str
    dataset: str
    rows_in: int | None
    rows_out: int | None
    output_ref: str
    expires_at: Any
    disposal: str | None  # the retention state of the output (live, done, ...), None: none


@dataclass(frozen=True)
class RunList:
    rows: list[RunRow]
    total: int
    by_status: dict[str, int]
    page: int
    pages: int


def recent_runs(engine: sa.Engine, *, page: int = 1, size: int = PAGE_SIZE) -> RunList:
    """One page of runs, newest first, with their outputs' expiry; counts per status."""
    r, o = runs.c, retention_outputs.c
    q = (sa.select(r.id, r.started_at, r.finished_at, r.status, r.purpose, r.dataset, r.rows_in,
                   r.rows_out, r.output_ref, o.expires_at, o.state)
         .select_from(runs.outerjoin(retention_outputs, o.run_id == r.id))
         .order_by(r.started_at.desc(), r.id.desc())
         .limit(size).offset((page - 1) * size))
    with read_connection(engine, "listing runs") as conn:
        counts = {s: int(n) for s, n in conn.execute(
            sa.select(r.status, sa.func.count()).group_by(r.status))}
        rows = [RunRow(x.id, x.started_at, x.finished_at, x.status, x.purpose, x.dataset,
                       x.rows_in, x.rows_out, x.output_ref, x.expires_at, x.state)
                for x in conn.execute(q)]
    total = sum(counts.values())
    return RunList(rows, total, dict(sorted(counts.items())), page,
                   max(1, -(-total // size)))


@dataclass(frozen=True)
class Check:
    model: str
    figure: str
    value: Any
    requirement: Any
    passed: bool | None


@dataclass(frozen=True)
class RunView:
    """One run, arranged for reading."""

    run: dict[str, Any]  # the runs row (status, error, ...)
    receipt: dict[str, Any]  # {} for a run that did not finish
    facts: list[tuple[str, Any]]
    rows_chart: Chart | None
    stages: list[dict[str, Any]]
    kept: list[str]
    transformed: list[tuple[str, str, str]]  # field, transform, how
    dropped_fields: list[tuple[str, str]]
    risk: dict[str, Any] | None
    risk_checks: list[tuple[str, Check]]  # ("before" | "after", check)
    risk_figures: list[tuple[str, Any, Any]]  # figure, before, after
    digests: list[tuple[str, str]]
    audit: dict[str, Any] | None
    retention: dict[str, Any] | None
    rejects: dict[str, Any] | None
    warnings: list[str] = field(default_factory=list)


def rows_chart(rows: dict[str, Any]) -> Chart | None:
    """Rows in, and where they went: written, or dropped with the reason."""
    if not rows:
        return None
    dropped = rows.get("dropped") or {}
    labels = ["written to the output", *(f"dropped: {k}" for k in dropped)]
    values: list[float | int | None] = [rows.get("out"), *dropped.values()]
    return Chart(id="run-rows", kind="hbar", label_header="Where the rows went",
                 caption=f"Rows: {_n(rows.get('in'))} in, {_n(rows.get('out'))} out",
                 labels=labels, series=[Series("rows", values)])


def _n(v: Any) -> str:
    return "-" if v is None else f"{v:,}"


def _how(spec: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in (spec.get("params") or {}).items()]
    for key in ("algorithm", "domain", "key_id", "associated_data"):
        if spec.get(key):
            parts.append(f"{key.replace('_', ' ')}: {spec[key]}")
    return "; ".join(str(p) for p in parts)


_FIGURES = (("records", "records"), ("classes", "equivalence classes"),
            ("k", "k (smallest class)"), ("sample_uniqueness", "sample uniqueness"),
            ("prosecutor_risk_highest", "highest re-identification risk"),
            ("prosecutor_risk_average", "average re-identification risk"),
            ("records_at_risk", "records at risk"))


def _risk(risk: dict[str, Any] | None) -> tuple[list[tuple[str, Check]],
                                                list[tuple[str, Any, Any]]]:
    if not risk:
        return [], []
    checks = []
    for when in ("before", "after"):
        for c in risk.get(f"checks_{when}") or []:
            model = ", ".join(f"{k}={v}" for k, v in c.items()
                              if k not in {"figure", "value", "requirement", "passed",
                                           "failing_classes", "failing_records"})
            checks.append((when, Check(model, str(c.get("figure", "")), c.get("value"),
                                       c.get("requirement"), c.get("passed"))))
    before, after = risk.get("before") or {}, risk.get("after") or {}
    figures = [(label, before.get(key), after.get(key)) for key, label in _FIGURES
               if key in before or key in after]
    return checks, figures


def _facts(run: dict[str, Any], rec: dict[str, Any]) -> list[tuple[str, Any]]:
    purpose = rec.get("purpose") or {}
    policy = rec.get("policy") or {}
    return [("Status", run.get("status")), ("Purpose", run.get("purpose")),
            ("Legal basis", purpose.get("legal_basis_text") or purpose.get("legal_basis")),
            ("Dataset", run.get("dataset")), ("Started by", run.get("actor")),
            ("Policy", policy.get("name") or run.get("policy_path")),
            ("Input", run.get("input_ref")), ("Output", run.get("output_ref")),
            ("Subjects in the output (lineage)", (rec.get("lineage") or {}).get("subjects")),
            ("Retention", purpose.get("retention"))]


def _digests(run: dict[str, Any], rec: dict[str, Any]) -> list[tuple[str, str]]:
    out = rec.get("output") or {}
    enc = out.get("encryption") or {}
    pairs = [("input (SHA-256)", (rec.get("input") or {}).get("sha256") or run.get("input_digest")),
             ("output file (SHA-256)", out.get("sha256") or run.get("output_digest")),
             ("output plaintext (SHA-256)", enc.get("plaintext_sha256")),
             ("policy (SHA-256)", (rec.get("policy") or {}).get("sha256")
              or run.get("policy_digest"))]
    return [(k, v) for k, v in pairs if v]


def _retention(engine: sa.Engine, run_id: str) -> dict[str, Any] | None:
    with read_connection(engine, "reading a run's retention") as conn:
        row = conn.execute(sa.select(retention_outputs).where(
            retention_outputs.c.run_id == run_id)).first()
    return dict(row._mapping) if row is not None else None


def run_view(workspace: Any, run_id: str) -> RunView:
    """One run (id or unique prefix) as the page shows it; `VeilError` when there is none."""
    from veil.pipeline.history import get_run

    run = get_run(workspace, run_id)
    rec = run.get("receipt") or {}
    checks, figures = _risk(rec.get("risk"))
    fields = rec.get("fields") or {}
    return RunView(
        run=run, receipt=rec, facts=_facts(run, rec), rows_chart=rows_chart(rec.get("rows") or {}),
        stages=list(rec.get("stages") or []), kept=list(fields.get("kept") or []),
        transformed=[(name, str(spec.get("transform", "")), _how(spec))
                     for name, spec in (fields.get("transformed") or {}).items()],
        dropped_fields=[(d.get("field", ""), d.get("reason", ""))
                        for d in fields.get("dropped") or []],
        risk=rec.get("risk"), risk_checks=checks, risk_figures=figures,
        digests=_digests(run, rec), audit=rec.get("audit"),
        retention=_retention(workspace.engine, run["id"]), rejects=rec.get("rejects"),
        warnings=list(rec.get("warnings") or []))


__all__ = ["PAGE_SIZE", "RunList", "RunRow", "RunView", "recent_runs", "rows_chart", "run_view"]
