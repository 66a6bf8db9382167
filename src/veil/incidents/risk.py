"""The breach risk assessment: a documented, deterministic rule set.

Severity follows the ENISA methodology (Recommendations for a methodology of the assessment of
severity of personal data breaches, 2013): ``SE = DPC x EI + CB``

- DPC, data processing context: the most sensitive category exposed *in intelligible form*:
  simple 1 (identity, contact, demographics, employment), behavioural 2 (location, online
  identifiers, free text, inferences), financial 3 (accounts, cards, transactions, income),
  sensitive 4 (Art. 9 special categories, Art. 10 criminal data). Government identifiers count as
  simple + 1 (they enable identity theft).
- EI, ease of identification: 1 (maximum) when an identifying field is in clear, 0.75 when only
  reversibly protected identifiers remain (tokens, FPE: re-identifiable with a key), 0.5 when
  only one-way pseudonyms, 0.25 when no identifier at all; 0 when everything exposed is
  encrypted with a key that is safe (unintelligible, EDPB Guidelines 9/2022 para. 63-65).
- CB, circumstances: confidentiality +0.25 (known recipients) or +0.5 (unknown / public);
  integrity and availability +0.25 (recoverable) or +0.5 (not recoverable); malicious +0.5.

Levels: SE < 2 low, < 3 medium, < 4 high, else very high. Likelihood (EDPB 9/2022): remote when
the data is unintelligible, low when it went only to a known, trusted recipient, high when
malicious or public, else medium. Decision: unintelligible or low severity -> no notification
(documented, Art. 33(5)); medium -> the authority (Art. 33); high and very high -> the
authority and the subjects (Art. 34); low likelihood lowers the result by one step. Then the
Art. 34(3) exceptions: (a) unintelligible data, (b) subsequent measures (the DPO states them),
(c) disproportionate effort (a public communication instead). The DPO can override the result;
the override and its reason are part of the record.
"""

from __future__ import annotations

from typing import Any

from veil.errors import InputError
from veil.policy.taxonomy import BUILTIN_CATEGORIES

METHOD = ("ENISA 2013 severity (SE = DPC x EI + CB) with EDPB Guidelines 9/2022 likelihood; "
          "veil rules v1")
DECISIONS = ("none", "authority", "authority_and_subjects")
RECIPIENTS = ("unknown", "known", "public")

#: What ``recipients="known"`` asserts, recorded with every assessment that relies on it.
KNOWN_RECIPIENT = ("sent only to a known, trusted recipient (e.g. a wrong but trusted branch or "
                   "partner bound by confidentiality) who is not expected to misuse it and has "
                   "returned or deleted it (EDPB Guidelines 9/2022)")

_BEHAVIOURAL = {"location", "online_identifier", "free_text", "inferred"}
_LEVELS = ((2.0, "low"), (3.0, "medium"), (4.0, "high"))


def dpc_of(category: str, special: bool = False, criminal: bool = False,
           financial: bool = False) -> tuple[float, str]:
    """ENISA data processing context score of one category, and why."""
    if special or criminal:
        return 4.0, "sensitive (Art. 9/10)"
    if financial:
        return 3.0, "financial"
    if category in _BEHAVIOURAL:
        return 2.0, "behavioural"
    if category == "government_id":
        return 2.0, "simple, +1: government identifiers enable identity theft"
    if category == "non_personal":
        return 0.0, "not personal data"
    return 1.0, "simple"


def level_of(score: float) -> str:
    for bound, name in _LEVELS:
        if score < bound:
            return name
    return "very high"


def assess(scope: dict[str, Any], nature: list[str], circumstances: dict[str, Any], *,
           custom_flags: dict[str, tuple[bool, bool, bool]] | None = None,
           exceptions: dict[str, str] | None = None,
           override: str | None = None, override_reason: str | None = None) -> dict[str, Any]:
    """The assessment of a breach from its scope, nature and circumstances (deterministic).

    ``exceptions`` maps ``"b"`` or ``"c"`` (Art. 34(3)) to the DPO's justification; ``"a"`` is
    derived from the evidence. ``override`` (one of :data:`DECISIONS`) needs ``override_reason``.
    """
    exceptions = dict(exceptions or {})
    for k, v in exceptions.items():
        if k not in ("b", "c"):
            raise InputError(f"Art. 34(3) exception '{k}' is not b or c ((a) is derived from the "
                             "encryption evidence)", where="--exception")
        if not (v or "").strip():
            raise InputError(f"exception ({k}) needs its justification", where="--exception")
    if override is not None:
        if override not in DECISIONS:
            raise InputError(f"override '{override}' is not one of {', '.join(DECISIONS)}",
                             where="--override")
        if not (override_reason or "").strip():
            raise InputError("an override needs its reason", where="--reason")
    factors: list[dict[str, Any]] = []

    def factor(name: str, value: Any, effect: str, source: str) -> None:
        factors.append({"factor": name, "value": value, "effect": effect, "source": source})

    custom = custom_flags or {}
    intelligible = list(scope.get("intelligible_categories") or [])
    unintelligible = bool(scope.get("all_unintelligible"))
    # DPC
    dpc, why = 0.0, "no intelligible personal data"
    for c in intelligible:
        if c in BUILTIN_CATEGORIES:
            cat = BUILTIN_CATEGORIES[c]
            s, w = dpc_of(c, cat.special, cat.criminal, cat.financial)
        else:
            s, w = dpc_of(c, *custom.get(c, (False, False, False)))
        factor(f"category {c}", w, f"DPC candidate {s:g}", "scope (audit log, policy)")
        if s > dpc:
            dpc, why = s, f"{c}: {w}"
    factor("data processing context (DPC)", dpc, why, "highest of the categories above")
    # EI
    items = [i for i in scope.get("items", []) if i.get("kind") in ("output", "dataset", "other")]
    readable = [i for i in items if not i.get("unintelligible")]
    for i in items:
        if i.get("encrypted"):
            factor(f"encryption of {i['kind']} {i['ref']}",
                   "key safe" if i.get("key_safe") else "key exposed or unknown",
                   "unintelligible" if i.get("unintelligible") else "readable to the recipient",
                   "; ".join(i.get("key_evidence") or []) or "receipt, key store")
    if unintelligible:
        ei, why = 0.0, "every exposed item is encrypted with a key that is safe"
    elif any(i["kind"] == "other" for i in readable) or any(i.get("identifying_in_clear")
                                                           for i in readable):
        ei, why = 1.0, "identifying fields in clear: " + ", ".join(sorted(
            {c for i in readable for c in i.get("identifying_in_clear") or []})) \
            if any(i.get("identifying_in_clear") for i in readable) else \
            "items declared by the DPO without evidence: assumed identifiable"
    elif any(i.get("identifying_reversible") for i in readable):
        ei, why = 0.75, "identifiers only in reversible form (tokens, FPE)"
    elif any(i.get("identifying_one_way") for i in readable):
        ei, why = 0.5, "identifiers only as one-way pseudonyms"
    else:
        ei, why = 0.25, "no identifying field exposed"
    factor("ease of identification (EI)", ei, why, "receipts: fields kept and transformed")
    # CB
    cb = 0.0
    recipients = circumstances.get("recipients", "unknown")
    if recipients not in RECIPIENTS:
        raise InputError(f"recipients '{recipients}' is not one of {', '.join(RECIPIENTS)}",
                         where="--recipients")
    if "confidentiality" in nature:
        add = 0.25 if recipients == "known" else 0.5
        cb += add
        factor("loss of confidentiality", recipients + " recipients", f"CB +{add:g}",
               "breach record")
    recoverable = bool(circumstances.get("recoverable", True))
    for n in ("integrity", "availability"):
        if n in nature:
            add = 0.25 if recoverable else 0.5
            cb += add
            factor(f"loss of {n}", "recoverable" if recoverable else "not recoverable",
                   f"CB +{add:g}", "breach record")
    malicious = bool(circumstances.get("malicious", False))
    if malicious:
        cb += 0.5
        factor("malicious intent", True, "CB +0.5", "breach record")
    score = round(dpc * ei + cb, 4)
    severity = level_of(score)
    factor("severity score (SE)", score, severity, f"{dpc:g} x {ei:g} + {cb:g}")
    # likelihood
    if unintelligible and "confidentiality" in nature and len(nature) == 1:
        likelihood, lwhy = "remote", "the data is unintelligible to whoever holds it"
    elif malicious or recipients == "public":
        likelihood, lwhy = "high", ("malicious intent" if malicious
                                    else "the data was made public")
    elif recipients == "known":
        likelihood, lwhy = "low", KNOWN_RECIPIENT
    else:
        likelihood, lwhy = "medium", "unknown recipients, no sign of malicious intent"
    factor("likelihood", likelihood, lwhy + ("; lowers the decision by one step"
                                             if likelihood == "low" else ""),
           "EDPB Guidelines 9/2022: who holds the data and with what intent (breach record, "
           "encryption evidence)")
    # decision
    steps = {"low": 0, "medium": 1, "high": 2, "very high": 2}[severity]
    if likelihood == "remote":
        steps = 0
    elif likelihood == "low":
        steps = max(0, steps - 1)
    computed = DECISIONS[steps]
    risk = ("unlikely to result in a risk", "a risk", "a high risk")[steps]
    applied: list[dict[str, str]] = []
    communication = "individual" if computed == "authority_and_subjects" else "not required"
    special = list(scope.get("special") or []) + list(scope.get("criminal") or [])
    if computed == "authority_and_subjects":
        if any(i.get("unintelligible") for i in items):
            applied.append({"exception": "34(3)(a)", "applies_to": "encrypted items only",
                            "reason": "those items are unintelligible (key safe); only subjects "
                                      "of the readable items need to be told"})
        if "b" in exceptions:
            applied.append({"exception": "34(3)(b)", "applies_to": "all",
                            "reason": exceptions["b"].strip()})
            communication = "not required"
        elif "c" in exceptions:
            applied.append({"exception": "34(3)(c)", "applies_to": "all",
                            "reason": exceptions["c"].strip()})
            communication = "public"
    elif exceptions:
        factor("Art. 34(3) exceptions", sorted(exceptions), "not applied: subjects need not be "
               "told anyway", "assessment")
    if unintelligible:
        applied.insert(0, {"exception": "34(3)(a)", "applies_to": "all",
                           "reason": "all exposed data is encrypted and the key was not exposed"})
    decision = override or computed
    if override and override != computed:
        communication = ("individual" if override == "authority_and_subjects"
                         else "not required")
    return {
        "method": METHOD,
        "dpc": dpc, "ei": ei, "cb": cb, "score": score, "severity": severity,
        "likelihood": likelihood, "likelihood_reason": lwhy, "risk": risk,
        "special_categories": special,
        "financial": list(scope.get("financial") or []),
        "computed_decision": computed,
        "exceptions": applied,
        "override": ({"decision": override, "reason": (override_reason or "").strip()}
                     if override else None),
        "decision": decision,
        "subjects_communication": communication if decision == "authority_and_subjects"
        else "not required",
        "factors": factors,
    }
