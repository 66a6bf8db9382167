"""The decision files of `veil decisions record --from` and `record-actual`: ids are read as text
(`00123` stays `00123`, an empty cell stays missing and is refused), a malformed line is one
error naming file:line without the line's text, and a JSON-lines file reads like a CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.decisions.ledger_fixtures import MODEL
from veil.cli.main import main
from veil.decisions.actuals import parse_actual
from veil.errors import InputError

PERSON = "jane.doe@example.com"


def _json(capsys: Any) -> Any:
    return json.loads(capsys.readouterr().out)


def _record(path: str) -> int:
    return main(["decisions", "record", MODEL, "--from", path, "-p", "sample", "--json"])


def _count(subject: str, capsys: Any) -> int:
    assert main(["decisions", "list", "--subject", subject, "--json"]) == 0
    return len(_json(capsys))


def test_a_subject_of_digits_keeps_its_zeros(ledger, capsys) -> None:
    Path("b.csv").write_text("subject,score,annual_income\n00123,0.7,1000\n")
    assert _record("b.csv") == 0
    assert _json(capsys)["recorded"] == 1
    assert _count("00123", capsys) == 1 and _count("123", capsys) == 0


def test_an_empty_subject_cell_is_refused_and_nothing_recorded(ledger, capsys) -> None:
    Path("b.csv").write_text("subject,score,annual_income\n00123,0.7,1000\n,0.2,1000\n")
    assert _record("b.csv") == 4
    err = capsys.readouterr().err
    assert "a subject id is missing" in err and "subjects[1]" in err
    for s in ("00123", "123", "None"):
        assert _count(s, capsys) == 0


def test_a_whole_number_id_is_its_digits_and_a_fraction_is_refused(ledger, capsys) -> None:
    pq.write_table(pa.table({"subject": [123], "score": [0.7], "annual_income": [1.0]}),
                   "ints.parquet")
    assert _record("ints.parquet") == 0
    capsys.readouterr()
    assert _count("123", capsys) == 1
    pq.write_table(pa.table({"subject": [1.5], "score": [0.7], "annual_income": [1.0]}),
                   "floats.parquet")
    assert _record("floats.parquet") == 4
    err = capsys.readouterr().err
    assert "floats.parquet" in err and "column 'subject'" in err and "text" in err
    Path("mixed.jsonl").write_text('{"subject": "A", "score": 0.1, "annual_income": 1}\n'
                                   '{"subject": 2.5, "score": 0.1, "annual_income": 1}\n')
    assert _record("mixed.jsonl") == 4
    err = capsys.readouterr().err
    assert "mixed.jsonl:2" in err and "column 'subject'" in err and "2.5" not in err


@pytest.mark.parametrize("command", ["record", "record-actual"])
def test_a_short_row_names_its_line_not_its_text(ledger, capsys, command) -> None:
    head = ("subject,score,annual_income" if command == "record" else "decision_id,actual")
    Path("c.csv").write_text(f"{head}\n{'A,0.1,1' if command == 'record' else 'a' * 32 + ',1'}"
                             f"\nJane Doe {PERSON}\n")
    args = (["record", MODEL, "--from", "c.csv", "-p", "sample"] if command == "record"
            else ["record-actual", "c.csv"])
    assert main(["decisions", *args]) == 4
    err = capsys.readouterr().err
    assert "c.csv:3" in err and "columns" in err and len(err.strip().splitlines()) == 1
    assert "Jane" not in err and PERSON not in err


def test_a_bad_decision_id_is_named_by_row_and_column_not_repeated(ledger, capsys) -> None:
    Path("a.csv").write_text(f"decision_id,actual\n{PERSON},1\n")
    assert main(["decisions", "record-actual", "a.csv"]) == 4
    err = capsys.readouterr().err
    assert "a.csv row 1: column decision id" in err and "32 hexadecimal" in err
    assert PERSON not in err and "jane" not in err


def test_a_broken_json_line_is_named(ledger, capsys) -> None:
    ids = list(ledger.record_batch(MODEL, ["S-1", "S-2"], pa.table({"annual_income": [1., 2.]}),
                                   [0.1, 0.9]))
    Path("a.jsonl").write_text(json.dumps({"decision_id": ids[0], "actual": 1}) + "\n"
                               + '{"decision_id": "' + ids[1] + '", "actual": }\n')
    assert main(["decisions", "record-actual", "a.jsonl"]) == 4
    err = capsys.readouterr().err
    assert "a.jsonl:2" in err and "row 1" not in err and ids[1] not in err


def test_json_outcomes_may_mix_booleans_and_numbers(ledger, capsys) -> None:
    ids = list(ledger.record_batch(MODEL, ["S-1", "S-2", "S-3"],
                                   pa.table({"annual_income": [1., 2., 3.]}), [0.1, 0.9, 0.5]))
    Path("a.jsonl").write_text("".join(json.dumps({"decision_id": d, "actual": a}) + "\n"
                                       for d, a in zip(ids, [True, 0.0, 1], strict=True)))
    assert main(["decisions", "record-actual", "a.jsonl", "--json"]) == 0
    assert _json(capsys) == {"recorded": 3, "positive": 2, "replaced": 0}
    assert [ledger.get(d).actual for d in ids] == [1, 0, 1]


@pytest.mark.parametrize(("text", "value"), [("0.0", 0), (" 1.0", 1), ("1e0", 1)])
def test_an_outcome_written_as_text_reads_as_its_number(text, value) -> None:
    assert parse_actual(text, "x") == value


def test_an_outcome_in_text_that_is_not_0_or_1_is_not_repeated() -> None:
    with pytest.raises(InputError) as err:
        parse_actual(PERSON, "a.csv row 4, actual")
    assert err.value.where == "a.csv row 4, actual" and "jane" not in err.value.message
    assert "0 or 1" in err.value.message
