"""The risk gate inside `veil run` (needs the policy's `Dataset.risk` field and the gate call in
the run, which the pipeline wires in; skipped until then)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

import veil
from veil.errors import PolicyError, RunRefused
from veil.policy.model import Dataset

pytestmark = pytest.mark.skipif(
    "risk" not in Dataset.model_fields, reason="the policy's Dataset has no `risk` field yet"
)

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
      race: {category: racial_ethnic_origin, quasi_identifier: true}
      education: {category: demographic, quasi_identifier: true}
      salary: {category: income_credit, sensitive: true}
    risk:
      min_k: 5
      l_diversity: {attribute: salary, l: 2}
      suppression_limit: 4%
      auto_generalize: AUTO
      hierarchies:
        age: h/age.csv
        education: h/education.csv
purposes:
  research:
    description: statistics
    legal_basis: legitimate_interests
    legitimate_interest: research
    special_categories_condition: j   # Art. 9(2)(j): statistics (race is Art. 9 data)
    retention: 1 year
    datasets:
      people:
        fields: {sex: keep, age: keep, race: keep, education: keep, salary: keep}
"""


@pytest.fixture
def project(tmp_path: Path, conformance_dir: Path) -> Path:
    adult = conformance_dir / "adult"
    root = tmp_path / "project"
    (root / "h").mkdir(parents=True)
    for q in ("age", "education"):
        (root / "h" / f"{q}.csv").write_text((adult / f"adult_hierarchy_{q}.csv").read_text())
    lines = (adult / "adult.csv").read_text().splitlines()[1:]
    rows = ["id,sex,age,race,education,salary"]
    for i, line in enumerate(lines, start=1):
        sex, age, race, _ms, edu, _nc, _wc, _occ, salary = line.split(";")
        rows.append(f"{i},{sex},{age},{race},{edu},{salary}")
    (root / "people.csv").write_text("\n".join(rows) + "\n")
    for auto in ("true", "false"):
        (root / f"policy_{auto}.yaml").write_text(POLICY.replace("AUTO", auto))
    return root


def test_the_run_generalizes_and_records_the_gate(workspace, project: Path) -> None:

    out = project / "out.parquet"
    result = veil.run(
        project / "policy_true.yaml", "research", project / "people.csv", out, workspace=workspace
    )
    risk = result.receipt["risk"]
    assert risk["outcome"] == "generalized"
    assert risk["before"]["k"] == 1 and risk["after"]["k"] >= 5
    assert all(c["passed"] for c in risk["checks_after"])
    assert risk["suppressed_records"] <= 0.04 * 30162
    assert result.rows_out == 30162 - risk["suppressed_records"]
    assert (
        result.receipt["rows"]["dropped"]["suppressed by the risk gate"]
        == (risk["suppressed_records"])
    )
    table = veil.read(out)
    assert table.num_rows == result.rows_out
    sizes = table.group_by(["sex", "age", "race", "education"]).aggregate(
        [([], "count_all"), ("salary", "count_distinct")]
    )
    assert min(sizes["count_all"].to_pylist()) >= 5
    assert min(sizes["salary_count_distinct"].to_pylist()) >= 2
    assert hashlib.sha256(out.read_bytes()).hexdigest() == result.receipt["output"]["sha256"]
    on_disk = json.loads(result.receipt_path.read_text())
    assert on_disk["risk"]["transformation"]["levels"]["age"]["hierarchy"] == "age.csv"


def test_the_run_is_refused_and_publishes_nothing(workspace, project: Path) -> None:

    out = project / "off.parquet"
    with pytest.raises(RunRefused, match=r"k-anonymity \(k >= 5\) fails: k = 1"):
        veil.run(
            project / "policy_false.yaml",
            "research",
            project / "people.csv",
            out,
            workspace=workspace,
        )
    assert not out.exists()
    assert not [p for p in project.iterdir() if p.name.startswith(".off.parquet")]


def test_policy_check_names_the_line(project: Path) -> None:
    from veil.policy import load_policy

    bad = project / "bad.yaml"
    bad.write_text(POLICY.replace("AUTO", "true").replace("h/education.csv", "h/nope.csv"))
    with pytest.raises(PolicyError, match="hierarchy file for 'education' not found") as info:
        load_policy(bad)
    assert info.value.where == f"{bad}:20"
