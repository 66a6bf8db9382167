"""From a column's counts to its report: which identifier types it holds (share of values that
matched AND validated, validation rate far above chance), the data category and the rule a
policy draft suggests, and what the column's name hints when no value gave it away."""

from __future__ import annotations

import re
from dataclasses import dataclass

from veil.detect.registry import DEFAULT_TYPE_INFO, TYPE_INFO, Recognizer, normalize_column_name
from veil.discovery.column_report import ColumnReport, TypeHit
from veil.discovery.column_state import ColumnState, TypeAcc

_STRENGTH_FACTOR = {"checksum": 1.0, "library": 0.95, "format": 0.85, "context": 0.75}
_MIN_RATE = 0.6  # validated / candidates, per type


@dataclass(frozen=True)
class NameHint:
    """A column name matching ``pattern`` (normalized: "customerEmail" -> "customer email")
    hints at ``category``; a draft suggests ``rule`` for it when no value said more."""

    pattern: str
    category: str
    rule: str | None


NAME_HINTS: tuple[NameHint, ...] = (
    NameHint(
        r"income|salary|wage|credit.?score|score|rating|loan|limit|debt|default|arrears|dti",
        "income_credit",
        "keep",
    ),
    NameHint(
        r"amount|amt|mcc|merchant|txn|transaction|currency|balance|fee|price|booking|posted|value_date",
        "transaction",
        "keep",
    ),
    NameHint(
        r"\bage\b|gender|\bsex\b|nationality|marital|birth_?year|citizenship|ethnic",
        "demographic",
        "generalize",
    ),
    NameHint(
        r"\bcity\b|\btown\b|country|region|\bstate\b|province|county|district",
        "location",
        "generalize",
    ),
    NameHint(r"employ|occupation|profession|job|education", "employment", None),
)
# A column named like the data subject's own key (customer_id, client_no ...) is personal data
# (a pseudonymous identifier, GDPR Recital 26) even though no recognizer matches its values.
SUBJECT_ID_NAME = re.compile(
    r"^(customer|client|subject|user|member|person|party|holder|cust|account_holder|borrower|"
    r"applicant|employee|patient)[ _\-]?(id|no|nr|num|number|ref|key|code)$",
    re.IGNORECASE,
)


def name_hint(name: str) -> NameHint | None:
    """The first :data:`NAME_HINTS` row whose pattern the column name matches."""
    low = normalize_column_name(name)
    return next((h for h in NAME_HINTS if re.search(h.pattern, low)), None)


def _empty_note(rep: ColumnReport) -> str:
    if rep.rows == 0:
        return "no values"
    return "all values are null" if not rep.blank else "all values are null or blank"


def _dob_hits(st: ColumnState) -> list[TypeHit]:
    """A date column named like a birth date whose dates are (nearly) all plausible ones."""
    if not (st.dob_rows and st.dob_ok / st.dob_rows >= 0.9):
        return []
    acc = st.types.get("date_of_birth", TypeAcc())
    share = st.dob_ok / st.report.non_null
    return [
        TypeHit(
            "date_of_birth",
            round(share, 4),
            st.dob_ok,
            round(min(1.0, share * 0.75 + 0.2), 3),
            ["date_of_birth"],
            ["calendar date, age 0-120"],
            acc.examples,
            True,
        )
    ]


def _min_rate(type_: str, support: bool) -> float:
    """A gazetteer knows the real towns of 5,000 people or more: a column named like a town
    column whose values are a third of the time such towns is one (villages, spellings)."""
    if type_ == "city" and support:
        return 0.3
    return _MIN_RATE


def _weak_shape(type_: str, recs: list[Recognizer]) -> bool:
    """Shapes that ordinary words or codes can take: a few repeated values prove little."""
    return (
        type_ == "bic"
        or all(r.strength == "context" for r in recs)
        or (type_ == "phone" and not any(r.name == "phone_intl" for r in recs))
    )


class Verdicts:
    """Turns each column's state into its final :class:`ColumnReport`."""

    def __init__(
        self,
        recs: list[Recognizer],
        *,
        min_share: float,
        text_sample: int | None,
        max_value_chars: int,
    ) -> None:
        self.recs = recs
        self.min_share = min_share
        self.text_sample = text_sample
        self.max_value_chars = max_value_chars

    def report(self, st: ColumnState) -> ColumnReport:
        rep = st.report
        rep.distinct = st.distinct_sum if st.batches == 1 else None
        hint = name_hint(rep.name)
        rep.name_hint = hint.category if hint else None
        rep.types = sorted(self._hits(st), key=lambda h: (-h.share, -h.confidence))
        if rep.free_text:
            self._finish_text(st)
        elif rep.types:
            self._finish_typed(rep)
        else:
            self._finish_untyped(rep, hint)
        return rep

    def _hits(self, st: ColumnState) -> list[TypeHit]:
        rep = st.report
        if rep.non_null == 0:
            rep.notes.append(_empty_note(rep))
            return []
        if st.kind == "temporal":
            return _dob_hits(st)
        if st.kind == "numeric" or rep.free_text:
            return []
        hits = (self.verdict(st, t, acc) for t, acc in st.types.items())
        best: dict[str, TypeHit] = {}  # one hit per type: generated formats count as theirs
        for h in hits:
            if h is None:
                continue
            b = best.get(h.type)
            if b is None:
                best[h.type] = h
                continue
            if h.share > b.share:
                best[h.type], b, h = h, h, b
            b.recognizers = sorted(set(b.recognizers) | set(h.recognizers))
            b.validators = sorted(set(b.validators) | set(h.validators))
        return list(best.values())

    def verdict(self, st: ColumnState, t: str, acc: TypeAcc) -> TypeHit | None:
        """The type ``t`` as a hit of the column, or None when the evidence is too thin."""
        if t.startswith("_text:") or acc.rows == 0:
            return None
        share = acc.rows / st.report.non_null
        rate = acc.rows / acc.candidates if acc.candidates else 0.0
        t, _, own = t.partition("@")  # "national_id@br_cpf": one generated format's own count
        recs = [r for r in self.recs if r.type == t and r.name in acc.recognizers]
        support = st.supported(self.recs, t)
        if share < self._min_share(t, support) or rate < _min_rate(t, support):
            return None
        if own and rate < max(r.column_min_rate or 0.0 for r in recs):
            return None  # a generated format counts when nearly all its candidates validate
        if _weak_shape(t, recs) and not support and acc.distinct_validated < 5:
            return None  # a handful of repeated values proves little without a name hint
        strength = max((_STRENGTH_FACTOR[r.strength] for r in recs), default=0.75)
        conf = share * strength * (0.5 + 0.5 * rate)
        if support:
            conf += 0.1
        return TypeHit(
            type=t,
            share=round(share, 4),
            rows=acc.rows,
            confidence=round(min(conf, 1.0), 3),
            recognizers=sorted(acc.recognizers),
            validators=sorted(acc.validators),
            examples=acc.examples[:2],
            name_support=support,
        )

    def _min_share(self, t: str, support: bool) -> float:
        if t == "person":
            # single names and 2-word values are also cities, products...: demand more
            return 0.3 if support else 0.5
        return self.min_share

    def _finish_text(self, st: ColumnState) -> None:
        rep = st.report
        rep.category, rep.rule = TYPE_INFO["free_text"]
        rep.confidence = 0.9 if sum(rep.embedded.values()) else 0.6
        if rep.truncated_values:
            rep.notes.append(
                f"{rep.truncated_values} values longer than {self.max_value_chars} "
                "characters were scanned up to that length"
            )
        if self.text_sample is not None and rep.text_values_scanned >= self.text_sample:
            rep.notes.append(
                f"free text: {rep.text_values_scanned} distinct values scanned (text_sample)"
            )
        rep.embedded = dict(sorted(rep.embedded.items(), key=lambda kv: -kv[1]))
        rep.embedded_examples = {
            t: st.types["_text:" + t].examples[:2] for t in rep.embedded if "_text:" + t in st.types
        }

    def _finish_typed(self, rep: ColumnReport) -> None:
        """Category and rule of the top type; a user recognizer of that type may set its own."""
        top = rep.types[0]
        rep.category, rep.rule = TYPE_INFO.get(top.type, DEFAULT_TYPE_INFO)
        for r in self.recs:
            if r.type == top.type and (r.category or r.rule):
                rep.category = r.category or rep.category
                rep.rule = r.rule or rep.rule
                break
        rep.confidence = top.confidence

    def _finish_untyped(self, rep: ColumnReport, hint: NameHint | None) -> None:
        if rep.truncated_values:
            rep.notes.append(
                f"{rep.truncated_values} values longer than {self.max_value_chars} "
                "characters were not matched against identifier patterns"
            )
        if SUBJECT_ID_NAME.match(rep.name.strip()) and rep.non_null:
            rep.subject_key = True
            rep.category, rep.rule, rep.confidence = "direct_identifier", "pseudonymize", 0.7
            rep.notes.append("named like the data subject's identifier")
            return
        rep.category = rep.name_hint
        rep.rule = hint.rule if hint else None
