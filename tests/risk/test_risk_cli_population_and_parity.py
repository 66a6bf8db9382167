"""`veil risk` / `veil anonymize`: the population options, the new models, and what the API
could do that the CLI could not (an order for text attributes, rows of bad values, no QIs)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from veil.policy.risk import RiskPolicy, RiskPolicyError
from veil.risk import measure
from veil.risk.population import population_uniqueness


def hierarchy_args(adult_path: Path, *qis: str) -> list[str]:
    out = []
    for q in qis:
        out += ["--hierarchy", f"{q}={adult_path / f'adult_hierarchy_{q}.csv'}"]
    return out


def test_risk_with_a_sampling_fraction(veil_cli, adult_path: Path, adult_table, capsys) -> None:
    code = veil_cli(
        "risk", adult_path / "adult.csv", "--delimiter", ";", "--qi", "sex,age,race",
        "--sampling-fraction", "10%", "--json",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    expected = measure(adult_table, ["sex", "age", "race"], sampling_fraction=0.1)
    assert body["population"]["uniqueness"] == pytest.approx(expected.population.uniqueness)
    assert body["population"]["chosen"] == "pitman"
    assert body["attacker"]["marketer"] == pytest.approx(expected.attacker.marketer)
    code = veil_cli(
        "risk", adult_path / "adult.csv", "--delimiter", ";", "--qi", "sex,age",
        "--population-size", "1000000", "--population-model", "zayatz",
    )
    out = capsys.readouterr().out
    assert code == 0 and "population uniqueness" in out and "zayatz" in out
    assert "journalist risk" in out and "marketer risk" in out


def test_risk_without_quasi_identifiers_measures_the_whole_table(
    veil_cli, adult_path: Path, capsys
) -> None:
    code = veil_cli(
        "risk", adult_path / "adult.csv", "--delimiter", ";", "--sensitive", "occupation",
        "--json",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["quasi_identifiers"] == [] and body["classes"] == 1
    assert body["sensitive"]["occupation"]["distinct_l"] == 14
    assert body["sensitive"]["occupation"]["t_equal"] == pytest.approx(0.0)
    assert veil_cli("risk", adult_path / "adult.csv", "--delimiter", ";") == 3
    assert "give quasi-identifiers" in capsys.readouterr().err


def test_order_of_a_text_attribute(veil_cli, tmp_path: Path, capsys) -> None:
    rows = ["zone,band"] + [f"{z},{b}" for z, b in [("n", "low")] * 3 + [("n", "high")]]
    rows += [f"{z},{b}" for z, b in [("s", "mid")] * 2 + [("s", "high")] * 2]
    src = tmp_path / "bands.csv"
    src.write_text("\n".join(rows) + "\n")
    code = veil_cli("risk", src, "--qi", "zone", "--sensitive", "band",
                    "--order", "band=low,mid,high", "--json")
    assert code == 0
    t = json.loads(capsys.readouterr().out)["sensitive"]["band"]["t_ordered"]
    # Q = (3/8, 2/8, 3/8) over low < mid < high; class n = (3/4, 0, 1/4):
    # CDF differences 3/8, 1/8 -> (3/8 + 1/8) / 2 = 0.25; class s = (0, 1/2, 1/2): 3/8, 1/8
    assert t == pytest.approx(0.25)
    out = tmp_path / "o.csv"
    code = veil_cli("anonymize", src, "-o", out, "--qi", "zone", "--t", "band=0.3",
                    "--t-distance", "ordered", "--order", "band=low,mid,high", "--json")
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["models"][0]["model"] == "t-closeness (ordered distance)"
    assert veil_cli("anonymize", src, "-o", out, "--qi", "zone", "--k", "2",
                    "--order", "band=low,high") == 3
    assert "has no --t" in capsys.readouterr().err


def test_a_null_quasi_identifier_is_named_with_its_row(
    veil_cli, tmp_path: Path, capsys
) -> None:
    src = tmp_path / "people.jsonl"
    src.write_text('{"age": 30, "sex": "M"}\n{"age": 40, "sex": "F"}\n{"age": null, "sex": "F"}\n')
    h = tmp_path / "age.csv"
    h.write_text("30;*\n40;*\n")
    code = veil_cli("anonymize", src, "-o", tmp_path / "o.csv", "--qi", "age,sex",
                    "--hierarchy", f"age={h}", "--k", "2")
    assert code == 4
    err = capsys.readouterr().err
    assert "column 'age': missing value (null) at row 2 (0-based)" in err
    assert not (tmp_path / "o.csv").exists()


def test_anonymize_to_a_population_uniqueness(
    veil_cli, adult_path: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "released.csv"
    code = veil_cli(
        "anonymize", adult_path / "adult.csv", "--delimiter", ";", "-o", out,
        "--qi", "sex,age,race,marital-status", *hierarchy_args(adult_path, "age"),
        "--model", "population", "--sampling-fraction", "1%", "--max-uniqueness", "0.05%",
        "--suppression", "3%", "--json",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    check = body["checks_after"][0]
    assert check["model"] == "population uniqueness" and check["passed"]
    assert check["value"] <= 0.0005
    released = pacsv.read_csv(out)
    sizes = (
        released.group_by(["sex", "age", "race", "marital-status"])
        .aggregate([([], "count_all")])["count_all"]
        .to_numpy()
    )
    est = population_uniqueness(sizes, population_size=100 * 30_162)
    assert est.uniqueness == pytest.approx(check["value"])


def test_anonymize_with_beta_likeness_and_a_quality_model(
    veil_cli, adult_path: Path, tmp_path: Path, capsys
) -> None:
    code = veil_cli(
        "anonymize", adult_path / "adult.csv", "--delimiter", ";", "-o", tmp_path / "o.parquet",
        "--qi", "sex,age,race", *hierarchy_args(adult_path, "age", "race", "sex"),
        "--beta", "salary-class=1", "--beta-kind", "basic", "--suppression", "5%",
        "--quality", "loss", "--aggregate", "arithmetic", "--json",
    )
    assert code == 0
    body = json.loads(capsys.readouterr().out)
    assert body["models"] == [
        {"model": "basic beta-likeness", "attribute": "salary-class", "beta": 1.0}
    ]
    assert body["transformation"]["quality_model"] == "loss"
    assert all(c["passed"] for c in body["checks_after"])
    assert veil_cli("anonymize", adult_path / "adult.csv", "--delimiter", ";", "-o",
                    tmp_path / "x.csv", "--qi", "sex", "--k", "2", "--model", "population") == 3
    assert "sampling_fraction or the population_size" in capsys.readouterr().err


def test_policy_section_for_a_population() -> None:
    risk = RiskPolicy.model_validate(
        {"model": "population", "sampling_fraction": "10%", "max_uniqueness": "1%",
         "max_risk": 0.2, "population_model": "pitman"}
    )
    assert risk.sampling_fraction == pytest.approx(0.1) and risk.has_models
    assert risk.describe_models() == [
        {"model": "population uniqueness", "max": 0.01, "population_model": "pitman",
         "sampling_fraction": 0.1},
        {"model": "highest journalist risk", "max": 0.2, "population_model": "pitman",
         "sampling_fraction": 0.1},
    ]
    sample = RiskPolicy.model_validate({"max_average_risk": 0.05})
    assert sample.describe_models() == [{"model": "average prosecutor risk", "max": 0.05}]
    for bad, where in (
        ({"model": "population"}, "model"),
        ({"sampling_fraction": 0.1}, "sampling_fraction"),
        ({"model": "population", "sampling_fraction": 0.1, "population_size": 10}, "model"),
        ({"aggregate": "rank"}, "aggregate"),
    ):
        with pytest.raises(ValueError) as exc:
            RiskPolicy.model_validate(bad)
        assert f"risk.{where}" in str(exc.value)
    with pytest.raises(ValueError, match="estimator applies only to kind entropy"):
        RiskPolicy.model_validate(
            {"l_diversity": {"attribute": "a", "l": 2, "estimator": "grassberger"}}
        )
    assert issubclass(RiskPolicyError, ValueError)


def test_gate_receipt_reports_the_population(
    adult_path: Path, adult_table: pa.Table, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from veil.risk import release_gate

    staged = tmp_path / "staged.parquet"
    pq.write_table(adult_table.select(["sex", "age", "race"]), staged)
    risk = RiskPolicy.model_validate(
        {"model": "population", "sampling_fraction": 0.1, "max_risk": 0.1,
         "suppression_limit": "2%", "auto_generalize": True,
         "hierarchies": {"age": "adult_hierarchy_age.csv"}}
    )
    g = release_gate(staged, tmp_path / "out.parquet", risk, adult_path, ["sex", "age", "race"])
    r = g.to_receipt()
    assert r["outcome"] == "generalized"
    assert r["before"]["population"]["population_size"] == pytest.approx(301_620)
    # the population keeps its size after suppression
    assert r["after"]["population"]["population_size"] == pytest.approx(301_620)
    assert r["after"]["attacker"]["journalist_highest"] <= 0.1
    assert r["checks_after"][0]["model"] == "highest journalist risk"
