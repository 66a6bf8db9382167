"""The rule set on its own: every factor recorded, the decision table, the exceptions."""

from __future__ import annotations

import pytest

from veil.errors import InputError, PolicyError
from veil.incidents.risk import assess


def scope(cats: list[str], *, clear: bool = True, unintelligible: bool = False, **flags):
    item = {"kind": "output", "ref": "o", "encrypted": unintelligible,
            "unintelligible": unintelligible, "key_safe": unintelligible or None,
            "identifying_in_clear": ["name"] if clear else [],
            "identifying_one_way": [] if clear else ["cid"], "categories": cats}
    return {"intelligible_categories": [] if unintelligible else cats, "items": [item],
            "all_unintelligible": unintelligible, **flags}


@pytest.mark.parametrize("cats, clear, circ, nature, decision", [
    (["contact"], True, {"recipients": "unknown"}, ["confidentiality"], "none"),  # 1.5
    (["location"], True, {"recipients": "unknown"}, ["confidentiality"], "authority"),  # 2.5
    (["card"], True, {"recipients": "unknown"}, ["confidentiality"], "authority_and_subjects"),
    (["card"], True, {"recipients": "known"}, ["confidentiality"], "authority"),  # low likelihood
    (["card"], False, {"recipients": "unknown"}, ["confidentiality"], "authority"),  # 2.0
    (["health"], False, {"recipients": "unknown"}, ["confidentiality"], "authority"),  # 2.5
    (["contact"], True, {"recipients": "unknown", "recoverable": False},
     ["confidentiality", "availability"], "authority"),  # 1 + 0.5 + 0.5
])
def test_decision_table(cats, clear, circ, nature, decision) -> None:
    a = assess(scope(cats, clear=clear), nature, circ)
    assert a["decision"] == decision, a["factors"]
    assert a["score"] == pytest.approx(a["dpc"] * a["ei"] + a["cb"])
    names = [f["factor"] for f in a["factors"]]
    assert "data processing context (DPC)" in names and "likelihood" in names


def test_unintelligible_data_is_remote_and_exception_a() -> None:
    a = assess(scope(["card", "health"], unintelligible=True), ["confidentiality"],
               {"recipients": "public", "malicious": True})
    assert (a["decision"], a["likelihood"], a["ei"]) == ("none", "remote", 0.0)
    assert a["exceptions"][0]["exception"] == "34(3)(a)"


def test_exception_b_and_bad_exceptions() -> None:
    a = assess(scope(["card"]), ["confidentiality"], {"recipients": "public"},
               exceptions={"b": "All cards blocked within the hour"})
    assert a["decision"] == "authority_and_subjects"
    assert a["subjects_communication"] == "not required"
    with pytest.raises(InputError, match="is not b or c"):
        assess(scope(["card"]), ["confidentiality"], {}, exceptions={"a": "x"})
    with pytest.raises(InputError, match="needs its justification"):
        assess(scope(["card"]), ["confidentiality"], {}, exceptions={"b": " "})
    with pytest.raises(InputError, match="is not one of"):
        assess(scope(["card"]), ["confidentiality"], {}, override="maybe", override_reason="x")


def test_controller_authority_and_timezone_in_the_policy() -> None:
    from veil.policy import parse_policy

    base = ("version: 1\ncontroller: {name: B, contact: c@b.example, timezone: %s, "
            "supervisory_authority: {name: CNIL, url: https://www.cnil.fr, country: FR}}\n"
            "datasets: {d: {fields: {a: contact}}}\npurposes: {}\n")
    pol = parse_policy(base % "Europe/Paris", source="p.yaml")
    assert pol.controller.timezone == "Europe/Paris"
    assert pol.controller.supervisory_authority.line() == "CNIL, https://www.cnil.fr, FR"
    with pytest.raises(PolicyError, match="p.yaml:2: controller.timezone"):
        parse_policy(base % "Paris", source="p.yaml")
