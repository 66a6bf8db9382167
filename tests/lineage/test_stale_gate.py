"""The stale-data gate: a model registered on an output that holds erased, withdrawn, objecting
or restricted subjects is refused, unless accepted with a reason (recorded)."""

from __future__ import annotations

import json
import os

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from veil.consent.models import SubjectRef
from veil.errors import InputError, RunRefused
from veil.lineage import Lineage, PseudonymSet, record_output, stale_subjects
from veil.lineage.marks import mark
from veil.rights.exclusions import add_exclusions
from veil.store.schema import consent_state


def _output(ws, run_id: str, ids: list[str], purpose: str = "credit_scoring") -> None:
    ref = SubjectRef(ws.root)
    with ws.engine.begin() as conn:
        record_output(conn, run_id=run_id, output=f"/tmp/{run_id}.parquet", digest="0" * 64,
                      purpose=purpose, dataset="transactions", rows=len(ids),
                      categories=["identifier"],
                      subjects=PseudonymSet.from_hex([ref.token(i) for i in ids]))


def test_stale_report_counts_each_reason_once(workspace) -> None:
    ids = [f"C-{i}" for i in range(20)]
    _output(workspace, "a" * 32, ids)
    ref = SubjectRef(workspace.root)
    assert not stale_subjects(workspace, "a" * 32)
    with workspace.engine.begin() as conn:
        add_exclusions(conn, ref.token("C-1"), "erased", ["*"], "r1")
        add_exclusions(conn, ref.token("C-1"), "restricted", ["*"], "r1b")  # erased wins
        add_exclusions(conn, ref.token("C-2"), "objected", ["credit_scoring"], "r2")
        add_exclusions(conn, ref.token("C-3"), "restricted", ["marketing"], "r3")  # not here
        add_exclusions(conn, ref.token("NOT-IN-OUTPUT"), "erased", ["*"], "r4")
        conn.execute(consent_state.insert(), [
            {"purpose": "credit_scoring", "subject": s, "status": st, "time_us": 1,
             "event_id": f"e{s[-12:]}"}
            for s, st in (("C-4", "withdrawn"), ("C-5", "granted"),
                          (f"erased:{ref.token('C-6')}", "withdrawn"))])
    r = stale_subjects(workspace, "a" * 32)
    assert (r.erased, r.withdrawn, r.objecting, r.restricted) == (1, 2, 1, 0)
    assert r.describe() == "4 subjects (1 erased, 2 withdrawn, 1 objecting)"
    assert stale_subjects(workspace, "a" * 32, consent=False).total == 2
    with pytest.raises(InputError, match="no recorded run output"):
        stale_subjects(workspace, "b" * 32)


def test_register_refused_then_accepted_with_reason(workspace, capsys) -> None:
    from veil.cli.main import main

    ids = [f"C-{i}" for i in range(5)]
    _output(workspace, "c" * 32, ids)
    with workspace.engine.begin() as conn:
        add_exclusions(conn, SubjectRef(workspace.root).token("C-0"), "erased", ["*"], "r1")
    lin = Lineage(workspace)
    with pytest.raises(RunRefused, match=r"holds 1 subject \(1 erased\)"):
        lin.register_model("pd.v1", ["c" * 32], actor="ml")
    with pytest.raises(InputError, match="needs --reason"):
        lin.register_model("pd.v1", ["c" * 32], actor="ml", accept_stale=True)
    os.chdir(workspace.root)
    assert main(["lineage", "register-model", "pd.v1", "--trained-on", "c" * 32]) == 6
    err = capsys.readouterr().err
    assert "1 subject (1 erased)" in err and "Traceback" not in err and "C-0" not in err
    assert len(err.strip().splitlines()) == 1
    assert main(["lineage", "register-model", "pd.v1", "--trained-on", "c" * 32,
                 "--accept-stale", "--reason", "baseline kept for comparison only"]) == 0
    m = lin.model("pd.v1")
    assert m.accepted_stale == "baseline kept for comparison only"
    with workspace.engine.connect() as conn:
        ev = conn.execute(sa.text("select event from audit_leaves where action = "
                                  "'lineage.model.register'")).scalars().all()
    d = json.loads(bytes(ev[-1]))
    assert d["details"]["accepted_stale"] == "baseline kept for comparison only"
    assert d["counts"]["stale_subjects"] == 1


def test_models_show_retrain_count(workspace) -> None:
    _output(workspace, "d" * 32, ["A", "B"])
    lin = Lineage(workspace)
    lin.register_model("m.v1", ["d" * 32], actor="ml")
    with workspace.engine.begin() as conn:
        assert mark(conn, "model", "m.v1", ["t1", "t2"], "erased", source="r1",
                    action="retrain") == 2
        assert mark(conn, "model", "m.v1", ["t1"], "erased", source="r1", action="retrain") == 0
    m = lin.model("m.v1")
    assert m.retrain_subjects == 2 and m.to_dict()["needs_retraining"]
    res = CliRunner().invoke(__import__("veil.cli.main", fromlist=["app"]).app,
                             ["lineage", "models", "--json", "--workspace", str(workspace.root)])
    assert json.loads(res.output)[0]["affected_subjects"] == 2, res.output
