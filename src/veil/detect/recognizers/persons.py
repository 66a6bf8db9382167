"""Person names without a language model.

Evidence, cheapest first: capitalization (a run of capitalized words), first- and last-name
lists (names-dataset's first and last names of 105 countries, :mod:`.lexicon`), the words
right before the run (titles "Mr", "Frau", "Mme", "Sra."; salutations
"Dear", "Hi", "Hallo"; payee phrases "transfer to", "paid by", "from", "for"), and what
follows (a company suffix such as "GmbH" or "Ltd" means an organization, not a person).

The word lists live in :mod:`.person_words`, the rules for runs of words in free text in
:mod:`.person_runs`; this module scores whole column values (:data:`VALUE_SCORE_RULES`) and
declares the recognizer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from veil.detect.recognizers import lexicon
from veil.detect.recognizers._common import UPPER_CHARS
from veil.detect.recognizers.person_runs import (
    PARTICLE,
    PARTICLES,
    RUN_OPENERS,
    RUN_PATTERN,
    TOKEN,
    comma_name,
    company_follows,
    context_before,
    known,
    norm,
    score_run,
)
from veil.detect.recognizers.person_words import (
    COMPANY_WORDS,
    PAYEE_WORDS,
    SALUTATIONS,
    STOPWORDS,
    TITLES,
    VENUE_WORDS,
    name_lists,
)
from veil.detect.registry import Recognizer

__all__ = [
    "COMPANY_WORDS",
    "PARTICLE",
    "PAYEE_WORDS",
    "RECOGNIZERS",
    "RUN_OPENERS",
    "RUN_PATTERN",
    "SALUTATIONS",
    "STOPWORDS",
    "TITLES",
    "VENUE_WORDS",
    "TOKEN",
    "VALUE_SCORE_RULES",
    "comma_name",
    "company_follows",
    "context_before",
    "is_function_word",
    "known",
    "name_lists",
    "person_value_score",
    "score_run",
]

_VALUE_TOKEN = re.compile(r"[^\W\d_]+(?:['’\-][^\W\d_]+)*\.?")


@dataclass(frozen=True)
class ValueScoreRule:
    """The score of a column value of ``words`` ("one" or "several") name words (titles and
    particles left out, spelled as the name lists do) that satisfy ``applies``; the first
    matching row decides, and a value no row matches scores 0.0."""

    name: str
    words: str
    applies: Callable[[list[str], frozenset[str], frozenset[str]], bool]  # words, first, last
    score: float
    why: str


def _no_memo_word(words: list[str]) -> bool:
    return not any(t.lower() in STOPWORDS for t in words)


VALUE_SCORE_RULES: tuple[ValueScoreRule, ...] = (
    ValueScoreRule(
        "memo word",
        "one",
        lambda w, f, last: w[0].lower() in STOPWORDS,
        0.0,
        '"Rent", "Paris": a word of payment memos',
    ),
    ValueScoreRule(
        "known name",
        "one",
        lambda w, f, last: known(w[0], f) or known(w[0], last),
        0.5,
        '"Anna": a name, but single names are also cities and products',
    ),
    ValueScoreRule(
        "first name + last name",
        "several",
        lambda w, f, last: known(w[0], f) and known(w[-1], last),
        0.9,
        '"Anna Schmidt", "SCHMIDT, Anna"',
    ),
    ValueScoreRule(
        "first name or two surnames, no memo word",
        "several",
        lambda w, f, last: (
            (known(w[0], f) or (known(w[-1], last) and known(w[0], last))) and _no_memo_word(w)
        ),
        0.7,
        '"Anna Kowalczykowa", "Salas Coronado"',
    ),
)
_VALUE_RULES = {
    words: tuple(r for r in VALUE_SCORE_RULES if r.words == words) for words in ("one", "several")
}


def _name_words(value: str) -> list[str] | None:
    """The words of ``value`` as a name ("SCHMIDT, Anna" -> Anna Schmidt), titles and
    particles left out; None when it cannot be a name (digits, lower-case words, too long)."""
    v = value.strip()
    if not v or len(v) > 80 or not v[0].isalpha():
        return None
    if "," in v:
        parts = [p.strip() for p in v.split(",")]
        if len(parts) == 2 and parts[0] and parts[1]:
            v = parts[1] + " " + parts[0]
    tokens = v.replace(".", ". ").split()
    if len(tokens) > 6:
        return None
    words: list[str] = []
    for t in tokens:
        bare = t.rstrip(".")
        if (not words and bare.lower() in TITLES) or bare in PARTICLES:
            continue
        if not _capitalized_word(bare):
            return None
        words.append(bare)
    return words


def _capitalized_word(bare: str) -> bool:
    if not bare or (not bare[0].isupper() and bare[0] not in UPPER_CHARS):
        return False
    return bool(_VALUE_TOKEN.fullmatch(bare))


def is_function_word(word: str) -> bool:
    """A memo word, title or common word: never a lower-case name ("for rent", "to mr")."""
    low = word.lower()
    return low in STOPWORDS or low in TITLES or low in COMPANY_WORDS or lexicon.names().is_weak(low)


def person_value_score(value: str) -> float:
    """Score of a whole column value as a person name ("Anna Schmidt", "SCHMIDT, Anna",
    "Dr. Hans Müller"); 0.0 when it is not one. Single names score 0.5 at most."""
    words = _name_words(value)
    if not words or any(t.lower() in COMPANY_WORDS for t in words):
        return 0.0
    first, last = name_lists()
    normed = [norm(t) for t in words]
    for rule in _VALUE_RULES["one" if len(normed) == 1 else "several"]:
        if rule.applies(normed, first, last):
            return rule.score
    return 0.0


RECOGNIZERS = [
    Recognizer(
        name="person",
        type="person",
        pattern=RUN_PATTERN,
        value_pattern="[A-Za-zÀ-ɏ][^0-9@&+/:;=_#%]{1,79}",
        validator=person_value_score,
        validator_name="name lists (names-dataset) + capitalization + context",
        strength="format",
        score=0.85,
        column_names=(
            r"name|person|customer|client|payee|payer|beneficiary|holder|owner|recipient"
            r"|sender|debtor|creditor|contact|surname|vorname|nachname|nom|prenom|apellido"
            r"|nome|cognome|achternaam|voornaam"
        ),
    ),
]
