"""`veil decisions model ...`: register a credit model (with the training-data gate), show it,
print its model card, list versions. Every command calls `veil.decisions.registry.ModelRegistry`.

``model_app`` is added to the ``decisions`` group (``decisions_app.add_typer(model_app,
name="model")``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil.cli.common import JsonBriefOpt, PolicyOpt, WorkspaceOpt, console, print_json
from veil.errors import InputError

model_app = typer.Typer(
    help="The model registry: credit models, their versions, training-data checks and model "
    "cards.\n\nExample: veil decisions model list",
    no_args_is_help=True, rich_markup_mode="markdown",
)


def _registry(workspace: Path | None, policy: str | None = None):  # type: ignore[no-untyped-def]
    from veil.decisions.registry import ModelRegistry
    from veil.store.workspace import Workspace

    pol = None
    if policy:
        from veil.policy import load_policy, policy_path

        pol = load_policy(policy_path(policy))
    return ModelRegistry(Workspace.find(workspace), pol)


def _metrics(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for it in items:
        name, sep, value = it.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--metric '{it}' is not NAME=VALUE", where="--metric")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            raise InputError(f"--metric '{name.strip()}' is not a number",
                             where="--metric") from None
    return out


def _read_table(path: Path, where: str) -> Any:
    import pandas as pd

    if not path.is_file():
        raise InputError(f"file not found: {path}", where=where)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as e:  # a malformed file: one line, no traceback
        raise InputError(f"cannot read {path.name}: {type(e).__name__}", where=where) from None


def _load_pickle(path: Path) -> Any:
    import joblib

    if not path.is_file():
        raise InputError(f"file not found: {path}", where="--estimator")
    try:
        return joblib.load(path)
    except Exception as e:
        raise InputError(f"cannot load the estimator: {type(e).__name__}",
                         where="--estimator") from None


def _holdout(path: Path | None, label: str | None, features: list[str],
             protected: list[str]) -> tuple[tuple[Any, Any], Any]:
    if path is None:
        if label or protected:
            raise InputError("--label and --protected need --holdout FILE", where="--holdout")
        return (None, None), None
    if not label:
        raise InputError("--holdout needs --label COLUMN (the observed outcome, 1 = favourable)",
                         where="--label")
    df = _read_table(path, "--holdout")
    missing = [c for c in [*features, label, *protected] if c not in df.columns]
    if missing:
        raise InputError(f"the holdout lacks column(s) {', '.join(missing)}", where=str(path))
    return (df[features], df[label]), (df[protected] if protected else None)


@model_app.command("register")
def register_cmd(
    name: Annotated[str, typer.Argument(help="Model name (a version number is added: v1, v2, "
                                        "...).")],
    purpose: Annotated[str, typer.Option("--purpose", help="The policy purpose whose "
                                         "automated_decisions the model serves.")],
    feature: Annotated[list[str], typer.Option(
        "--feature", "-f", help="A model input, in the estimator's column order; repeatable. "
        "Each must be declared in automated_decisions.features.")],
    trained_on: Annotated[list[str], typer.Option(
        "--trained-on", help="Run id (or prefix) or output path it was trained on; repeatable.")],
    policy: PolicyOpt = "sample",
    estimator: Annotated[Path | None, typer.Option(
        "--estimator", help="A scikit-learn estimator saved with joblib/pickle. Loading a pickle "
        "runs code: give only a file you made. It is copied into the workspace.")] = None,
    threshold: Annotated[float, typer.Option(min=-1e12, max=1e12,
                                             help="Score at or above which the decision is an "
                                             "approval.")] = 0.5,
    kind: Annotated[str | None, typer.Option(help="linear | tree | external (default: from the "
                                             "estimator).")] = None,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="NAME=VALUE measured elsewhere (e.g. auc=0.81); repeatable.")] = None,
    holdout: Annotated[Path | None, typer.Option(
        "--holdout", help="CSV or Parquet with the features and --label: the card's AUC, "
        "accuracy, Brier score.")] = None,
    label: Annotated[str | None, typer.Option(help="The holdout's outcome column (1 = the "
                                              "favourable outcome).")] = None,
    protected: Annotated[list[str] | None, typer.Option(
        "--protected", help="A holdout column holding a protected attribute the policy lists: "
        "the card gets a fairness report; repeatable.")] = None,
    accept_stale: Annotated[bool, typer.Option(
        "--accept-stale", help="Register even though the training data holds subjects erased, "
        "withdrawn, objecting or restricted since (needs --reason; recorded).")] = False,
    reason: Annotated[str | None, typer.Option(help="Why stale data is accepted.")] = None,
    description: Annotated[str | None, typer.Option(help="What the model is.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who registers (default: VEIL_ACTOR or the "
                                              "OS user).")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Register a model version after checking its training data, and write its model card.

    Refused (exit 6, nothing stored) when a training output's run failed, was made for another
    purpose, lacks the consent filter or risk figures the policy requires, or holds subjects
    erased, withdrawn, objecting or restricted since (only this last one may be accepted with
    --accept-stale --reason TEXT).

    Example: veil decisions model register credit-pd --purpose credit_scoring -f annual_income
    --trained-on credit.parquet --estimator pd.pkl --holdout holdout.csv --label repaid
    """
    protected = list(protected or [])
    (X, y), prot = _holdout(holdout, label, list(feature), protected)
    est = _load_pickle(estimator) if estimator is not None else None
    m = _registry(workspace, policy).register(
        name, purpose=purpose, features=list(feature), trained_on=list(trained_on),
        threshold=threshold, estimator=est, kind=kind, metrics=_metrics(list(metric or [])),
        holdout=(X, y) if X is not None else None, protected=prot,
        accept_stale=accept_stale, reason=reason, actor=actor, description=description)
    if as_json:
        print_json(m.to_dict(), ensure_ascii=True)
        return
    gate = m.card["training_data_gate"]
    console.print(f"Registered [bold]{escape(m.id)}[/] ({m.kind}, threshold {m.threshold:g}); "
                  f"training data: {gate['outcome']}; card: models/{escape(m.id)}.card.md")


@model_app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="Model name, or name.v<k>.")],
    version: Annotated[int | None, typer.Option(min=1, max=999_999_999,
                                                help="Version (default: the latest).")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show one registered model version: purpose, features, threshold, artifact, training runs.

    Example: veil decisions model show credit-pd
    """
    m = _registry(workspace).get(name, version)
    d = m.to_dict()
    if as_json:
        print_json(d, ensure_ascii=True)
        return
    for k, v in d.items():
        console.print(f"[bold]{k}[/]: {escape(', '.join(v) if isinstance(v, list) else str(v))}")


@model_app.command("card")
def card_cmd(
    name: Annotated[str, typer.Argument(help="Model name, or name.v<k>.")],
    version: Annotated[int | None, typer.Option(min=1, max=999_999_999,
                                                help="Version (default: the latest).")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the card here "
                                             "(.md or .json) instead of printing it.")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print (or write) a model's card: intended use, training data and its checks, features
    with their reason texts, metrics, fairness, limitations.

    Example: veil decisions model card credit-pd -o credit-pd.card.md
    """
    from veil.decisions.model_card import card_json, card_markdown
    from veil.io.writers import atomic_write_bytes

    m = _registry(workspace).get(name, version)
    as_json = as_json or (out is not None and out.suffix.lower() == ".json")
    text = card_json(m.card) if as_json else card_markdown(m.card)
    if out is None:
        print(text, end="")
        return
    out.unlink(missing_ok=True)
    atomic_write_bytes(out, text.encode())
    console.print(f"Wrote {escape(str(out))}")


@model_app.command("list")
def list_cmd(
    name: Annotated[str | None, typer.Option(help="Only this model's versions.")] = None,
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List registered model versions with their purpose and training-data check.

    Example: veil decisions model list
    """
    models = _registry(workspace).list(name=name)
    if as_json:
        print_json([m.to_dict() for m in models], ensure_ascii=True)
        return
    t = Table("model", "purpose", "kind", "threshold", "features", "registered (UTC)", "gate")
    for m in models:
        d = m.to_dict()
        t.add_row(escape(m.id), m.purpose, m.kind, f"{m.threshold:g}", str(len(m.features)),
                  d["registered_at"][:19], str(d["gate"]))
    console.print(t)
