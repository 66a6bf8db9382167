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

Each of these paragraphs is a table below (:data:`DPC_RULES`, :data:`EI_RULES`,
:data:`CB_RULES`, :data:`LIKELIHOOD_RULES`, :data:`EXCEPTION_RULES`): a row says when it applies,
what it does to the assessment, the reason the assessment records and where the rule comes
from. Every recorded reason belongs to exactly one row, so a DPO reading an assessment can point
at the row that decided (:func:`rules_applied` lists them). :func:`assess` only applies the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

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
#: Severity level -> decision step (an index into :data:`DECISIONS`) before likelihood.
SEVERITY_STEPS = {"low": 0, "medium": 1, "high": 2, "very high": 2}
#: What each decision step means, in the words of Art. 33-34.
RISK_TEXT = ("unlikely to result in a risk", "a risk", "a high risk")

ENISA = "ENISA 2013 severity methodology"
EDPB = "EDPB Guidelines 9/2022"


# ------------------------------------------------------------------------------- the facts

@dataclass(frozen=True)
class Facts:
    """What the rules look at, read once from the scope and the breach record."""

    nature: tuple[str, ...]
    recipients: str
    malicious: bool
    recoverable: bool
    unintelligible: bool  # every exposed item is encrypted with a safe key
    items: tuple[dict[str, Any], ...]  # the exposed outputs, datasets and other items
    readable: tuple[dict[str, Any], ...]  # those a recipient can read

    @classmethod
    def of(cls, scope: dict[str, Any], nature: Sequence[str],
           circumstances: dict[str, Any]) -> Facts:
        recipients = circumstances.get("recipients", "unknown")
        if recipients not in RECIPIENTS:
            raise InputError(f"recipients '{recipients}' is not one of {', '.join(RECIPIENTS)}",
                             where="--recipients")
        items = tuple(i for i in scope.get("items", [])
                      if i.get("kind") in ("output", "dataset", "other"))
        return cls(nature=tuple(nature), recipients=recipients,
                   malicious=bool(circumstances.get("malicious", False)),
                   recoverable=bool(circumstances.get("recoverable", True)),
                   unintelligible=bool(scope.get("all_unintelligible")), items=items,
                   readable=tuple(i for i in items if not i.get("unintelligible")))

    def readable_with(self, key: str) -> bool:
        """Does a readable item list identifying fields of this kind (``identifying_*``)?"""
        return any(i.get(key) for i in self.readable)

    def clear_fields(self) -> str:
        return ", ".join(sorted({c for i in self.readable
                                 for c in i.get("identifying_in_clear") or []}))


# ------------------------------------------------------------------------------- the tables

@dataclass(frozen=True)
class Rule:
    """One row of a rule table: when it applies, its effect on the assessment, the factor it
    records (name and reason) and the source of the rule."""

    id: str
    when: Callable[[Facts], bool]
    effect: Any  # EI value, CB addition or likelihood level
    factor: str  # the factor's name in the assessment
    reason: Any  # the value or reason the factor records, or a function of the facts
    source: str

    def recorded(self, f: Facts) -> Any:
        return self.reason(f) if callable(self.reason) else self.reason


@dataclass(frozen=True)
class LikelihoodRule(Rule):
    """A likelihood row also says what it does to the decision step."""

    steps: Callable[[int], int] = lambda s: s
    note: str = ""  # added to the recorded effect


@dataclass(frozen=True)
class DpcRule:
    """One row of the data processing context: which categories score what."""

    id: str
    when: Callable[[str, bool, bool, bool], bool]  # (category, special, criminal, financial)
    score: float
    reason: str
    source: str = ENISA


@dataclass(frozen=True)
class ExceptionRule:
    """One Art. 34(3) exception: when it applies (given the DPO's justifications), to what,
    the reason recorded, and what it makes of the communication to subjects (None: unchanged).
    ``always`` rows are recorded whatever the decision; the others only when the subjects
    would have to be told."""

    exception: str
    applies_to: str
    when: Callable[[Facts, dict[str, str]], bool]
    reason: Callable[[dict[str, str]], str]
    communication: str | None
    source: str
    always: bool = False


DPC_RULES: tuple[DpcRule, ...] = (
    DpcRule("DPC-sensitive", lambda c, s, k, f: s or k, 4.0, "sensitive (Art. 9/10)"),
    DpcRule("DPC-financial", lambda c, s, k, f: f, 3.0, "financial"),
    DpcRule("DPC-behavioural", lambda c, s, k, f: c in _BEHAVIOURAL, 2.0, "behavioural"),
    DpcRule("DPC-government-id", lambda c, s, k, f: c == "government_id", 2.0,
            "simple, +1: government identifiers enable identity theft"),
    DpcRule("DPC-non-personal", lambda c, s, k, f: c == "non_personal", 0.0,
            "not personal data"),
    DpcRule("DPC-simple", lambda c, s, k, f: True, 1.0, "simple"),
)

_EI = "ease of identification (EI)"
EI_RULES: tuple[Rule, ...] = (
    Rule("EI-unintelligible", lambda f: f.unintelligible, 0.0, _EI,
         "every exposed item is encrypted with a key that is safe", f"{EDPB} para. 63-65"),
    Rule("EI-clear", lambda f: f.readable_with("identifying_in_clear"), 1.0, _EI,
         lambda f: "identifying fields in clear: " + f.clear_fields(), ENISA),
    Rule("EI-declared", lambda f: any(i["kind"] == "other" for i in f.readable), 1.0, _EI,
         "items declared by the DPO without evidence: assumed identifiable", ENISA),
    Rule("EI-reversible", lambda f: f.readable_with("identifying_reversible"), 0.75, _EI,
         "identifiers only in reversible form (tokens, FPE)", ENISA),
    Rule("EI-one-way", lambda f: f.readable_with("identifying_one_way"), 0.5, _EI,
         "identifiers only as one-way pseudonyms", ENISA),
    Rule("EI-none", lambda f: True, 0.25, _EI, "no identifying field exposed", ENISA),
)

CB_RULES: tuple[Rule, ...] = (
    Rule("CB-confidentiality-known",
         lambda f: "confidentiality" in f.nature and f.recipients == "known", 0.25,
         "loss of confidentiality", "known recipients", ENISA),
    Rule("CB-confidentiality",
         lambda f: "confidentiality" in f.nature and f.recipients != "known", 0.5,
         "loss of confidentiality", lambda f: f"{f.recipients} recipients", ENISA),
    Rule("CB-integrity-recoverable", lambda f: "integrity" in f.nature and f.recoverable, 0.25,
         "loss of integrity", "recoverable", ENISA),
    Rule("CB-integrity-lost", lambda f: "integrity" in f.nature and not f.recoverable, 0.5,
         "loss of integrity", "not recoverable", ENISA),
    Rule("CB-availability-recoverable",
         lambda f: "availability" in f.nature and f.recoverable, 0.25,
         "loss of availability", "recoverable", ENISA),
    Rule("CB-availability-lost",
         lambda f: "availability" in f.nature and not f.recoverable, 0.5,
         "loss of availability", "not recoverable", ENISA),
    Rule("CB-malicious", lambda f: f.malicious, 0.5, "malicious intent", True, ENISA),
)

_L = "likelihood"
LIKELIHOOD_RULES: tuple[LikelihoodRule, ...] = (
    LikelihoodRule("L-remote", lambda f: f.unintelligible and f.nature == ("confidentiality",),
                   "remote", _L, "the data is unintelligible to whoever holds it",
                   f"{EDPB} para. 63-65", steps=lambda s: 0),
    LikelihoodRule("L-malicious", lambda f: f.malicious, "high", _L, "malicious intent", EDPB),
    LikelihoodRule("L-public", lambda f: f.recipients == "public", "high", _L,
                   "the data was made public", EDPB),
    LikelihoodRule("L-known-recipient", lambda f: f.recipients == "known", "low", _L,
                   KNOWN_RECIPIENT, EDPB, steps=lambda s: max(0, s - 1),
                   note="; lowers the decision by one step"),
    LikelihoodRule("L-medium", lambda f: True, "medium", _L,
                   "unknown recipients, no sign of malicious intent", EDPB),
)

EXCEPTION_RULES: tuple[ExceptionRule, ...] = (
    ExceptionRule("34(3)(a)", "all", lambda f, dpo: f.unintelligible,
                  lambda dpo: "all exposed data is encrypted and the key was not exposed",
                  None, "Art. 34(3)(a) GDPR", always=True),
    ExceptionRule("34(3)(a)", "encrypted items only",
                  lambda f, dpo: any(i.get("unintelligible") for i in f.items),
                  lambda dpo: "those items are unintelligible (key safe); only subjects of the "
                              "readable items need to be told",
                  None, "Art. 34(3)(a) GDPR"),
    ExceptionRule("34(3)(b)", "all", lambda f, dpo: "b" in dpo,
                  lambda dpo: dpo["b"].strip(), "not required", "Art. 34(3)(b) GDPR"),
    ExceptionRule("34(3)(c)", "all", lambda f, dpo: "c" in dpo and "b" not in dpo,
                  lambda dpo: dpo["c"].strip(), "public", "Art. 34(3)(c) GDPR"),
)

#: Every table, by what it decides (for reviewers and the test that enumerates them).
TABLES: dict[str, tuple[Any, ...]] = {
    "data processing context": DPC_RULES, "ease of identification": EI_RULES,
    "circumstances": CB_RULES, "likelihood": LIKELIHOOD_RULES,
    "Art. 34(3) exceptions": EXCEPTION_RULES,
}

_Row = TypeVar("_Row", bound=Rule)


def first_rule(table: Sequence[_Row], f: Facts) -> _Row:
    """The first row of ``table`` that applies (every table ends with a row that always does)."""
    return next(r for r in table if r.when(f))


def rules_applied(scope: dict[str, Any], nature: Sequence[str],
                  circumstances: dict[str, Any]) -> list[Rule]:
    """The EI, CB and likelihood rows that decide a breach's assessment, in the order the
    assessment records their factors: the rows a DPO points at."""
    f = Facts.of(scope, nature, circumstances)
    return [first_rule(EI_RULES, f), *(r for r in CB_RULES if r.when(f)),
            first_rule(LIKELIHOOD_RULES, f)]


# ------------------------------------------------------------------------------- the engine

def dpc_of(category: str, special: bool = False, criminal: bool = False,
           financial: bool = False) -> tuple[float, str]:
    """ENISA data processing context score of one category, and why."""
    row = next(r for r in DPC_RULES if r.when(category, special, criminal, financial))
    return row.score, row.reason


def level_of(score: float) -> str:
    for bound, name in _LEVELS:
        if score < bound:
            return name
    return "very high"


def _checked(exceptions: dict[str, str] | None, override: str | None,
             override_reason: str | None) -> dict[str, str]:
    """The DPO's exceptions and override, refused unless each has its justification."""
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
    return exceptions


class _Factors(list[dict[str, Any]]):
    """The factors an assessment records, in the order they were weighed."""

    def add(self, name: str, value: Any, effect: str, source: str) -> None:
        self.append({"factor": name, "value": value, "effect": effect, "source": source})


def _dpc(scope: dict[str, Any], custom: dict[str, tuple[bool, bool, bool]],
         factors: _Factors) -> float:
    dpc, why = 0.0, "no intelligible personal data"
    for c in scope.get("intelligible_categories") or []:
        if c in BUILTIN_CATEGORIES:
            cat = BUILTIN_CATEGORIES[c]
            s, w = dpc_of(c, cat.special, cat.criminal, cat.financial)
        else:
            s, w = dpc_of(c, *custom.get(c, (False, False, False)))
        factors.add(f"category {c}", w, f"DPC candidate {s:g}", "scope (audit log, policy)")
        if s > dpc:
            dpc, why = s, f"{c}: {w}"
    factors.add("data processing context (DPC)", dpc, why, "highest of the categories above")
    return dpc


def _ei(f: Facts, factors: _Factors) -> float:
    for i in f.items:
        if i.get("encrypted"):
            factors.add(f"encryption of {i['kind']} {i['ref']}",
                        "key safe" if i.get("key_safe") else "key exposed or unknown",
                        "unintelligible" if i.get("unintelligible")
                        else "readable to the recipient",
                        "; ".join(i.get("key_evidence") or []) or "receipt, key store")
    row = first_rule(EI_RULES, f)
    factors.add(row.factor, row.effect, row.recorded(f), "receipts: fields kept and transformed")
    return float(row.effect)


def _cb(f: Facts, factors: _Factors) -> float:
    cb = 0.0
    for row in CB_RULES:
        if row.when(f):
            cb += row.effect
            factors.add(row.factor, row.recorded(f), f"CB +{row.effect:g}", "breach record")
    return cb


def _likelihood(f: Facts, factors: _Factors) -> LikelihoodRule:
    row = first_rule(LIKELIHOOD_RULES, f)
    factors.add(row.factor, row.effect, row.recorded(f) + row.note,
                "EDPB Guidelines 9/2022: who holds the data and with what intent (breach "
                "record, encryption evidence)")
    return row


def _exceptions(f: Facts, computed: str, dpo: dict[str, str],
                factors: _Factors) -> tuple[list[dict[str, str]], str]:
    """The Art. 34(3) exceptions that apply, and the communication to subjects after them."""
    telling = computed == "authority_and_subjects"
    applied: list[dict[str, str]] = []
    communication = "individual" if telling else "not required"
    for row in EXCEPTION_RULES:
        if (row.always or telling) and row.when(f, dpo):
            applied.append({"exception": row.exception, "applies_to": row.applies_to,
                            "reason": row.reason(dpo)})
            communication = row.communication or communication
    if dpo and not telling:
        factors.add("Art. 34(3) exceptions", sorted(dpo), "not applied: subjects need not be "
                    "told anyway", "assessment")
    return applied, communication


def assess(scope: dict[str, Any], nature: list[str], circumstances: dict[str, Any], *,
           custom_flags: dict[str, tuple[bool, bool, bool]] | None = None,
           exceptions: dict[str, str] | None = None,
           override: str | None = None, override_reason: str | None = None) -> dict[str, Any]:
    """The assessment of a breach from its scope, nature and circumstances (deterministic).

    ``exceptions`` maps ``"b"`` or ``"c"`` (Art. 34(3)) to the DPO's justification; ``"a"`` is
    derived from the evidence. ``override`` (one of :data:`DECISIONS`) needs ``override_reason``.
    """
    dpo = _checked(exceptions, override, override_reason)
    f = Facts.of(scope, nature, circumstances)
    factors = _Factors()
    dpc = _dpc(scope, custom_flags or {}, factors)
    ei = _ei(f, factors)
    cb = _cb(f, factors)
    score = round(dpc * ei + cb, 4)
    severity = level_of(score)
    factors.add("severity score (SE)", score, severity, f"{dpc:g} x {ei:g} + {cb:g}")
    likely = _likelihood(f, factors)
    steps = likely.steps(SEVERITY_STEPS[severity])
    computed = DECISIONS[steps]
    applied, communication = _exceptions(f, computed, dpo, factors)
    decision = override or computed
    if override and override != computed:
        communication = "individual" if override == "authority_and_subjects" else "not required"
    return {
        "method": METHOD,
        "dpc": dpc, "ei": ei, "cb": cb, "score": score, "severity": severity,
        "likelihood": likely.effect, "likelihood_reason": likely.recorded(f),
        "risk": RISK_TEXT[steps],
        "special_categories": list(scope.get("special") or []) + list(scope.get("criminal") or []),
        "financial": list(scope.get("financial") or []),
        "computed_decision": computed,
        "exceptions": applied,
        "override": ({"decision": override, "reason": (override_reason or "").strip()}
                     if override else None),
        "decision": decision,
        "subjects_communication": communication if decision == "authority_and_subjects"
        else "not required",
        "factors": list(factors),
    }
