"""The ``risk:`` section model: parsing, shorthand, and the policy-check-time validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from veil.policy.model import FieldDef
from veil.policy.risk import LDiversityRule, RiskPolicy, RiskPolicyError, TClosenessRule
from veil.risk.hierarchy import policy_hierarchies


def fields(**kinds: str) -> dict[str, FieldDef]:
    """name='qi' | 'sensitive' | 'plain' | 'qi:integer' ... -> FieldDefs."""
    out = {}
    for name, spec in kinds.items():
        role, _, ftype = spec.partition(":")
        out[name] = FieldDef(
            category="other",
            type=ftype or "string",
            quasi_identifier=role == "qi",
            sensitive=role == "sensitive",
        )
    return out


DATASET = fields(
    age="qi:integer",
    zip="qi",
    sex="qi",
    income="sensitive:float",
    diagnosis="sensitive",
    name="plain",
)


@pytest.fixture
def hdir(tmp_path: Path) -> Path:
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "age.csv").write_text("21;20-29;*\n35;30-39;*\n")
    (tmp_path / "h" / "zip.csv").write_text("1001;10**;*\n1002;10**;*\n2001;20**;*\n")
    (tmp_path / "h" / "diagnosis.csv").write_text("flu;infection;*\ncold;infection;*\n")
    (tmp_path / "h" / "broken.csv").write_text("a;x;*\nb;x;other\n")
    return tmp_path


def test_shorthand_and_defaults() -> None:
    r = RiskPolicy.model_validate(
        {
            "min_k": 5,
            "l_diversity": {"attribute": "diagnosis", "l": 2},
            "t_closeness": [{"attribute": "income", "t": 0.3, "distance": "ordered"}],
            "suppression_limit": "4%",
        }
    )
    assert r.l_diversity == (LDiversityRule(attribute="diagnosis", l=2),)
    assert r.t_closeness[0] == TClosenessRule(attribute="income", t=0.3, distance="ordered")
    assert r.suppression_limit == pytest.approx(0.04)
    assert r.auto_generalize is False and r.quality == "non_uniform_entropy"
    assert r.sensitive_attributes() == ["diagnosis", "income"]
    assert r.resolve_qis(DATASET) == ["age", "zip", "sex"]
    assert RiskPolicy(quasi_identifiers=("zip",)).resolve_qis(DATASET) == ["zip"]
    assert r.describe_models() == [
        {"model": "k-anonymity", "k": 5},
        {"model": "distinct l-diversity", "attribute": "diagnosis", "l": 2},
        {"model": "t-closeness (ordered distance)", "attribute": "income", "t": 0.3},
    ]
    with pytest.raises(ValidationError):
        r.min_k = 3  # type: ignore[misc]  # frozen


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"min_k": 0}, "greater than or equal to 1"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
        ({"suppression_limit": "150%"}, "less than or equal to 1"),
        ({"suppression_limit": "lots%"}, "not a percentage"),
        ({"l_diversity": {"attribute": "d", "l": 2, "kind": "recursive"}}, "needs c"),
        ({"l_diversity": {"attribute": "d", "l": 2, "c": 3}}, "only to kind recursive"),
        ({"l_diversity": {"attribute": "d", "l": 1.5}}, "whole number"),
        ({"t_closeness": {"attribute": "d", "t": 1.5}}, "less than or equal to 1"),
        ({"t_closeness": {"attribute": "d", "t": 0.2, "hierarchy": "h.csv"}}, "hierarchical"),
        ({"t_closeness": {"attribute": "d", "t": 0.2, "order": ["a"]}}, "distance ordered"),
        ({"quality": "best"}, "non_uniform_entropy"),
        ({"quasi_identifiers": ["a", "a"]}, "listed twice"),
        (
            {"quasi_identifiers": ["a"], "l_diversity": {"attribute": "a", "l": 2}},
            "is a quasi-identifier",
        ),
    ],
)
def test_invalid_sections(section: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RiskPolicy.model_validate(section)


def test_embeds_in_a_strict_parent_model() -> None:
    """The lead adds `risk: RiskPolicy | None = None` to the policy's Dataset."""

    class Dataset(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        risk: RiskPolicy | None = None

    assert Dataset.model_validate({}).risk is None
    ds = Dataset.model_validate({"risk": {"min_k": 3, "auto_generalize": True}})
    assert ds.risk is not None and ds.risk.min_k == 3
    with pytest.raises(ValidationError) as info:
        Dataset.model_validate({"risk": {"min_k": 3, "l_diversity": {"attribute": "x"}}})
    assert info.value.errors()[0]["loc"] == ("risk", "l_diversity", 0, "l")


def test_check_accepts_a_good_section(hdir: Path) -> None:
    r = RiskPolicy.model_validate(
        {
            "min_k": 5,
            "l_diversity": {"attribute": "diagnosis", "l": 2, "kind": "entropy"},
            "t_closeness": [
                {"attribute": "income", "t": 0.3, "distance": "ordered"},
                {
                    "attribute": "diagnosis",
                    "t": 0.4,
                    "distance": "hierarchical",
                    "hierarchy": "h/diagnosis.csv",
                },
            ],
            "hierarchies": {"age": "h/age.csv", "zip": "h/zip.csv"},
        }
    )
    r.check(DATASET, hdir)
    hs = policy_hierarchies(r, hdir)
    assert set(hs) == {"age", "zip", "diagnosis"}
    assert hs["zip"].column == "zip" and hs["zip"].levels == 3


@pytest.mark.parametrize(
    ("section", "path", "message"),
    [
        (
            {"quasi_identifiers": ["age", "postcode"]},
            ("quasi_identifiers", 1),
            "quasi-identifier 'postcode' is not a field of the dataset",
        ),
        (
            {"min_k": 3, "hierarchies": {"age": "h/nope.csv"}},
            ("hierarchies", "age"),
            "hierarchy file for 'age' not found",
        ),
        (
            {"min_k": 3, "hierarchies": {"zip": "h/broken.csv"}},
            ("hierarchies", "zip"),
            "value 'x' at level 1 has two different parents",
        ),
        (
            {"min_k": 3, "hierarchies": {"height": "h/age.csv"}},
            ("hierarchies", "height"),
            "hierarchy column 'height' is not a field",
        ),
        (
            {"min_k": 3, "hierarchies": {"name": "h/age.csv"}},
            ("hierarchies", "name"),
            "neither a quasi-identifier nor a protected attribute",
        ),
        (
            {"l_diversity": {"attribute": "salary", "l": 2}},
            ("l_diversity", 0, "attribute"),
            "attribute 'salary' is not a field",
        ),
        (
            {"l_diversity": {"attribute": "zip", "l": 2}},
            ("l_diversity", 0, "attribute"),
            "'zip' is a quasi-identifier",
        ),
        (
            {"t_closeness": {"attribute": "diagnosis", "t": 0.2, "distance": "ordered"}},
            ("t_closeness", 0, "distance"),
            "ordered distance needs a numeric",
        ),
        (
            {"t_closeness": {"attribute": "diagnosis", "t": 0.2, "distance": "hierarchical"}},
            ("t_closeness", 0, "hierarchy"),
            "needs a hierarchy for 'diagnosis'",
        ),
        (
            {
                "t_closeness": {
                    "attribute": "diagnosis",
                    "t": 0.2,
                    "distance": "hierarchical",
                    "hierarchy": "h/missing.csv",
                }
            },
            ("t_closeness", 0, "hierarchy"),
            "hierarchy file for 'diagnosis' not found",
        ),
    ],
)
def test_check_names_the_problem(hdir: Path, section: dict, path: tuple, message: str) -> None:
    r = RiskPolicy.model_validate(section)
    with pytest.raises(RiskPolicyError, match=message) as info:
        r.check(DATASET, hdir)
    assert info.value.path == path
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith("risk.")


def test_check_needs_quasi_identifiers_for_models(tmp_path: Path) -> None:
    plain = fields(name="plain", diagnosis="sensitive")
    with pytest.raises(RiskPolicyError, match="need quasi-identifiers"):
        RiskPolicy(min_k=2).check(plain, tmp_path)
    RiskPolicy().check(plain, tmp_path)  # measuring only: nothing to enforce, nothing needed


def test_ordered_distance_on_text_with_an_order(hdir: Path) -> None:
    r = RiskPolicy.model_validate(
        {
            "t_closeness": {
                "attribute": "diagnosis",
                "t": 0.2,
                "distance": "ordered",
                "order": ["cold", "flu"],
            }
        }
    )
    r.check(DATASET, hdir)


def test_the_policy_model_imports_without_numpy_or_pyarrow() -> None:
    """The policy loader imports veil.policy.risk: it must stay cheap."""
    import subprocess
    import sys

    code = "import sys, veil.policy.risk; print('numpy' in sys.modules, 'pyarrow' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "False"]


def test_veil_risk_anonymize_is_the_function_after_the_submodule_loads() -> None:
    import importlib

    import veil.risk

    importlib.import_module("veil.risk.anonymize")
    importlib.import_module("veil.risk.gate")
    from veil.risk import anonymize

    assert callable(anonymize) and veil.risk.anonymize is anonymize
    assert anonymize.__module__ == "veil.risk.anonymize"


def test_the_docs_example_section_is_valid(tmp_path: Path) -> None:
    """docs/risk.md's YAML example parses and passes the policy-check-time validation."""
    import re

    import yaml

    docs = (Path(__file__).resolve().parents[2] / "docs" / "risk.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", docs, flags=re.S) if "risk:" in b)
    dataset = yaml.safe_load(block)["datasets"]["customers"]
    fields_ = {n: FieldDef(**f) for n, f in dataset["fields"].items()}
    risk = RiskPolicy.model_validate(dataset["risk"])
    assert risk.min_k == 5 and risk.suppression_limit == pytest.approx(0.04)
    for rel in risk.hierarchies.values():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("a;*\n")
    risk.check(fields_, tmp_path)
    assert risk.resolve_qis(fields_) == ["age", "postcode", "sex"]
