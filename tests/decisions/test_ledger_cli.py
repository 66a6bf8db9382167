"""`veil decisions record|list|show|contest|review|queue` end to end: one decision and a batch
file, the queue, contest and review, and the one-line errors with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv

from tests.decisions.ledger_fixtures import MODEL, add_model
from veil.cli.main import main


def veil(*args: str) -> int:
    return main(list(args))


def _json(capsys) -> object:  # type: ignore[no-untyped-def]
    return json.loads(capsys.readouterr().out)


def test_cli_flow(workspace, capsys) -> None:
    add_model(workspace)
    assert veil("decisions", "record", MODEL, "CUST-1", "--score", "0.2", "-f",
                "annual_income=18000", "--reason", "annual_income=-0.8", "-p", "sample",
                "--json") == 0
    one = _json(capsys)
    assert one["outcome"] == "refuse" and one["status"] == "review"
    pcsv.write_csv(pa.table({"subject": ["A", "B", "C"], "score": [0.9, 0.1, 0.95],
                             "annual_income": [1.0, 2.0, 3.0]}), "batch.csv")
    assert veil("decisions", "record", MODEL, "--from", "batch.csv", "-p", "sample",
                "--json") == 0
    batch = _json(capsys)
    assert batch["recorded"] == 3 and batch["review"] == 1 and batch["skipped"] == {}
    assert veil("decisions", "queue", "--json") == 0
    assert [q["decision"] for q in _json(capsys)] == [one["id"], batch["ids"][1]]
    approved = batch["ids"][0]
    assert veil("decisions", "contest", approved, "--statement", "My income doubled",
                "-p", "sample") == 0
    assert "contested" in capsys.readouterr().out
    assert veil("decisions", "review", approved, "--reviewer", "Credit review team",
                "--outcome", "refuse", "--rationale", "Not verified", "-p", "sample") == 0
    capsys.readouterr()
    assert veil("decisions", "show", approved) == 0
    shown = _json(capsys)
    assert shown["status"] == "reviewed"
    assert [h["kind"] for h in shown["history"]] == ["contest", "review"]
    assert veil("decisions", "list", "--status", "reviewed", "--json") == 0
    assert [r["id"] for r in _json(capsys)] == [approved]
    assert veil("decisions", "list") == 0
    assert "credit-pd.v1" in capsys.readouterr().out


def test_cli_errors_are_one_line(workspace, capsys) -> None:
    add_model(workspace)
    assert veil("decisions", "record", MODEL, "S", "--score", "0.5", "-f", "religion=x",
                "-p", "sample") == 4
    err = capsys.readouterr().err
    assert "not declared" in err and len(err.strip().splitlines()) == 1
    assert veil("decisions", "record", MODEL, "S", "--score", "0.5") == 4
    assert "--policy" in capsys.readouterr().err
    assert veil("decisions", "contest", "0" * 32, "--statement", "x", "-p", "sample") == 4
    assert "no decision" in capsys.readouterr().err
    Path("bad.csv").write_text("subject,annual_income\nA,1\n")
    assert veil("decisions", "record", MODEL, "--from", "bad.csv", "-p", "sample") == 4
    assert "no column 'score'" in capsys.readouterr().err
