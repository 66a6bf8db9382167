"""Rebuilding a run output without the subjects erased, withdrawn, objecting or restricted since:
the same purpose of the same policy, over the run's recorded input, to the same output path.

The run's own stages leave those subjects out (the ``rights`` stage drops excluded subjects, the
consent stage withdrawn ones), so the rebuilt output holds none of them. The old output is
disposed of first (file deleted, its own key destroyed: `veil.lifecycle.dispose_output`), then
the purpose runs again: if the rebuild fails the subject's data is still gone (the output is
then reported purged, with the error).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from veil.errors import VeilError
from veil.store.schema import runs

if TYPE_CHECKING:  # pragma: no cover
    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["RunInput", "rebuild_run", "run_input"]


@dataclass(frozen=True)
class RunInput:
    """What a run read and wrote, as the runs table recorded it."""

    run_id: str
    purpose: str
    dataset: str
    policy_path: str
    input: Path | None  # None: not a file Veil can read again (a DataFrame, a table, gone)
    output: Path
    why_not: str | None = None


def run_input(ws: Workspace, run_id: str) -> RunInput:
    """The run's recorded input, if it still exists as a file."""
    r = runs.c
    with ws.engine.connect() as conn:
        row = conn.execute(sa.select(r.id, r.purpose, r.dataset, r.policy_path, r.input_ref,
                                     r.output_ref).where(r.id == run_id)).first()
    if row is None:
        return RunInput(run_id, "", "", "", None, Path(), "the run is not recorded")
    ref = str(row.input_ref)
    path: Path | None = Path(ref)
    why = None
    if ref.startswith("<") or "://" in ref:
        path, why = None, "its input was not a file (a data frame or a database table)"
    elif not path.is_absolute() and not path.exists():  # type: ignore[union-attr]
        path = ws.root / ref
    if path is not None and not path.is_file():
        path, why = None, "its input file no longer exists"
    return RunInput(row.id, row.purpose, row.dataset, row.policy_path, path,
                    Path(row.output_ref), why)


def rebuild_run(ws: Workspace, policy: Policy, src: RunInput, *, actor: str) -> str:
    """Run the purpose again over the recorded input to the same output path; returns the new
    run id. The policy the run recorded is used when its file still loads, else ``policy``."""
    from veil.pipeline.run import run
    from veil.policy.loader import load_policy

    assert src.input is not None
    pol = policy
    if src.policy_path and Path(src.policy_path).is_file():
        try:
            pol = load_policy(src.policy_path)
        except VeilError:
            pol = policy
    result = run(pol, src.purpose, src.input, src.output, dataset=src.dataset or None,
                 workspace=ws, actor=actor)
    return result.run_id
