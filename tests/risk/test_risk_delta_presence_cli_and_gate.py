"""delta-presence with a population table file: `veil risk --population`, `veil anonymize
--population --delta-min --delta-max`, the policy's `risk.delta_presence` (checked by
`policy check`), and the run's release gate (a violation publishes nothing, exit 6)."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

import veil
from veil.errors import PolicyError, RunRefused
from veil.policy.risk import RiskPolicy, RiskPolicyError


class Field:
    def __init__(self, type: str = "string", qi: bool = False) -> None:
        self.type, self.quasi_identifier, self.sensitive = type, qi, False


def _age_band(a: int) -> str:
    return f"{a // 10 * 10}s"


@pytest.fixture(scope="module")
def tables(tmp_path_factory) -> Path:
    """pop.csv (400 people: sex, age), sample.csv (a ~30 % sample with id and salary),
    age.csv (ARX hierarchy: age -> 5-year band -> decade -> *)."""
    root = tmp_path_factory.mktemp("presence")
    rng = random.Random(7)
    people = [(rng.choice("MF"), rng.randint(20, 59)) for _ in range(400)]
    (root / "pop.csv").write_text("sex,age\n" + "".join(f"{s},{a}\n" for s, a in people))
    sample = [p for p in people if rng.random() < 0.3]
    (root / "sample.csv").write_text(
        "id,sex,age,salary\n"
        + "".join(f"{i},{s},{a},{rng.choice(['lo', 'hi'])}\n" for i, (s, a) in enumerate(sample))
    )
    (root / "age.csv").write_text(
        "".join(f"{a};{a // 5 * 5}-{a // 5 * 5 + 4};{_age_band(a)};*\n" for a in range(20, 60))
    )
    return root


def _counts(path: Path, age=lambda a: a, sex=lambda s: s) -> Counter:
    t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"age": "string"}))
    sexes, ages = t["sex"].to_pylist(), t["age"].to_pylist()
    return Counter(zip([sex(s) for s in sexes], [age(a) for a in ages], strict=True))


# -- veil risk --population ----------------------------------------------------------------------


def test_risk_reports_delta_by_hand(veil_cli, tables: Path, capsys) -> None:
    code = veil_cli(
        "risk",
        tables / "sample.csv",
        "--qi",
        "sex,age",
        "--population",
        tables / "pop.csv",
        "--json",
    )
    assert code == 0
    got = json.loads(capsys.readouterr().out)["presence"]
    pop, smp = _counts(tables / "pop.csv"), _counts(tables / "sample.csv")
    deltas = [smp[c] / pop[c] for c in smp]
    assert got["delta_min"] == pytest.approx(min(deltas))
    assert got["delta_max"] == pytest.approx(max(deltas))
    assert got["population_classes"] == len(pop)
    assert got["classes_not_in_sample"] == len(set(pop) - set(smp))
    assert got["records_not_in_sample"] == sum(pop[c] for c in set(pop) - set(smp))
    assert (
        veil_cli(
            "risk", tables / "sample.csv", "--qi", "sex,age", "--population", tables / "pop.csv"
        )
        == 0
    )
    assert "delta-presence" in capsys.readouterr().out


def test_the_population_itself_has_delta_one(veil_cli, tables: Path, capsys) -> None:
    pop = tables / "pop.csv"
    assert veil_cli("risk", pop, "--qi", "sex,age", "--population", pop, "--json") == 0
    got = json.loads(capsys.readouterr().out)["presence"]
    assert got["delta_min"] == got["delta_max"] == 1.0 and got["classes_not_in_sample"] == 0


# -- veil anonymize --population ------------------------------------------------------------------


def test_anonymize_meets_delta_presence(veil_cli, tables: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "safe.csv"
    code = veil_cli(
        "anonymize",
        tables / "sample.csv",
        "-o",
        out,
        "--qi",
        "sex,age",
        "--hierarchy",
        f"age={tables / 'age.csv'}",
        "--population",
        tables / "pop.csv",
        "--delta-min",
        "0.1",
        "--delta-max",
        "0.4",
        "--json",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["models"] == [
        {"model": "delta-presence", "delta_min": 0.1, "delta_max": 0.4, "population": "pop.csv"}
    ]
    assert not body["checks_before"][0]["passed"] and body["checks_after"][0]["passed"]
    levels = body["transformation"]["levels"]
    ages = {
        0: str,
        1: lambda a: f"{int(a) // 5 * 5}-{int(a) // 5 * 5 + 4}",
        2: lambda a: _age_band(int(a)),
        3: lambda a: "*",
    }[levels["age"]["level"]]
    sexes = {0: str, 1: lambda s: "*"}[levels["sex"]["level"]]
    # independently: the released classes against the population generalized the same way
    released, pop = _counts(out), _counts(tables / "pop.csv", ages, sexes)
    deltas = [released[c] / pop[c] for c in released]
    assert all(0.1 <= d <= 0.4 for d in deltas)
    assert body["after"]["presence"]["delta_max"] == pytest.approx(max(deltas))
    assert all(released[c] > 0 for c in pop)  # delta_min 0.1: no class left unreached


def test_a_violation_without_a_solution_writes_nothing(
    veil_cli, tables: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "o.csv"
    code = veil_cli(
        "anonymize",
        tables / "sample.csv",
        "-o",
        out,
        "--qi",
        "sex,age",
        "--hierarchy",
        f"age={tables / 'age.csv'}",
        "--population",
        tables / "pop.csv",
        "--delta-max",
        "0.01",
    )
    assert code == 6
    assert "delta-presence (0 <= delta <= 0.01) fails" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("sex,age\nM,30\nF,31,x\n", "bad.csv:3: expected 2 fields, found 3"),
        ("sex,years\nM,30\n", "bad.csv: quasi-identifier 'age' is not a column of the popul"),
        ("sex,age\nM,30\nF,99\n", r"bad.csv: column 'age': value '99' at row 1 \(0-based\)"),
        ("sex,age\nM,30\n", "bad.csv: .* records of the table fall in .* classes the popul"),
        ("sex,age\n", "bad.csv: empty population table"),
    ],
)
def test_a_bad_population_table_is_named(
    veil_cli, tables: Path, tmp_path: Path, capsys, content: str, message: str
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    out = tmp_path / "o.csv"
    code = veil_cli(
        "anonymize",
        tables / "sample.csv",
        "-o",
        out,
        "--qi",
        "sex,age",
        "--hierarchy",
        f"age={tables / 'age.csv'}",
        "--population",
        bad,
        "--delta-max",
        "0.5",
    )
    err = capsys.readouterr().err
    assert code == 4, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert re.search(message, err), err
    assert not out.exists()


def test_delta_options_need_each_other(veil_cli, tables: Path, tmp_path: Path, capsys) -> None:
    base = ["anonymize", tables / "sample.csv", "-o", tmp_path / "o.csv", "--qi", "sex,age"]
    assert veil_cli(*base, "--delta-max", "0.5") == 3
    assert "need --population" in capsys.readouterr().err
    assert veil_cli(*base, "--population", tables / "pop.csv") == 3
    assert "needs --delta-max" in capsys.readouterr().err
    assert (
        veil_cli(
            *base, "--population", tables / "pop.csv", "--delta-min", "0.6", "--delta-max", "0.5"
        )
        == 3
    )
    assert "delta_min (0.6) must not exceed delta_max (0.5)" in capsys.readouterr().err
    assert (
        veil_cli(
            "risk",
            tables / "sample.csv",
            "--sensitive",
            "salary",
            "--population",
            tables / "pop.csv",
        )
        == 3
    )


# -- the policy ------------------------------------------------------------------------------------


def test_policy_section_validates_the_population(tables: Path) -> None:
    fields = {"sex": Field(qi=True), "age": Field("integer", qi=True), "salary": Field()}
    ok = RiskPolicy.model_validate({"delta_presence": {"population": "pop.csv", "delta_max": 0.5}})
    assert ok.has_models and ok.describe_models()[-1]["model"] == "delta-presence"
    ok.check(fields, tables)
    missing = RiskPolicy.model_validate(
        {"delta_presence": {"population": "nope.csv", "delta_max": 0.5}}
    )
    with pytest.raises(RiskPolicyError, match=r"risk.delta_presence.population: .* not found"):
        missing.check(fields, tables)
    fields["zip"] = Field(qi=True)
    with pytest.raises(RiskPolicyError, match="quasi-identifier 'zip' is not a column"):
        ok.check(fields, tables)
    with pytest.raises(ValueError, match="delta_max"):
        RiskPolicy.model_validate({"delta_presence": {"population": "p.csv"}})


# -- the run's release gate ------------------------------------------------------------------------

POLICY = """\
version: 1
controller: {name: Test Bank, contact: dpo@example.com}
datasets:
  people:
    subject_id: id
    fields:
      id: {category: direct_identifier}
      sex: {category: demographic, quasi_identifier: true}
      age: {category: demographic, type: integer, quasi_identifier: true}
      salary: {category: income_credit, sensitive: true}
    risk:
      delta_presence: {population: POP, delta_max: 0.5}
      auto_generalize: AUTO
      hierarchies:
        age: age.csv
purposes:
  research:
    description: statistics
    legal_basis: legitimate_interests
    legitimate_interest: research
    retention: 1 year
    datasets:
      people:
        fields: {sex: keep, age: keep, salary: keep}
"""


def _policy(tables: Path, auto: str, pop: str = "pop.csv") -> Path:
    path = tables / f"policy_{auto}_{pop.replace('.', '_')}.yaml"
    path.write_text(POLICY.replace("AUTO", auto).replace("POP", pop))
    return path


def test_policy_check_names_the_line_of_a_missing_population(tables: Path) -> None:
    from veil.policy import load_policy

    policy = _policy(tables, "true", "missing.csv")
    with pytest.raises(PolicyError, match="population table not found") as info:
        load_policy(policy)
    assert info.value.where == f"{policy}:12"


def test_the_run_refuses_a_table_that_fails_delta_presence(
    workspace, veil_cli, tables: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "refused.parquet"
    with pytest.raises(RunRefused, match=r"delta-presence \(0 <= delta <= 0.5\) fails"):
        veil.run(
            _policy(tables, "false"), "research", tables / "sample.csv", out, workspace=workspace
        )
    code = veil_cli(
        "run",
        "--policy",
        _policy(tables, "false"),
        "--purpose",
        "research",
        tables / "sample.csv",
        "-o",
        out,
    )
    assert code == 6 and "delta-presence" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if ".refused" in p.name]


def test_the_run_generalizes_until_delta_presence_holds(
    workspace, tables: Path, tmp_path: Path
) -> None:
    out = tmp_path / "released.parquet"
    result = veil.run(
        _policy(tables, "true"), "research", tables / "sample.csv", out, workspace=workspace
    )
    risk = result.receipt["risk"]
    assert risk["outcome"] == "generalized"
    assert [c["passed"] for c in risk["checks_after"]] == [True]
    assert risk["after"]["presence"]["delta_max"] <= 0.5
    assert veil.read(out).num_rows == result.rows_out
