"""Load the hand-written evaluation set and score span finders on it (exact spans).

Veil's types and Presidio's entity names are mapped onto the set's types (README.md here
says why): dates of birth and other dates are ``date``; national ids, tax, VAT and company
numbers are ``id``. Shared by ``tests/detect/test_eval_set.py`` and
``benchmarks/eval_detect.py``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
Span = tuple[int, int, str]

GOLD_TYPES = {"vat": "id"}
VEIL_TYPES = {
    "date_of_birth": "date",
    "national_id": "id",
    "vat": "id",
    "company_id": "id",
    "us_ssn": "id",
    "uk_nino": "id",
    "passport": "id",
}
PRESIDIO_TYPES = {
    "PERSON": "person",
    "PER": "person",
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IBAN_CODE": "iban",
    "CREDIT_CARD": "card",
    "IP_ADDRESS": "ip_address",
    "URL": "url",
    "DATE_TIME": "date",
    "LOCATION": "city",
    "GPE": "city",
    "CRYPTO": "crypto_wallet",
    "MAC_ADDRESS": "mac_address",
    "US_BANK_NUMBER": "account_number",
    "NRP": None,  # nationality, religion, political group: not in the set
    "ORGANIZATION": None,
    "ORG": None,
}  # every other Presidio entity (US_SSN, UK_NHS, ES_NIF, IT_FISCAL_CODE, ...) is an ``id``


def load(half: str) -> list[dict]:
    """The records of ``dev.jsonl``, ``test.jsonl``, ``dev2.jsonl`` or ``dev3.jsonl``: text,
    spans (start, end, type), source."""
    path = HERE / f"{half}.jsonl"
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]


def gold(rec: dict) -> set[Span]:
    return {(s["start"], s["end"], GOLD_TYPES.get(s["type"], s["type"])) for s in rec["spans"]}


def veil_spans(spans: Iterable) -> set[Span]:
    return {(s.start, s.end, VEIL_TYPES.get(s.type, s.type)) for s in spans}


def presidio_spans(results: Iterable, g: set[Span], min_score: float = 0.3) -> set[Span]:
    """Presidio's results ``[start, end, entity, score]``; a LOCATION over exactly a gold
    street address or postcode counts as that type (Presidio has one name for all three)."""
    exact = {(a, b): t for a, b, t in g}
    out = set()
    for start, end, entity, score in results:
        if score < min_score:
            continue
        t = PRESIDIO_TYPES.get(entity, "id")
        if t is None:
            continue
        if t == "city" and exact.get((start, end)) in ("street_address", "postcode"):
            t = exact[(start, end)]
        out.add((start, end, t))
    return out


def prf(tp: int, fp: int, fn: int) -> dict:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    return {"p": p, "r": r, "f1": 2 * p * r / (p + r) if p + r else 0.0, "tp": tp, "fp": fp,
            "fn": fn}  # fmt: skip


def score(golds: Sequence[set[Span]], preds: Sequence[set[Span]]) -> dict[str, dict]:
    """Per-type and micro (``"_all"``) precision, recall, F1; ``"_free"``: the share of
    PII-free texts (no gold span) given any span."""
    tp: dict[str, int] = {}
    fp: dict[str, int] = {}
    fn: dict[str, int] = {}
    free = flagged = 0
    for g, p in zip(golds, preds, strict=True):
        for s in g & p:
            tp[s[2]] = tp.get(s[2], 0) + 1
        for s in p - g:
            fp[s[2]] = fp.get(s[2], 0) + 1
        for s in g - p:
            fn[s[2]] = fn.get(s[2], 0) + 1
        if not g:
            free += 1
            flagged += bool(p)
    types = set(tp) | set(fp) | set(fn)
    out = {t: prf(tp.get(t, 0), fp.get(t, 0), fn.get(t, 0)) for t in types}
    out["_all"] = prf(sum(tp.values()), sum(fp.values()), sum(fn.values()))
    out["_free"] = {"texts": free, "flagged": flagged, "rate": flagged / free if free else 0.0}
    return out


def veil_finder():
    """Veil's span finder asked for every type it has (dates and URLs included)."""
    from veil.detect import SpanFinder, default_registry

    return SpanFinder(types={r.type for r in default_registry() if r.in_text})


def errors(recs: Sequence[dict], preds: Sequence[set[Span]]) -> list[str]:
    """Readable misses and false spans (for a failing test's message or a dev-half review)."""
    out = []
    for rec, p in zip(recs, preds, strict=True):
        g, text = gold(rec), rec["text"]
        for a, b, t in sorted(g - p):
            out.append(f"{rec['source']}: missed {t} {text[a:b]!r}")
        for a, b, t in sorted(p - g):
            out.append(f"{rec['source']}: false {t} {text[a:b]!r}")
    return out
