"""Policy-as-code: validation, file:line errors, and the sample policy."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import PolicyError
from veil.pipeline.plan import check_treatments
from veil.policy import load_policy, parse_policy
from veil.policy.model import parse_retention
from veil.sample import SAMPLE_POLICY

BASE = """\
version: 1
controller:
  name: Bank
  contact: privacy@bank.example
datasets:
  tx:
    subject_id: cid
    fields:
      cid: direct_identifier
      amount: {category: transaction, type: float}
purposes:
  scoring:
    description: d
    legal_basis: contract
    retention: 2 years
    datasets:
      tx:
        fields:
          cid: keep
          amount: keep
"""


def err(text: str) -> str:
    with pytest.raises(PolicyError) as e:
        parse_policy(text, source="p.yaml")
    return str(e.value)


def test_base_policy_is_valid() -> None:
    p = parse_policy(BASE, source="p.yaml")
    assert p.purposes["scoring"].legal_basis_text == "Art. 6(1)(b) performance of a contract"
    assert p.datasets["tx"].fields["cid"].category == "direct_identifier"
    assert len(p.digest) == 64
    assert p.locate("purposes", "scoring", "datasets", "tx", "fields", "amount") == "p.yaml:20"


def test_sample_policy_loads_and_checks() -> None:
    p = load_policy(SAMPLE_POLICY)
    check_treatments(p)
    assert set(p.purposes) >= {"credit_scoring", "fraud_detection"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("legal_basis: contract", "legal_basis: whim"), "p.yaml:14: purposes.scoring.legal_basis"),
        (("retention: 2 years", "retention: forever"), "p.yaml:15: purposes.scoring.retention"),
        (("      amount: {category: transaction, type: float}",
          "      amount: {category: transaction, type: money}"),
         "p.yaml:10: datasets.tx.fields.amount.type"),
        (("      amount: {category: transaction, type: float}",
          "      amount: {category: transactions}"),
         "p.yaml:10: datasets.tx.fields.amount.category: unknown data category 'transactions'"),
        (("          amount: keep", "          balance: keep"),
         "p.yaml:20: purposes.scoring.datasets.tx.fields.balance: field 'balance' is not declared"),
        (("    subject_id: cid", "    subject_id: customer"),
         "p.yaml:6: datasets.tx: subject_id 'customer' is not one of the dataset's fields"),
        (("  contact: privacy@bank.example\n", ""), "p.yaml:2: controller.contact: required key"),
        (("    description: d\n", "    description: d\n    colour: red\n"),
         "p.yaml:14: purposes.scoring.colour: unknown key"),
        (("legal_basis: contract", "legal_basis: consent\n    consent_required: false"),
         "consent requires consent_required: true"),
        (("legal_basis: contract", "legal_basis: legitimate_interests"),
         "needs 'legitimate_interest'"),
    ],
)
def test_errors_name_file_line_and_key(change: tuple[str, str], expected: str) -> None:
    text = BASE.replace(*change)
    assert text != BASE
    assert expected in err(text)


def test_invalid_yaml_names_line() -> None:
    assert err(BASE.replace("  tx:\n    subject_id", "  tx:\n   - subject_id")).startswith(
        "p.yaml:")
    assert "p.yaml:3" in err("controller:\n  name: a\n  name: b\n")
    assert "duplicate key 'name'" in err("controller:\n  name: a\n  name: b\n")


def test_not_a_mapping_and_missing_file(tmp_path: Path) -> None:
    assert "must be a YAML mapping" in err("- a\n- b\n")
    with pytest.raises(PolicyError, match="policy file not found"):
        load_policy(tmp_path / "nope.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(bad)


def test_unknown_transform_is_refused_at_check() -> None:
    p = parse_policy(BASE.replace("          amount: keep", "          amount: teleport"),
                     source="p.yaml")
    with pytest.raises(PolicyError, match=r"p.yaml:20: field 'amount': unknown transform"):
        check_treatments(p)
    p = parse_policy(BASE.replace("          amount: keep",
                                  "          amount: {transform: keep, level: 2}"),
                     source="p.yaml")
    with pytest.raises(PolicyError, match="takes no parameters"):
        check_treatments(p)


def test_user_categories_extend_taxonomy() -> None:
    text = BASE.replace("datasets:\n  tx:", "categories:\n  loyalty:\n    description: Points\n"
                        "datasets:\n  tx:").replace("cid: direct_identifier",
                                                    "cid: direct_identifier\n      pts: loyalty")
    p = parse_policy(text)
    assert p.category("loyalty").description == "Points"
    assert "is built in" in err(text.replace("  loyalty:\n", "  contact:\n"))


@pytest.mark.parametrize(("text", "end"), [("5 years", "2030-03-01"), ("18 months", "2026-09-01"),
                                           ("30 days", "2025-03-31"), ("P1Y6M", "2026-09-01"),
                                           ("2 weeks", "2025-03-15")])
def test_retention_is_calendar_correct(text: str, end: str) -> None:
    from datetime import datetime

    assert parse_retention(text).after(datetime(2025, 3, 1)).date().isoformat() == end


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_a_policy_or_one_policy_error(text: str) -> None:
    try:
        parse_policy(text, source="fuzz.yaml")
    except PolicyError as exc:
        assert str(exc).startswith("fuzz.yaml")


def test_sample_names_the_bundled_policy_in_the_library() -> None:
    """`--policy sample` is resolved by the library, so the CLI, the service and a Python
    caller mean the same file by it."""
    from veil.policy import SAMPLE_POLICY, load_policy, policy_path

    assert policy_path("sample") == SAMPLE_POLICY and SAMPLE_POLICY.is_file()
    assert load_policy("sample").source == str(SAMPLE_POLICY)
    assert policy_path("policies/sample.yaml").name == "sample.yaml"
