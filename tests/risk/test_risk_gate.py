"""The release gate on a run's Parquet output: pass untouched, fix by generalization, refuse."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from veil.errors import InputError, RunRefused
from veil.policy.risk import RiskPolicy
from veil.risk.gate import GateResult, enforce, release_gate
from veil.risk.hierarchy import policy_hierarchies

AGE_H = "".join(f"{a};{a // 10 * 10}-{a // 10 * 10 + 9};*\n" for a in range(18, 100))
CITY_H = "Springfield;North;*\nShelbyville;North;*\nOgdenville;South;*\nCapital City;South;*\n"


@pytest.fixture
def pdir(tmp_path: Path) -> Path:
    (tmp_path / "age.csv").write_text(AGE_H)
    (tmp_path / "city.csv").write_text(CITY_H)
    return tmp_path


def write(tmp_path: Path, table: pa.Table, name: str = "staged.parquet") -> Path:
    path = tmp_path / name
    pq.write_table(table, path, row_group_size=4)  # several row groups: real streaming
    return path


def policy(**section) -> RiskPolicy:
    section.setdefault("hierarchies", {"age": "age.csv", "city": "city.csv"})
    return RiskPolicy.model_validate(section)


def small_table(extra_rows: int = 0) -> pa.Table:
    """12 people aged 21-26 and 31-36 in one city, plus outliers aged 45 (ids 100+)."""
    ages = [21, 22, 23, 24, 25, 26, 31, 32, 33, 34, 35, 36] + [45] * extra_rows
    n = len(ages)
    return pa.table(
        {
            "id": pa.array(list(range(n - extra_rows)) + list(range(100, 100 + extra_rows))),
            "age": pa.array(ages, pa.int64()),
            "city": pa.array(["Springfield"] * n),
            "income": pa.array([1000.0 * (i % 4 + 1) for i in range(n)]),
        }
    )


def test_a_table_that_passes_is_released_untouched(tmp_path: Path, pdir: Path) -> None:
    table = pa.table(
        {
            "age": [30, 30, 30, 40, 40, 40],
            "city": ["Springfield"] * 6,
            "diagnosis": ["flu", "cold", "flu", "cold", "flu", "cold"],
        }
    )
    staged = write(tmp_path, table)
    before_bytes = staged.read_bytes()
    out = tmp_path / "gated.parquet"
    risk = policy(min_k=3, l_diversity={"attribute": "diagnosis", "l": 2}, auto_generalize=True)
    g = release_gate(staged, out, risk, pdir, ["age", "city"])
    assert g.passed and not g.generalized and g.outcome == "passed"
    assert g.output == staged and not out.exists()
    assert staged.read_bytes() == before_bytes
    assert g.before is not None and g.before.k == 3 and g.after is None
    assert g.before.sensitive["diagnosis"].distinct_l == 2
    assert [c.passed for c in g.checks_before] == [True, True]
    rec = g.to_receipt()
    json.dumps(rec)  # JSON-ready
    assert rec["outcome"] == "passed" and rec["transformation"] is None
    assert rec["rows"] == {"in": 6, "out": 6, "suppressed": 0}
    assert rec["before"]["k"] == 3 and rec["after"] is None
    assert rec["before"]["class_size_distribution"] == [
        {"label": "3-4", "min": 3, "max": 4, "classes": 2, "records": 6}
    ]
    assert "riskiest_classes" not in rec["before"]  # no values in the receipt, masked or not


def test_a_failing_table_is_generalized(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table(extra_rows=1))  # 13 rows, one aged 45
    out = tmp_path / "gated.parquet"
    risk = policy(min_k=3, suppression_limit=0.1, auto_generalize=True)
    g = release_gate(staged, out, risk, pdir, ["age", "city"])
    assert not g.passed and g.generalized and g.outcome == "generalized"
    assert g.output == out and out.is_file()
    t = g.transformation
    assert t is not None
    # by hand: decades make classes of 6, 6 and 1; suppressing the one record (allowed:
    # floor(0.1 * 13) = 1) costs 6 log2 6 + 6 log2 6 = 31.02 bits of non-uniform entropy,
    # against 13 log2 13 = 48.1 for age '*'; the city is the same everywhere (no cost kept)
    assert t.levels == {"age": 1, "city": 0}
    assert t.info_loss == pytest.approx(12 * math.log2(6))
    assert g.suppressed_records == 1 <= math.floor(0.1 * 13)
    assert (g.rows_in, g.rows_out) == (13, 12)
    assert g.before is not None and g.before.k == 1
    assert g.after is not None and g.after.k == 6 >= 3
    released = pq.read_table(out)
    assert released.schema.field("age").type == pa.string()  # generalized: labels
    assert released.schema.field("income").type == pa.float64()  # the rest as it was
    assert released.schema.field("id").type == pa.int64()
    assert sorted(released["id"].to_pylist()) == list(range(12))  # the 45-year-old is gone
    assert Counter(released["age"].to_pylist()) == {"20-29": 6, "30-39": 6}
    assert released["income"].to_pylist() == small_table()["income"].to_pylist()
    rec = g.to_receipt()
    json.dumps(rec)
    assert rec["before"]["k"] == 1 and rec["after"]["k"] == 6
    assert rec["transformation"]["levels"]["age"] == {"level": 1, "top": 2, "hierarchy": "age.csv"}
    assert rec["suppressed_records"] == 1 and rec["rows"]["out"] == 12
    assert rec["information_loss"] == pytest.approx(12 * math.log2(6))
    assert rec["checks_before"][0]["passed"] is False
    assert rec["checks_after"][0] == {
        "model": "k-anonymity",
        "k": 3,
        "figure": "k",
        "value": 6.0,
        "requirement": "k >= 3",
        "passed": True,
        "failing_classes": 0,
        "failing_records": 0,
    }
    assert g.sha256 is not None and len(g.sha256) == 64


def test_without_suppression_the_gate_generalizes_further(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table(extra_rows=1))
    g = release_gate(
        staged, tmp_path / "o.parquet", policy(min_k=3, auto_generalize=True), pdir, ["age", "city"]
    )
    assert g.transformation is not None and g.transformation.levels == {"age": 2, "city": 0}
    assert g.suppressed_records == 0 and g.after is not None and g.after.k == 13


def test_refused_when_auto_generalize_is_off(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table(extra_rows=1))
    out = tmp_path / "gated.parquet"
    with pytest.raises(RunRefused) as info:
        release_gate(staged, out, policy(min_k=3, suppression_limit=0.1), pdir, ["age", "city"])
    msg = str(info.value)
    assert "k-anonymity (k >= 3) fails: k = 1" in msg
    assert "13 of 13 records in 13 classes" in msg
    assert "auto_generalize" in msg and "nothing was published" in msg
    assert "Springfield" not in msg and "45" not in msg  # figures, never values
    assert info.value.exit_code == 6
    assert not out.exists()
    assert not list(tmp_path.glob(".gated.parquet.*"))  # no temporary left behind


def test_refused_when_no_generalization_is_enough(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table(extra_rows=1))
    out = tmp_path / "gated.parquet"
    with pytest.raises(
        RunRefused,
        match=r"no generalization of age, city .* within the "
        r"suppression limit \(10.00%, 1 of 13 records\)",
    ):
        release_gate(
            staged,
            out,
            policy(min_k=20, suppression_limit=0.1, auto_generalize=True),
            pdir,
            ["age", "city"],
        )
    assert not out.exists() and not list(tmp_path.glob(".gated.parquet.*"))


def test_only_released_qis_are_measured(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table().drop_columns(["city"]))
    risk = policy(min_k=2, l_diversity={"attribute": "diagnosis", "l": 2}, auto_generalize=True)
    g = release_gate(staged, tmp_path / "o.parquet", risk, pdir, ["age", "city", "zip"])
    assert g.quasi_identifiers == ("age",)
    assert g.not_released == ("city", "zip")
    assert g.skipped_models == (
        {
            "model": "distinct l-diversity",
            "attribute": "diagnosis",
            "l": 2,
            "reason": "attribute not released",
        },
    )
    assert g.transformation is not None and g.transformation.levels == {"age": 1}
    rec = g.to_receipt()
    assert rec["quasi_identifiers_not_released"] == ["city", "zip"]
    assert rec["before"]["quasi_identifiers"] == ["age"]


def test_no_qi_released_means_one_class(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table().select(["id", "income"]))
    g = release_gate(staged, tmp_path / "o.parquet", policy(min_k=5), pdir, ["age", "city"])
    assert g.passed and g.before is not None and g.before.k == 12
    assert g.before.quasi_identifiers == () and g.to_receipt()["quasi_identifiers"] == []
    with pytest.raises(RunRefused, match="no quasi-identifier is released"):
        release_gate(
            staged, tmp_path / "o.parquet", policy(min_k=20, auto_generalize=True), pdir, ["age"]
        )


def test_an_empty_table_passes(tmp_path: Path, pdir: Path) -> None:
    staged = write(tmp_path, small_table().slice(0, 0))
    g = release_gate(staged, tmp_path / "o.parquet", policy(min_k=5), pdir, ["age", "city"])
    assert g.passed and g.before is None and g.outcome == "empty"
    assert g.to_receipt()["before"] is None


def test_a_qi_without_hierarchy_is_kept_or_hidden(tmp_path: Path, pdir: Path) -> None:
    table = pa.table({"zip": ["1001", "1002", "1003", "1004"], "sex": ["F", "F", "M", "M"]})
    staged = write(tmp_path, table)
    g = release_gate(
        staged,
        tmp_path / "o.parquet",
        policy(min_k=2, auto_generalize=True, hierarchies={}),
        pdir,
        ["zip", "sex"],
    )
    assert g.transformation is not None and g.transformation.levels == {"zip": 1, "sex": 0}
    assert g.to_receipt()["transformation"]["levels"]["zip"]["hierarchy"] == "value or *"
    assert pq.read_table(tmp_path / "o.parquet")["zip"].to_pylist() == ["*"] * 4


def test_a_value_missing_from_its_hierarchy(tmp_path: Path, pdir: Path) -> None:
    table = small_table(extra_rows=1).set_column(
        2, "city", pa.array(["Springfield"] * 12 + ["Atlantis"])
    )
    staged = write(tmp_path, table)
    out = tmp_path / "o.parquet"
    with pytest.raises(
        InputError,
        match="column 'city': value 'Atlantis' at row 12 .0-based. is not in its generalization",
    ):
        release_gate(staged, out, policy(min_k=3, auto_generalize=True), pdir, ["age", "city"])
    assert not out.exists()


def test_t_closeness_is_checked_against_the_measured_table(
    tmp_path: Path, conformance_dir: Path
) -> None:
    """Suppression shifts the released distribution; the guarantee (and its re-check) is
    against the table the gate measured, as the search enforced it."""
    adult = conformance_dir / "adult"
    table = pacsv.read_csv(adult / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    qis = ["sex", "age", "race", "marital-status", "education"]
    staged = write(tmp_path, table.select([*qis, "salary-class"]))
    risk = RiskPolicy.model_validate(
        {
            "min_k": 5,
            "t_closeness": {"attribute": "salary-class", "t": 0.2},
            "suppression_limit": "4%",
            "auto_generalize": True,
            "hierarchies": {q: str(adult / f"adult_hierarchy_{q}.csv") for q in qis},
        }
    )
    g = release_gate(staged, tmp_path / "o.parquet", risk, tmp_path, qis)
    assert g.generalized and g.after is not None and g.suppressed_records > 0
    assert all(c.passed for c in g.checks_after)
    t_after = g.checks_after[1].value
    assert t_after <= 0.2 + 1e-12 and g.after.sensitive["salary-class"].t_equal == t_after
    # recompute the released classes' EMD against the measured table by hand
    before = Counter(table["salary-class"].to_pylist())
    released = pq.read_table(tmp_path / "o.parquet")
    classes: dict[tuple, Counter] = {}
    for row in released.to_pylist():
        classes.setdefault(tuple(row[q] for q in qis), Counter())[row["salary-class"]] += 1

    def worst(reference: Counter) -> float:
        total = sum(reference.values())
        return max(
            0.5 * sum(abs(c[v] / sum(c.values()) - reference[v] / total) for v in reference)
            for c in classes.values()
        )

    assert worst(before) == pytest.approx(t_after)
    # against the released table's own distribution the figure differs (suppression moved it)
    own = Counter(released["salary-class"].to_pylist())
    assert worst(own) != pytest.approx(t_after)
    assert min(sum(c.values()) for c in classes.values()) >= 5


def test_enforce_with_another_sink(tmp_path: Path, pdir: Path) -> None:
    """The lead can hand in any sink (an encrypting one): commit only when the table holds."""

    class Memory:
        def __init__(self, schema: pa.Schema) -> None:
            self.schema, self.batches, self.rows, self.bytes = schema, [], 0, 0
            self.committed = self.aborted = False

        def write(self, batch: pa.RecordBatch) -> None:
            self.batches.append(batch)
            self.rows += batch.num_rows

        def commit(self) -> str:
            self.committed = True
            return "digest"

        def abort(self) -> None:
            self.aborted = True

    sinks: list[Memory] = []

    def factory(schema: pa.Schema) -> Memory:
        sinks.append(Memory(schema))
        return sinks[-1]

    table = small_table(extra_rows=1)
    hs = policy_hierarchies(policy(), pdir)
    g = enforce(
        lambda cols: iter(
            table.select(cols).to_batches(max_chunksize=5)
            if cols is not None
            else table.to_batches(max_chunksize=5)
        ),
        table.schema,
        policy(min_k=3, suppression_limit=0.1, auto_generalize=True),
        hs,
        ["age", "city"],
        sink_factory=factory,
    )
    assert isinstance(g, GateResult) and g.sha256 == "digest"
    assert sinks[0].committed and not sinks[0].aborted and sinks[0].rows == 12

    def broken(cols):  # the second pass sees a different table: abort, never commit
        if cols is None:
            return iter(table.set_column(1, "age", pa.array([99] * 13)).to_batches())
        return iter(table.select(cols).to_batches())

    with pytest.raises(InputError, match="equivalence class the search never saw"):
        enforce(
            broken,
            table.schema,
            policy(min_k=3, suppression_limit=0.1, auto_generalize=True),
            hs,
            ["age", "city"],
            sink_factory=factory,
        )
    assert sinks[1].aborted and not sinks[1].committed


# -- the Adult table, k = 5, 4 % ----------------------------------------------------------------

ADULT_QIS = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
]
# the optimum of tests/risk/test_risk_adult.py (verified there against all 12,960 nodes)
ADULT_OPTIMUM = {
    "sex": 1,
    "age": 0,
    "race": 1,
    "marital-status": 1,
    "education": 3,
    "native-country": 2,
    "workclass": 2,
    "occupation": 0,
    "salary-class": 1,
}


def test_adult_through_the_gate(tmp_path: Path, conformance_dir: Path) -> None:
    adult = conformance_dir / "adult"
    table = pacsv.read_csv(adult / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    staged = tmp_path / "staged.parquet"
    pq.write_table(table, staged, row_group_size=8192)
    out = tmp_path / "gated.parquet"
    risk = RiskPolicy.model_validate(
        {
            "min_k": 5,
            "suppression_limit": "4%",
            "auto_generalize": True,
            "hierarchies": {q: f"adult/adult_hierarchy_{q}.csv" for q in ADULT_QIS},
        }
    )
    risk.check({q: type("F", (), {"quasi_identifier": True})() for q in ADULT_QIS}, conformance_dir)
    g = release_gate(
        staged,
        out,
        risk,
        conformance_dir,
        risk.resolve_qis({q: type("F", (), {"quasi_identifier": True})() for q in ADULT_QIS}),
    )
    t = g.transformation
    assert t is not None and t.levels == ADULT_OPTIMUM
    assert t.suppressed_records == 906 <= math.floor(0.04 * 30162)
    assert t.info_loss == pytest.approx(264971.582558082)
    assert g.before is not None and (g.before.k, g.before.classes) == (1, 19502)
    assert g.after is not None and g.after.k >= 5 and g.after.classes == 1046
    assert g.rows_out == 30162 - 906
    # independently: generalize the CSV rows with the hierarchy CSVs, drop classes below 5
    hs = {}
    for q in ADULT_QIS:
        with (adult / f"adult_hierarchy_{q}.csv").open(newline="") as fh:
            hs[q] = {r[0]: r for r in csv.reader(fh, delimiter=";")}
    with (adult / "adult.csv").open(newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        next(reader)
        gen = Counter(
            tuple(hs[q][v][ADULT_OPTIMUM[q]] for q, v in zip(ADULT_QIS, row, strict=True))
            for row in reader
        )
    expected = Counter({c: n for c, n in gen.items() if n >= 5})
    released = pq.read_table(out)
    got = Counter(tuple(str(v) for v in row.values()) for row in released.to_pylist())
    assert got == expected
    rec = g.to_receipt()
    assert rec["before"]["k"] == 1 and rec["after"]["k"] == 5
    assert rec["suppressed_records"] == 906
    assert {q: v["level"] for q, v in rec["transformation"]["levels"].items()} == ADULT_OPTIMUM


def test_the_docs_gate_example_runs_as_written(conformance_dir: Path, monkeypatch, capsys) -> None:
    import re

    root = Path(__file__).resolve().parents[2]
    docs = (root / "docs" / "risk.md").read_text()
    block = next(
        b for b in re.findall(r"```python\n(.*?)```", docs, flags=re.S) if "release_gate" in b
    )
    monkeypatch.chdir(root)  # the example's relative path to ../shared/conformance
    exec(compile(block, "docs/risk.md", "exec"), {})
    out = capsys.readouterr().out.splitlines()
    expected = [line.removeprefix("# ") for line in block.splitlines() if line.startswith("# ")]
    assert out == expected


def test_measure_only_and_every_rule_kind(tmp_path: Path, pdir: Path) -> None:
    """A section without models only measures; each rule kind maps to its model and figure."""
    from veil.risk.metrics import aggregate, t_closeness_hierarchical

    (pdir / "diag.csv").write_text("flu;infection;*\ncold;infection;*\nasthma;chronic;*\n")
    table = pa.table(
        {
            "age": [30, 30, 30, 40, 40, 40],
            "city": ["Springfield"] * 6,
            "diagnosis": ["flu", "cold", "flu", "asthma", "flu", "asthma"],
            "income": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )
    staged = write(tmp_path, table)
    g = release_gate(staged, tmp_path / "o.parquet", policy(), pdir, ["age", "city"])
    assert g.passed and g.models == () and g.before is not None and g.before.k == 3
    risk = policy(
        min_k=3,
        l_diversity=[{"attribute": "diagnosis", "l": 2, "kind": "recursive", "c": 3}],
        t_closeness=[
            {
                "attribute": "diagnosis",
                "t": 0.9,
                "distance": "hierarchical",
                "hierarchy": "diag.csv",
            },
            {"attribute": "income", "t": 0.9, "distance": "ordered"},
        ],
        alpha_k={"attribute": "diagnosis", "alpha": 0.7, "k": 3},
        delta_disclosure={"attribute": "diagnosis", "delta": 5},
    )
    g = release_gate(staged, tmp_path / "o.parquet", risk, pdir, ["age", "city"])
    assert g.passed, [c.text() for c in g.checks_before]
    figures = {(c.model["model"], c.figure): c.value for c in g.checks_before}
    ec = aggregate(table, ["age", "city"], ["diagnosis"])
    h = policy_hierarchies(risk, pdir)["diagnosis"]
    assert figures[("t-closeness (hierarchical distance)", "t")] == pytest.approx(
        t_closeness_hierarchical(ec, "diagnosis", h)
    )
    # by hand: class 30 = {flu 2, cold 1} -> r1 / (r2) = 2; class 40 = {asthma 2, flu 1} -> 2
    assert figures[("recursive l-diversity", "c*")] == pytest.approx(2.0)
    assert figures[("(alpha,k)-anonymity", "alpha")] == pytest.approx(2 / 3)
    assert g.before is not None and g.before.sensitive["income"].t_ordered is not None
    assert g.before.sensitive["diagnosis"].t_hierarchical is not None
    tight = policy(alpha_k={"attribute": "diagnosis", "alpha": 0.5, "k": 3})
    with pytest.raises(
        RunRefused,
        match=r"\(alpha,k\)-anonymity of 'diagnosis' "
        r"\(alpha <= 0.5, k >= 3\) fails: alpha = 0.6667",
    ):
        release_gate(staged, tmp_path / "o.parquet", tight, pdir, ["age", "city"])
