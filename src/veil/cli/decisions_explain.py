"""`veil decisions explain` and `veil decisions fairness`: thin shells over
`veil.decisions.explanation.explanation_for` and `veil.decisions.fairness.fairness_report`.

`veil.cli.decisions` adds them to its group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil.cli.common import MAX_SEED, JsonBriefOpt, WorkspaceOpt, console, print_json
from veil.errors import InputError

__all__ = ["explain_cmd", "fairness_cmd"]

_FORMATS = ("md", "html", "json")


def _ledger(workspace: Path | None, policy: str | None) -> Any:
    if policy is None:
        raise InputError("this command needs the policy: add --policy FILE (or -p sample)",
                         where="--policy")
    from veil.decisions import DecisionLedger
    from veil.policy import load_policy
    from veil.store.workspace import Workspace

    return DecisionLedger(Workspace.find(workspace), load_policy(policy))


def explain_cmd(
    decision: Annotated[str, typer.Argument(help="Decision id (32 hex digits).")],
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Write the explanation to this file (default: print it).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="md | html | json (default: md, or "
                                     "from the --out suffix).")] = "",
    policy: Annotated[str | None, typer.Option("--policy", "-p", help="Policy YAML file, or "
                                               "'sample' (required: its reason texts and "
                                               "rights).")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who reads the decision "
                                              "(recorded).")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write the explanation of a decision for the person (Art. 15(1)(h) GDPR, Art. 86 AI Act):
    the outcome, the model, the main factors in plain language, the score and threshold, the
    person's rights and the review history. Works after erasure (from the stored reasons).

    Example: veil decisions explain 3f2a9c0e4b7d4e21a5c6b8d9e0f1a2b3 -p policy.yaml -o expl.html
    """
    from veil.decisions.explanation import explanation_for

    fmt = fmt or (out.suffix.lstrip(".").lower() if out is not None else "md")
    fmt = {"markdown": "md", "htm": "html"}.get(fmt, fmt)
    if fmt not in _FORMATS:
        raise InputError(f"unknown format '{fmt[:20]}' (md, html, json)", where="--format")
    ex = explanation_for(_ledger(workspace, policy), decision, actor=actor)
    text = {"md": ex.to_markdown, "html": ex.to_html,
            "json": lambda: json.dumps(ex.to_dict(), indent=2, ensure_ascii=False) + "\n"}[fmt]()
    if out is None:
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"Explanation of decision {ex.decision_id} written to {escape(str(out))}")


def _protected_table(path: Path) -> Any:
    if not path.is_file():
        raise InputError("no such file", where=str(path))
    if path.suffix.lower() in (".csv", ".txt", ""):
        return path  # read as text, so ids like 0042 stay as written
    from veil.io.readers import read_table

    return read_table(path)


def _when(text: str | None, what: str) -> Any:
    from datetime import datetime

    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"'{text[:40]}' is not a date (YYYY-MM-DD or ISO 8601)",
                         where=what) from None
    return t if t.tzinfo else t.astimezone()


def _summary(report: Any) -> Table:
    t = Table("attribute", "group", "decisions", "selection rate", "FPR", "FNR")
    n = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    for a in report.attributes:
        for g in a.groups:
            t.add_row(escape(a.attribute), escape(g.group), str(g.decisions),
                      n(g.selection_rate), n(g.false_positive_rate), n(g.false_negative_rate))
        t.add_row(escape(a.attribute), "[bold]difference[/]", "",
                  f"DP {n(a.demographic_parity_difference)}", "",
                  f"EO {n(a.equalized_odds_difference)}")
    return t


def fairness_cmd(
    protected: Annotated[Path, typer.Option(
        "--protected", help="The protected attributes: a CSV (or Parquet/JSONL) with subject_id "
        "and one column per attribute the policy lists. Read into memory only; never stored.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for fairness.html, "
                                      "fairness.json and one PNG per attribute.")] = Path(
                                          "fairness"),
    purpose: Annotated[str | None, typer.Option(help="The purpose (default: the policy's one "
                                                "purpose with automated decisions).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Before this date (ISO 8601).")] = None,
    positive: Annotated[str, typer.Option(help="The favourable outcome.")] = "approve",
    resamples: Annotated[int, typer.Option(min=0, max=100_000,
                                           help="Bootstrap resamples for the intervals.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED,
                                      help="Bootstrap seed (reports are reproducible).")] = 0,
    policy: Annotated[str | None, typer.Option("--policy", "-p", help="Policy YAML file, or "
                                               "'sample' (required).")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Who runs the check "
                                              "(recorded).")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Bias monitoring (Art. 10(2)(f) AI Act): selection rates, error rates where actual outcomes
    are recorded, demographic-parity and equalized-odds differences by protected attribute
    (as Fairlearn defines them), with bootstrap intervals; writes HTML, JSON and PNGs and
    records an audit event (figures only). The protected attributes stay in memory and are
    discarded (Art. 10(5)).

    Example: veil decisions fairness -p policy.yaml --protected protected.csv -o fairness/
    """
    from veil.decisions.fairness import fairness_report

    if resamples < 0:
        raise InputError("--resamples must be 0 or more", where="--resamples")
    table = _protected_table(protected)
    led = _ledger(workspace, policy)
    report = fairness_report(led, table, policy=led.policy, purpose=purpose,
                             since=_when(since, "--since"), until=_when(until, "--until"),
                             positive=positive, resamples=resamples, seed=seed, actor=actor)
    del table
    out.mkdir(parents=True, exist_ok=True)
    (out / "fairness.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n",
                                       encoding="utf-8")
    (out / "fairness.html").write_text(report.to_html(), encoding="utf-8")
    for attr, png in report.plots.items():
        (out / f"{attr}.png").write_bytes(png)
    if as_json:
        print_json(report.to_dict())
        return
    console.print(_summary(report))
    console.print(f"{report.matched} of {report.decisions} decisions matched; report written to "
                  f"{escape(str(out))}/fairness.html")
