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


# -- the rule tables themselves --------------------------------------------------------------

def test_every_row_has_an_id_a_reason_and_a_source() -> None:
    from veil.incidents import risk

    for name, table in risk.TABLES.items():
        ids = [getattr(r, "id", None) or f"{r.exception} {r.applies_to}" for r in table]
        assert len(set(ids)) == len(ids), name
        for row in table:
            assert row.reason not in (None, ""), (name, row)
            assert row.source, (name, row)
    reasons = [r.reason for t in (risk.EI_RULES, risk.LIKELIHOOD_RULES) for r in t
               if isinstance(r.reason, str)]
    assert len(set(reasons)) == len(reasons)  # a recorded reason names one row


def _facts(nature=("confidentiality",), recipients="unknown", malicious=False,
           recoverable=True, **scope_kw):
    from veil.incidents.risk import Facts

    return Facts.of(scope(["contact"], **scope_kw), list(nature),
                    {"recipients": recipients, "malicious": malicious,
                     "recoverable": recoverable})


def _declared_only():
    s = scope(["contact"])
    s["items"] = [{"kind": "other", "ref": "paper"}]
    return s


#: One situation per row, in which that row decides.
EI_CASES = {
    "EI-unintelligible": dict(unintelligible=True),
    "EI-clear": dict(clear=True),
    "EI-declared": "declared",
    "EI-reversible": "reversible",
    "EI-one-way": dict(clear=False),
    "EI-none": "none",
}
CB_CASES = {
    "CB-confidentiality-known": dict(recipients="known"),
    "CB-confidentiality": dict(recipients="public"),
    "CB-integrity-recoverable": dict(nature=("integrity",)),
    "CB-integrity-lost": dict(nature=("integrity",), recoverable=False),
    "CB-availability-recoverable": dict(nature=("availability",)),
    "CB-availability-lost": dict(nature=("availability",), recoverable=False),
    "CB-malicious": dict(malicious=True),
}
LIKELIHOOD_CASES = {
    "L-remote": dict(unintelligible=True),
    "L-malicious": dict(malicious=True),
    "L-public": dict(recipients="public"),
    "L-known-recipient": dict(recipients="known"),
    "L-medium": dict(),
}


def _ei_scope(case):
    if case == "declared":
        return _declared_only()
    s = scope(["contact"], clear=False)
    item = s["items"][0]
    item["identifying_one_way"] = []
    if case == "reversible":
        item["identifying_reversible"] = ["token"]
    return s


def test_every_row_is_reachable_and_recorded() -> None:
    from veil.incidents import risk

    assert set(EI_CASES) == {r.id for r in risk.EI_RULES}
    assert set(CB_CASES) == {r.id for r in risk.CB_RULES}
    assert set(LIKELIHOOD_CASES) == {r.id for r in risk.LIKELIHOOD_RULES}
    for rid, case in EI_CASES.items():
        s = scope(["contact"], **case) if isinstance(case, dict) else _ei_scope(case)
        row = next(r for r in risk.EI_RULES if r.id == rid)
        assert risk.rules_applied(s, ["confidentiality"], {})[0] is row
        a = assess(s, ["confidentiality"], {})
        f = next(x for x in a["factors"] if x["factor"] == row.factor)
        assert (a["ei"], f["value"]) == (row.effect, row.effect)
        assert f["effect"] == row.recorded(risk.Facts.of(s, ["confidentiality"], {}))
    for rid, kw in CB_CASES.items():
        row = next(r for r in risk.CB_RULES if r.id == rid)
        f = _facts(**kw)
        assert row.when(f), rid
        a = assess(scope(["contact"]), list(f.nature), {
            "recipients": f.recipients, "malicious": f.malicious, "recoverable": f.recoverable})
        assert {"factor": row.factor, "value": row.recorded(f), "effect": f"CB +{row.effect:g}",
                "source": "breach record"} in a["factors"], rid
    for rid, kw in LIKELIHOOD_CASES.items():
        f = _facts(**kw)
        row = risk.first_rule(risk.LIKELIHOOD_RULES, f)
        assert row.id == rid
        a = assess(scope(["contact"], unintelligible=f.unintelligible), list(f.nature),
                   {"recipients": f.recipients, "malicious": f.malicious})
        assert (a["likelihood"], a["likelihood_reason"]) == (row.effect, row.recorded(f))


def test_every_dpc_and_exception_row_is_reachable() -> None:
    from veil.incidents import risk

    seen = {next(r.id for r in risk.DPC_RULES if r.when(c, s, k, f))
            for c, s, k, f in [("health", True, False, False), ("x", False, True, False),
                               ("card", False, False, True), ("location", False, False, False),
                               ("government_id", False, False, False),
                               ("non_personal", False, False, False),
                               ("contact", False, False, False)]}
    assert seen == {r.id for r in risk.DPC_RULES}
    # (a) for all: everything unintelligible; (a) partial, (b), (c): subjects must be told
    a = assess(scope(["card"], unintelligible=True), ["confidentiality"], {})
    assert [(e["exception"], e["applies_to"]) for e in a["exceptions"]] == [("34(3)(a)", "all")]
    s = scope(["card"])
    s["items"].append({"kind": "output", "ref": "enc", "encrypted": True,
                       "unintelligible": True, "key_safe": True})
    for dpo, expected, comm in [
            ({}, [("34(3)(a)", "encrypted items only")], "individual"),
            ({"b": "blocked"}, [("34(3)(a)", "encrypted items only"), ("34(3)(b)", "all")],
             "not required"),
            ({"c": "no addresses"}, [("34(3)(a)", "encrypted items only"), ("34(3)(c)", "all")],
             "public")]:
        a = assess(s, ["confidentiality"], {"recipients": "public"}, exceptions=dpo)
        assert [(e["exception"], e["applies_to"]) for e in a["exceptions"]] == expected
        assert a["subjects_communication"] == comm
    reached = {("34(3)(a)", "all"), ("34(3)(a)", "encrypted items only"), ("34(3)(b)", "all"),
               ("34(3)(c)", "all")}
    assert reached == {(r.exception, r.applies_to) for r in risk.EXCEPTION_RULES}
