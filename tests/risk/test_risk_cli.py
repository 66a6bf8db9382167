"""`veil risk` and `veil anonymize`, driven as a user would (through `veil.cli.main.main`)."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from veil.cli import risk as risk_cli
from veil.cli.main import app, main


@pytest.fixture(scope="module", autouse=True)
def registered() -> None:
    """The lead wires `register(app)` into main.py; until then (or in any case) make sure the
    commands are there exactly once."""
    names = {c.name for c in app.registered_commands}
    if "risk" not in names:
        risk_cli.register(app)


def veil(*args: str) -> int:
    return main(list(args))


@pytest.fixture(scope="module")
def adult(conformance_dir: Path) -> Path:
    return conformance_dir / "adult"


def hier(adult: Path, *qis: str) -> list[str]:
    out = []
    for q in qis:
        out += ["--hierarchy", f"{q}={adult / f'adult_hierarchy_{q}.csv'}"]
    return out


def test_report_in_the_terminal(adult: Path, capsys) -> None:
    code = veil(
        "risk",
        str(adult / "adult.csv"),
        "--delimiter",
        ";",
        "--qi",
        "sex,age,race",
        "--qi",
        "marital-status",
        "--sensitive",
        "salary-class",
        *hier(adult, "age"),
        "--top",
        "3",
    )
    out = capsys.readouterr().out
    assert code == 0, out
    for text in (
        "records              30,162",
        "equivalence classes  1,690",
        "k (smallest class)   1",
        "sample uniqueness",
        "prosecutor risk",
        "records at risk",
        "Equivalence class sizes",
        "salary-class",
        "Which quasi-identifier makes records unique",
        "Riskiest classes",
    ):
        assert text in out, text
    # the riskiest classes are masked: a 17-year-old shows as 1*
    assert "│ 1*  │" in out and "│ 17 " not in out


def test_json_matches_an_independent_count(adult: Path, capsys) -> None:
    assert (
        veil(
            "risk",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "--qi",
            "sex,age,race,marital-status",
            "--sensitive",
            "salary-class",
            "--json",
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    with (adult / "adult.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    classes = Counter((x["sex"], x["age"], x["race"], x["marital-status"]) for x in rows)
    assert r["records"] == len(rows) == 30162
    assert r["classes"] == len(classes) == 1690
    assert r["k"] == min(classes.values()) == 1
    assert r["sample_uniqueness"] == pytest.approx(
        sum(1 for c in classes.values() if c == 1) / len(rows)
    )
    assert r["records_at_risk"] == pytest.approx(
        sum(c for c in classes.values() if 1 / c > 0.2) / len(rows)
    )
    assert r["class_size_distribution"]["1"] == 543
    assert r["sensitive"]["salary-class"]["distinct_l"] == 1
    assert r["qi_contributions"][0]["quasi_identifier"] == "age"
    assert r["sensitive"]["salary-class"]["t_ordered"] is None  # text: no order


def test_numeric_sensitive_from_parquet(tmp_path: Path, capsys) -> None:
    table = pa.table({"zip": ["1001", "1001", "1002", "1002"], "income": [10.0, 20.0, 30.0, 40.0]})
    pq.write_table(table, tmp_path / "t.parquet")
    assert (
        veil(
            "risk",
            str(tmp_path / "t.parquet"),
            "--qi",
            "zip",
            "--sensitive",
            "income",
            "--numeric",
            "income",
            "--json",
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["k"] == 2
    # ordered EMD, by hand: values 10<20<30<40, Q = 1/4 each; class {10, 20}: cumulative
    # differences 1/4, 1/2, 1/4, 0 -> sum 1, divided by m - 1 = 3
    assert r["sensitive"]["income"]["t_ordered"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--qi", "sex,agex"], 4, "column 'agex' is not in the data (columns: sex, age,"),
        (["--qi", "sex", "--sensitive", "salary"], 4, "column 'salary' is not in the data"),
        (["--qi", "sex", "--sensitive", "sex"], 3, "cannot be both quasi-identifier and sensitive"),
        (
            ["--qi", "sex", "--hierarchy", "race=r.csv"],
            3,
            "hierarchy is given for column 'race', which is neither",
        ),
        (
            ["--qi", "sex,age", "--hierarchy", "age=missing.csv"],
            3,
            "cannot read hierarchy for column 'age'",
        ),
        (["--qi", "sex,age", "--hierarchy", "age"], 3, "--hierarchy takes COLUMN=VALUE"),
        (["--qi", "sex", "--numeric", "age"], 3, "must also be a sensitive attribute"),
        (["--qi", "sex", "--threshold", "0"], 3, "risk threshold must be in (0, 1]"),
    ],
)
def test_bad_options_fail_with_one_line(
    adult: Path, tmp_path: Path, monkeypatch, capsys, args: list[str], code: int, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    assert veil("risk", str(adult / "adult.csv"), "--delimiter", ";", *args) == code
    err = capsys.readouterr().err
    assert message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_value_missing_from_its_hierarchy(adult: Path, tmp_path: Path, capsys) -> None:
    lines = (adult / "adult_hierarchy_age.csv").read_text().splitlines()
    (tmp_path / "age.csv").write_text("\n".join(x for x in lines if not x.startswith("17;")))
    assert (
        veil(
            "risk",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "--qi",
            "sex,age",
            "--hierarchy",
            f"age={tmp_path / 'age.csv'}",
        )
        == 4
    )
    err = capsys.readouterr().err
    assert "column 'age': value '17'" in err and "not in its generalization hierarchy" in err


def test_inconsistent_hierarchy(adult: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "sex.csv").write_text("Male;M;*\nFemale;F;*\nOther;M;?\n")
    assert (
        veil(
            "risk",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "--qi",
            "sex",
            "--hierarchy",
            f"sex={tmp_path / 'sex.csv'}",
        )
        == 3
    )
    err = capsys.readouterr().err
    assert (
        "hierarchy for column 'sex'" in err
        and "value 'M' at level 1 has two different parents at level 2: '*' and '?'" in err
    )


def test_empty_table(tmp_path: Path, capsys) -> None:
    (tmp_path / "e.csv").write_text("sex,age\n")
    assert veil("risk", str(tmp_path / "e.csv"), "--qi", "sex,age") == 4
    assert "empty table" in capsys.readouterr().err


def test_help_has_an_example(capsys) -> None:
    for command in ("risk", "anonymize"):
        assert veil(command, "--help") == 0
        assert "Example: veil " + command in capsys.readouterr().out


def test_anonymize_writes_the_optimum(adult: Path, tmp_path: Path, capsys) -> None:
    qis = ["sex", "age", "race", "marital-status", "education"]
    out = tmp_path / "safe.parquet"
    assert (
        veil(
            "anonymize",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "-o",
            str(out),
            "--qi",
            ",".join(qis),
            *hier(adult, *qis),
            "--k",
            "5",
            "--suppression",
            "4%",
            "--json",
        )
        == 0
    )
    r = json.loads(capsys.readouterr().out)
    assert r["before"]["k"] == 1 and r["after"]["k"] >= 5
    assert r["suppressed_records"] <= 0.04 * 30162
    assert r["output"]["sha256"] and r["output"]["path"] == str(out)
    released = pq.read_table(out)
    assert released.num_rows == r["rows"]["out"] == 30162 - r["suppressed_records"]
    sizes = released.group_by(qis).aggregate([([], "count_all")])["count_all"]
    assert pc.min(sizes).as_py() >= 5
    assert (
        released.column_names
        == pacsv.read_csv(
            adult / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";")
        ).column_names
    )


def test_anonymize_to_csv_with_l_diversity(adult: Path, tmp_path: Path, capsys) -> None:
    qis = ["sex", "age", "race", "marital-status"]
    out = tmp_path / "safe.csv"
    assert (
        veil(
            "anonymize",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "-o",
            str(out),
            "--qi",
            ",".join(qis),
            *hier(adult, *qis),
            "--k",
            "3",
            "--l",
            "salary-class=2",
            "--suppression",
            "0.05",
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "Anonymized into" in text and "distinct l-diversity of salary-class" in text
    released = pacsv.read_csv(out)
    groups = released.group_by(qis).aggregate(
        [("salary-class", "count_distinct"), ([], "count_all")]
    )
    assert pc.min(groups["salary-class_count_distinct"]).as_py() >= 2
    assert pc.min(groups["count_all"]).as_py() >= 3


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--k", "40000"], 6, "no generalization of sex, age"),
        (["--k", "5", "--suppression", "4x"], 3, "suppression_limit"),
        (["--l", "salary-class=1.5"], 3, "whole number"),
        ([], 3, "give at least one privacy model"),
    ],
)
def test_anonymize_errors(
    adult: Path, tmp_path: Path, capsys, args: list[str], code: int, message: str
) -> None:
    out = tmp_path / "x.parquet"
    assert (
        veil(
            "anonymize",
            str(adult / "adult.csv"),
            "--delimiter",
            ";",
            "-o",
            str(out),
            "--qi",
            "sex,age",
            *hier(adult, "sex", "age"),
            *args,
        )
        == code
    )
    assert message in capsys.readouterr().err
    assert not out.exists()
