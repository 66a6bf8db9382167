"""Which words of a capitalized run in free text form a person's name, and how sure.

The decision is data: :data:`LEAD_RULES` say which words open a run without being part of the
name ("Dear Mr John Smith"), :data:`TAIL_RULES` which words close it ("John Smith Jan"),
:data:`NAME_SCORE_RULES` what the remaining name words are worth (first matching row of the
name's shape wins), :data:`CONTEXT_BONUS` what a title, salutation or payee phrase adds, and
:data:`RUN_VETOES` / :data:`SURROUNDING_VETOES` what makes it an organization or a town. A
reviewer (or a DPO) can point at the row that decided; :func:`score_run` is the short engine.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from veil.detect.recognizers._common import UPPER
from veil.detect.recognizers.dates import MONTHS
from veil.detect.recognizers.firms import firm_covers
from veil.detect.recognizers.lexicon import fold
from veil.detect.recognizers.lexicon import names as lexicon_names
from veil.detect.recognizers.person_words import (
    BANK_WORDS,
    COMPANY_WORDS,
    HONORIFICS_AFTER,
    NEVER_NAMES,
    PAYEE_WORDS,
    PERSON_VERBS,
    SALUTATIONS,
    STOPWORDS,
    TITLES,
    VENUE_WORDS,
    name_lists,
)

# -- text matching ---------------------------------------------------------------------

_ENGLISH_MONTHS = frozenset(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"]
)
_LOWER_TAIL = r"(?:[^\W\d_]|['’](?=[^\W\d_]))"
TOKEN = UPPER + _LOWER_TAIL + r"*(?:-[^\W\d_]" + _LOWER_TAIL + r"*)*"
PARTICLE = (
    r"(?:van|von|der|den|de|da|di|del|della|la|le|du|dos|das|ten|ter|zu|y|bin|al|af|av|vom|zur"
    r"|los|las|do)"
)
# an initial ("J. Duarte") counts as a token when a capitalized word follows
_INITIAL = UPPER + r"\.(?=[ ]+" + UPPER + ")"
_TOK = "(?:" + _INITIAL + "|" + TOKEN + ")"
RUN_PATTERN = (
    r"(?<![\w@.\-])" + _TOK + r"(?:[ ]+(?:" + PARTICLE + r"[ ]+){0,3}" + _TOK + r"){0,6}(?![\w@])"
)
_JOINERS = frozenset(("&", "and", "und", "et", "e", "y", "en", ","))
_STRIP = ",;:()[]\"'"


def company_follows(after: str) -> bool:
    """A company suffix within the next few capitalized words ("GmbH", "& Co", "S.A.")."""
    for w in after[:60].split()[:5]:
        wl = w.lower().strip(_STRIP)
        if wl in COMPANY_WORDS or wl.rstrip(".") in COMPANY_WORDS:
            return True
        if wl.startswith("&") and wl[1:] in ("co", "co."):
            return True
        if not (w[:1].isupper() or wl in _JOINERS or w == "&"):
            return False
    return False


PARTICLES = frozenset(PARTICLE[3:-1].split("|"))
INNER_PARTICLES = frozenset(
    ("al", "el", "bin", "ibn", "bint", "binti", "abu", "abd", "van", "von", "de", "da", "di")
    + ("del", "della", "dos", "das", "du", "le", "la", "ter", "ten", "ap")
)
"""Particles also written with a capital or in capitals inside a name ("Ahmed bin Rashid Al
Maktoum", "NGUYEN VAN AN", "Ana Paula Da Silva"): never at its ends."""
# "Smith, Jones and Brown", "Bouvet & Fils": a list of surnames is a firm
FIRM_AFTER = re.compile(
    r"^(?:(?:,\s*"
    + UPPER
    + r"[\w'’\-]*)+,?\s+(?:and|und|et|e|y|en|&)\s+"
    + UPPER
    + r"|\s*&\s*"
    + UPPER
    + ")"
)
# a capitalized word right after a postcode is a town ("75001 Paris", "1012 AB Amsterdam")
_AFTER_DAY = re.compile(r"(?<![\w.,])(?:[1-9]|[12]\d|3[01])\.?\s+$")
_AFTER_POSTCODE = re.compile(
    r"(?<![\w\-])(?:\d{4,5}|\d{2}-\d{3}|\d{4} ?[A-Z]{2}|[A-Z]\d[A-Z\d]? ?\d[A-Z]{2}"
    r"|[A-Z]\d{2} ?[A-Z0-9]{4})"
    r"\s+$"
)
_JOIN_AFTER = re.compile(r"^,?\s+(?:and|und|et|e|y|en|&)\s+" + UPPER)
_JOIN_BEFORE = re.compile(UPPER + r"[\w'’\-]*(?:,?\s+(?:and|und|et|e|y|en|&)|,)\s+$")


def _in_firm(before: str, after: str) -> bool:
    """A lone name inside "Collins, Howard and Martin" is part of a firm's name."""
    return bool(_JOIN_AFTER.match(after) or _JOIN_BEFORE.search(before[-40:]))


_SALUTE_WORDS = frozenset(w for w in SALUTATIONS if " " not in w)
_PAYEE_SINGLE = frozenset(w for w in PAYEE_WORDS if " " not in w and len(w) > 2)
_TITLE_WORDS = TITLES | {"sig.ra", "dott.ssa"}
# first words of a run that make the rest a name candidate even when unknown ("Dear Xiomara")
RUN_OPENERS = TITLES | _SALUTE_WORDS | _PAYEE_SINGLE
_SALUTE_ALL = frozenset(SALUTATIONS)
_PAYEE_ALL = frozenset(PAYEE_WORDS)
_NO_CONTEXT = (False, False, False)


def context_before(before_lower: str) -> tuple[bool, bool, bool]:
    """(title, salutation, payee phrase) right before a name, from the last two words."""
    tail = before_lower.rstrip()
    if not tail or (tail[-1:] not in ".:,-" and not tail[-1:].isalpha()):
        return _NO_CONTEXT
    words = tail.rsplit(None, 2)[-2:]
    last = words[-1].rstrip(":,-")
    if not last:
        if len(words) < 2:
            return _NO_CONTEXT
        last = words[-2].rstrip(":,-")
        words = words[:-1]
    if last.rstrip(".") in _TITLE_WORDS or last in _TITLE_WORDS:
        return True, False, False
    two = " ".join(w.rstrip(":,-") for w in words) if len(words) == 2 else last
    if last in _SALUTE_ALL or two in _SALUTE_ALL:
        return False, True, False
    if last in _PAYEE_ALL or two in _PAYEE_ALL:
        return False, False, True
    return _NO_CONTEXT


def norm(tok: str) -> str:
    """An all-caps word as the name lists spell it ("SCHMIDT-WEBER" -> "Schmidt-Weber")."""
    if tok.isupper() and len(tok) > 1:
        return "-".join(p.capitalize() for p in tok.split("-"))
    return tok


def known(tok: str, names: frozenset[str]) -> bool:
    """``tok`` (or every part of a double-barrelled ``tok``, or its Polish nominative) is in
    ``names`` (folded words)."""
    key = fold(tok)
    if key in names:
        return True
    if key[-1:] in ("ę", "ą") and key[:-1] + "a" in names:
        return True  # Polish accusative and instrumental: "Olenę", "Anną", "Kowalską"
    if "-" in key:
        parts = [p for p in key.split("-") if p]
        return bool(parts) and all(p in names for p in parts)
    return False


def first_last(tokens: list[str], i: int, first: frozenset[str], last: frozenset[str]) -> bool:
    """tokens[i] is a first name and the next non-particle token a last name."""
    if i < 0 or i + 1 >= len(tokens) or not known(tokens[i], first):
        return False
    j = i + 1
    while j < len(tokens) - 1 and tokens[j] in PARTICLES:
        j += 1
    return known(norm(tokens[j]), last)


def _is_initial(tok: str) -> bool:
    return len(tok) == 2 and tok[1] == "."


# -- the run being scored ----------------------------------------------------------------


class Run:
    """A capitalized run of words and what is known about it while it is scored: the bounds
    of the name inside it (``lo``..``hi`` inclusive), the context flags, and (once the bounds
    are set, :meth:`measure`) what each word is."""

    __slots__ = (
        "after",
        "allcaps",
        "before",
        "first",
        "full",
        "has_initials",
        "hi",
        "initial",
        "keep",
        "last",
        "lo",
        "low",
        "norm",
        "part",
        "payee",
        "salute",
        "titled",
        "tokens",
    )

    def __init__(self, tokens: list[str], before: str, after: str) -> None:
        self.tokens = tokens
        self.low = [t.lower() for t in tokens]
        self.before = before
        self.after = after
        self.first, self.last = name_lists()
        self.lo = 0
        self.hi = len(tokens) - 1
        self.titled = self.salute = self.payee = False

    @property
    def context(self) -> bool:
        """A title, salutation or payee phrase introduces the name."""
        return self.titled or self.salute or self.payee

    def first_last(self, i: int) -> bool:
        return first_last(self.tokens, i, self.first, self.last)

    def measure(self) -> None:
        """Each word's spelling in the name lists, whether it is a particle, an initial or
        worth keeping (a known name or an initial), and whether the run between the bounds
        is in capitals ("SONIA WUDARCZYK"): decided once, before unknown words are dropped."""
        first, last = self.first, self.last
        self.norm = n = [norm(t) for t in self.tokens]
        last_i = len(self.tokens) - 1
        self.part = part = [
            t in PARTICLES or (0 < i < last_i and t.lower() in INNER_PARTICLES)
            for i, t in enumerate(self.tokens)
        ]
        self.initial = initial = [_is_initial(t) for t in self.tokens]
        self.keep = [
            initial[i] or (not part[i] and (known(n[i], first) or known(n[i], last)))
            for i in range(len(n))
        ]
        lo = self.lo
        words = self.tokens[lo : self.hi + 1]
        self.allcaps = all(t.isupper() for i, t in enumerate(words) if not part[lo + i])

    def settle(self) -> None:
        """The name's words once the bounds are final: without particles and initials,
        spelled as the name lists do (``full``), and whether initials were among them."""
        names = [self.norm[i] for i in range(self.lo, self.hi + 1) if not self.part[i]]
        self.full = [t for t in names if not _is_initial(t)]
        self.has_initials = len(self.full) < len(names)

    def known_first(self, tok: str) -> bool:
        return known(tok, self.first)

    def known_last(self, tok: str) -> bool:
        return known(tok, self.last)

    def known_any(self, tok: str) -> bool:
        return known(tok, self.first) or known(tok, self.last)

    @property
    def shape(self) -> str:
        """Which family of :data:`NAME_SCORE_RULES` applies."""
        if self.has_initials:
            return "initials"
        if len(self.full) == 1:
            return "single"
        return "all_caps" if self.allcaps else "full"


# -- rule tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadRule:
    """What a word at the start of a run is: ``effect`` is "title", "salutation" or "payee"
    (a context word, skipped), "skip" (not part of the name) or "name" (the name starts).

    A row matches when the lower-cased word is in ``words`` or, for rows that need more than
    the word itself, when ``matches(run, index)`` holds."""

    name: str
    effect: str
    why: str
    words: frozenset[str] | None = None
    matches: Callable[[Run, int], bool] | None = None


def _dotted_title(run: Run, i: int) -> bool:
    """ "Dr." is a title; "M." before a word is an initial ("M. Duarte"), before "J." a title."""
    low = run.low[i]
    return (
        low.endswith(".")
        and low[:-1] in TITLES
        and i < run.hi
        and (
            len(low) > 2
            or _is_initial(run.tokens[i + 1])
            # "M. Lucien Aubert": a given name (no surname: "M. García Laguna") and a
            # surname follow
            or (
                i + 1 < run.hi
                and run.known_first(norm(run.tokens[i + 1]))
                and not lexicon_names().is_mainly_last(run.tokens[i + 1])
            )
        )
    )


def _ordinary_word(run: Run, i: int) -> bool:
    low = run.low[i]
    return low in STOPWORDS or low in BANK_WORDS or run.tokens[i] in PARTICLES


def _name_despite_word(run: Run, i: int) -> bool:
    """A known first name that is also a memo word, a known surname after it ("Milan Vignon")."""
    return (
        run.low[i] not in NEVER_NAMES
        and run.first_last(i)
        and lexicon_names().is_top_first(run.tokens[i])
    )


LEAD_RULES: tuple[LeadRule, ...] = (
    LeadRule("title", "title", '"Mr", "Frau", "Sra" before a name', words=TITLES),
    LeadRule("abbreviated title", "title", '"Dr.", "M. J."', matches=_dotted_title),
    LeadRule(
        "salutation", "salutation", '"Dear", "Hallo" open a letter to a person', _SALUTE_WORDS
    ),
    LeadRule("payee word", "payee", '"Payee", "Beneficiary" name who follows', words=_PAYEE_SINGLE),
    LeadRule(
        "name word",
        "name",
        "a word that is no memo word, bank word or particle starts the name",
        matches=lambda r, i: not _ordinary_word(r, i),
    ),
    LeadRule(
        "first name that is also a word",
        "name",
        '"Milan Vignon", "Sep Huberts": a known first name followed by a known last name',
        matches=lambda r, i: r.low[i] in STOPWORDS and _name_despite_word(r, i),
    ),
    LeadRule("memo word", "skip", '"Paid", "SEPA", "von": not the name', matches=lambda r, i: True),
)


@dataclass(frozen=True)
class TailRule:
    """A word at the end of a run that is not part of the name (dropped while one matches)."""

    name: str
    matches: Callable[[Run, int], bool]
    why: str


def _base(tok: str) -> str:
    """A word without a suffix after an apostrophe ("Hanım'ın" -> "hanım")."""
    low = tok.lower()
    for q in ("'", "’"):
        if q in low[1:]:
            low = low.split(q, 1)[0]
    return low


REGION_CODES = frozenset(
    ("UK", "US", "USA", "EU", "EEA", "EMEA", "APAC", "GB", "DE", "FR", "ES", "IT", "NL", "PL")
    + ("PT", "SE", "DK", "FI", "IE", "AT", "BE", "CH", "LU", "NO")
)


TAIL_RULES: tuple[TailRule, ...] = (
    TailRule("particle", lambda r, i: r.tokens[i] in PARTICLES, '"van", "de" end no name'),
    TailRule(
        "honorific after the name",
        lambda r, i: i > r.lo and _base(r.tokens[i]) in HONORIFICS_AFTER,
        '"Osman Yavuz Bey", "Zehra Öztürk Hanım\'ın", "Olusegun Obasanjo Jr"',
    ),
    TailRule(
        "country code in capitals",
        lambda r, i: (
            i > r.lo and r.tokens[i] in REGION_CODES and not all(t.isupper() for t in r.tokens)
        ),
        '"Chase UK", "Anna Schmidt DE": a firm\'s or a name\'s country, no name word',
    ),
    TailRule(
        "lone letter",
        lambda r, i: i > r.lo and len(r.tokens[i].rstrip(".")) == 1,
        "an initial after the name belongs to what follows",
    ),
    TailRule(
        "month",
        lambda r, i: (
            i > r.lo
            and r.low[i] in MONTHS
            and (
                r.after.lstrip()[:1].isdigit()
                or len(r.tokens[i]) > 3
                or r.low[i] in _ENGLISH_MONTHS
                or not (r.known_any(r.tokens[i]) or lexicon_names().is_weak(r.tokens[i]))
            )
        ),
        '"Anna Berg March", "Anna Berg Jan 2024"; a short month word that is also a name '
        'stays ("Tran Thi Mai")',
    ),
    TailRule(
        "memo word",
        lambda r, i: (
            r.low[i] in STOPWORDS
            and r.low[i] not in MONTHS  # the month row decides those
            and (r.low[i] in NEVER_NAMES or not r.first_last(i - 1))
            and not (i > r.lo and r.tokens[i - 1] in PARTICLES)
        ),
        '"John Smith Rent": a memo word, unless it is a surname after a first name '
        '("Anna Rose") or a particle ("van Dam")',
    ),
)


@dataclass(frozen=True)
class NameScoreRule:
    """The score of a name of ``shape`` ("initials", "single", "all_caps" or "full") when
    ``applies``; the first matching row of the shape decides. 0.0 means "not a name"."""

    name: str
    shape: str
    applies: Callable[[Run], bool]
    score: float
    why: str


def _always(run: Run) -> bool:
    return True


def _lone_first_name(run: Run) -> bool:
    """A known first name, not one of a firm's surnames ("Collins, Howard and Martin"); a very
    common first name may stand in a list ("Dinner with Lars and Ingrid")."""
    tok = run.full[0]
    if not run.known_first(tok):
        return False
    if not _in_firm(run.before, run.after):
        return True
    # "Dinner with Lars and Ingrid": two common first names; "Collins, Howard and Martin",
    # a list with commas, stays a firm
    listed = ", " in run.before[-30:] or run.after.startswith(",")
    return lexicon_names().is_top_first(tok) and not listed


def _opens_with_verb(run: Run) -> bool:
    """ "Rafael paid the rent", "Hiroshi: called twice": a very common first name opening the
    text, followed by a verb of what people do (or by nothing)."""
    if run.lo != 0:
        return False
    lex = lexicon_names()
    tok = run.full[0]
    bare = run.after.lstrip(" ")
    if bare and bare[0] == ":" and _SPEAKER_BEFORE.search(run.before[-24:]):
        return lex.is_top_first(tok)  # a chat line: "10:42 Rania: ...", "agent Ingrid: ..."
    if not run.before.strip() and bare and bare[0] in "-–:,(/":  # "Lieze - birthday gift"
        # a word and a colon opening a text is most often a label ("Chat:", "Sohbet:")
        return lex.is_top_first(tok) if bare[0] == ":" else lex.is_first(tok)
    after = run.after.strip(" ,:;-")
    nxt = after.split(None, 1)[0].lower() if after else ""
    return lex.is_top_first(tok) and (not nxt or nxt in PERSON_VERBS)


# what opens a chat line before the speaker's name: a time, or the speaker's role
_SPEAKER_BEFORE = re.compile(
    r"(?:\b\d{1,2}:\d{2}(?::\d{2})?\]?|\b(?:agent|advisor|adviser|operator|rep|customer|client|"
    r"berater|beraterin|kunde|kundin|conseiller|conseillère|asesor|asesora|cliente|consulente|"
    r"adviseur|klant|doradca|klient|consultor|handläggare|kund|temsilci|müşteri))\s+$",
    re.IGNORECASE,
)
_LOWER_BEFORE = re.compile(r"(?:^|\s)[a-zß-ÿ]{2,}\s$")
_LOWER_AFTER = re.compile(r"^\s[a-zß-ÿ]")


def _first_name_in_sentence(run: Run) -> bool:
    """ "Own transfer Haroldo to savings": a very common first name between lower-case words
    (a capital inside a lower-case sentence marks a proper noun)."""
    return (
        run.lo == 0
        and len(run.tokens) == 1
        and bool(_LOWER_BEFORE.search(run.before[-20:]))
        and bool(_LOWER_AFTER.match(run.after))
        and lexicon_names().is_top_first(run.full[0])
        and _lone_first_name(run)
    )


def _caps_one_known(run: Run) -> bool:
    return any(run.known_any(t) for t in run.full) and all(
        len(t) >= 3 and t.lower() not in STOPWORDS for t in run.full
    )


NAME_SCORE_RULES: tuple[NameScoreRule, ...] = (
    NameScoreRule(
        "initials + known name",
        "initials",
        lambda r: r.known_any(r.full[-1]),
        0.7,
        '"J. Duarte", "M. J. Vranckx": initials and a known last word',
    ),
    NameScoreRule("initials + unknown name", "initials", _always, 0.55, '"F. Ponci"'),
    NameScoreRule(
        "title + known name",
        "single",
        lambda r: r.titled and r.known_any(r.full[0]),
        0.8,
        '"Mr Smith"',
    ),
    NameScoreRule("title + unknown name", "single", lambda r: r.titled, 0.65, '"Frau Xyzzy"'),
    NameScoreRule(
        "salutation + known name",
        "single",
        lambda r: r.salute and r.known_any(r.full[0]),
        0.75,
        '"Dear Anna"',
    ),
    NameScoreRule(
        "salutation + unknown word",
        "single",
        lambda r: r.salute,
        0.0,
        '"Dear Customer": an unknown word after a salutation proves nothing',
    ),
    NameScoreRule(
        "lone capitals or short word",
        "single",
        lambda r: r.allcaps or len(r.full[0]) < 3,
        0.0,
        '"ATM", "Al": codes and short words',
    ),
    NameScoreRule(
        "payee + first name",
        "single",
        lambda r: r.payee and _lone_first_name(r),
        0.65,
        '"Pocket money Tony": a first name after a payee phrase, not inside a firm\'s name',
    ),
    NameScoreRule(
        "first name opening the run",
        "single",
        lambda r: _opens_with_verb(r) and _lone_first_name(r),
        0.5,
        '"Rafael paid"; not "Grant application fee", "Hope this helps", nor the tail of a '
        'longer name ("Air France")',
    ),
    NameScoreRule(
        "common first name inside a sentence",
        "single",
        _first_name_in_sentence,
        0.55,
        '"Own transfer Haroldo to savings"',
    ),
    NameScoreRule("other single word", "single", _always, 0.0, "one word alone is no name"),
    NameScoreRule(
        "capitals: first and last name",
        "all_caps",
        lambda r: any(r.known_first(t) for t in r.full) and any(r.known_last(t) for t in r.full),
        0.7,
        '"SONIA WUDARCZYK", "MANSVELD RAFAEL": order unknown',
    ),
    NameScoreRule(
        "capitals: one known name",
        "all_caps",
        _caps_one_known,
        0.55,
        "one known name among words of three letters or more that are no memo words",
    ),
    NameScoreRule("capitals: no known name", "all_caps", _always, 0.0, '"SEPA TRANSFER"'),
    NameScoreRule(
        "first name + last name",
        "full",
        lambda r: (
            r.known_first(r.full[0]) and (r.known_last(r.full[-1]) or any(r.part[r.lo : r.hi + 1]))
        ),
        0.85,
        '"Anna Schmidt", "Daan van den Velden"',
    ),
    NameScoreRule(
        "first name + unknown",
        "full",
        lambda r: r.known_first(r.full[0]),
        0.7,
        '"Anna Kowalczykowa"',
    ),
    NameScoreRule(
        "all words known names",
        "full",
        lambda r: all(r.known_any(t) for t in r.full),
        0.6,
        '"Wanjiru Kamau", "Schmidt Weber": known names, first name not first',
    ),
    NameScoreRule(
        "some word a known name",
        "full",
        lambda r: any(r.known_any(t) for t in r.full),
        0.4,
        '"Xiomara Schmidt"',
    ),
    NameScoreRule("capitalized words", "full", _always, 0.2, "capitalization alone"),
)

CONTEXT_BONUS = 0.15
"""Added to a name of several words (or with initials) that a title, salutation or payee
phrase introduces ("Transfer to Anna Schmidt"); single words have their own rows."""


_BY_SHAPE: dict[str, tuple[NameScoreRule, ...]] = {
    shape: tuple(r for r in NAME_SCORE_RULES if r.shape == shape)
    for shape in ("initials", "single", "all_caps", "full")
}


@dataclass(frozen=True)
class Veto:
    """A reason a run is not a person's name at all (an organization, a town)."""

    name: str
    applies: Callable[[Run], bool]
    why: str


RUN_VETOES: tuple[Veto, ...] = (
    Veto(
        "company word in the run",
        lambda r: any(w in COMPANY_WORDS for w in r.low),
        '"Deutsche Bank", "Acme Holding"',
    ),
    Veto("article opens the run", lambda r: r.low[0] == "the", '"The Ivy", "The Body Shop"'),
)


def _venue_follows(run: Run) -> bool:
    """The name's last word, or the capitalized word after it, is a place or organization."""
    words = run.low[run.hi : run.hi + 2]
    return any(w.strip(".,") in VENUE_WORDS for w in words)


_THE_BEFORE = re.compile(r"(?:^|[\s(])the\s+$")


def _in_known_firm(run: Run) -> bool:
    """A firm of :mod:`.firms` takes in a word of the name (words around it included)."""
    before = " ".join([run.before, *run.tokens[: run.lo]])
    after = " ".join(["", *run.tokens[run.hi + 1 :]]) + run.after
    return firm_covers(before, run.tokens[run.lo : run.hi + 1], after)


SURROUNDING_VETOES: tuple[Veto, ...] = (
    Veto(
        "place or organization noun ends or follows the name",
        _venue_follows,
        '"Royal Albert Hall", "Western Union", "Apple Store", "Smith Street"',
    ),
    Veto(
        "company suffix follows",
        lambda r: (
            company_follows(r.after)
            or (r.after[:1] == "." and company_follows(r.tokens[-1] + r.after))
        ),
        '"Müller GmbH", "Bouvet et Fils", "Renaud S.A."',
    ),
    Veto("list of surnames", lambda r: bool(FIRM_AFTER.match(r.after)), '"Smith, Jones and Brown"'),
    Veto(
        '"the" right before the name',
        lambda r: r.lo == 0 and not r.titled and bool(_THE_BEFORE.search(r.before[-8:])),
        '"the Victoria Gold card", "the Marcus account": a product or a firm, not a person',
    ),
    Veto(
        "a known firm named after people",
        lambda r: not (r.titled or r.salute) and _in_known_firm(r),
        '"Goldman Sachs", "Grant Thornton", "Ernst & Young" (not "Mr John Lewis")',
    ),
    Veto(
        "after a postcode",
        lambda r: bool(_AFTER_POSTCODE.search(r.before)),
        '"75001 Paris", "1012 AB Amsterdam": a town',
    ),
    Veto(
        "a month after a day",
        lambda r: (
            len(r.full) == 1 and r.full[0].lower() in MONTHS and bool(_AFTER_DAY.search(r.before))
        ),
        '"3 Maja", "1. Mai": a date, though "Maja" and "Mai" are names',
    ),
)


# -- the engine ----------------------------------------------------------------------------


def _skip_lead(run: Run) -> None:
    """Move ``lo`` past the leading words that are not the name, noting context words."""
    while run.lo <= run.hi:
        effect = "name"
        low = run.low[run.lo]
        for rule in LEAD_RULES:  # the first row that matches (the last matches every word)
            words = rule.words
            if words is not None:
                if low not in words:
                    continue
            elif not rule.matches(run, run.lo):  # type: ignore[misc]
                continue
            effect = rule.effect
            break
        if effect == "name":
            break
        if effect != "skip":
            setattr(run, _FLAG[effect], True)
        run.lo += 1
    if run.lo == 0:
        run.titled, run.salute, run.payee = context_before(run.before.lower())
    elif run.titled:  # "Mr van Evelingen", "Meneer Van den Broeck": the particle belongs
        while run.lo > 0 and (  # to the surname
            run.tokens[run.lo - 1] in PARTICLES
            or (run.low[run.lo - 1] in INNER_PARTICLES and run.low[run.lo - 1] not in TITLES)
        ):
            run.lo -= 1


_FLAG = {"title": "titled", "salutation": "salute", "payee": "payee"}
# payee and greeting words that end a label inside a capitalized run (not name particles)
_CAPS_LABELS = frozenset(
    w for w in _PAYEE_SINGLE | _SALUTE_WORDS if len(w) >= 4 and w not in INNER_PARTICLES
)


def _drop_tail(run: Run) -> None:
    """Move ``hi`` back while a row of :data:`TAIL_RULES` matches the last word."""
    while run.hi >= run.lo:
        for rule in TAIL_RULES:
            if rule.matches(run, run.hi):
                break
        else:
            return
        run.hi -= 1


def _drop_unknown_lead(run: Run) -> None:
    """Unknown leading words ("Paid Anna Schmidt") go unless a title or salutation precedes;
    an all-caps run keeps them when it holds a known first name."""
    if run.titled or run.salute:
        return
    lo, hi, part, keep = run.lo, run.hi, run.part, run.keep
    if run.allcaps:  # "ORDERING CUSTOMER PETERSEN": the name starts after the label's word
        for k in range(hi - 1, lo - 1, -1):
            if run.low[k] in _CAPS_LABELS:
                lo = run.lo = k + 1
                run.payee = True
                break
    caps_name = (
        run.allcaps
        and hi - lo <= 3
        and any(run.known_first(run.norm[i]) for i in range(lo, hi + 1))
    )
    while lo < hi and (part[lo] or not keep[lo]) and not (caps_name and not part[lo]):
        lo += 1
    while lo < hi and run.low[lo] in STOPWORDS and not _name_despite_word(run, lo):
        lo += 1  # "Producto Cuenta Clara": a memo word after the dropped words is none either
    while run.allcaps and lo > 0 and run.tokens[lo - 1].isupper() and run.low[lo - 1] in PARTICLES:
        lo -= 1  # "VAN DER MEER JOHANNA": an inverted name in capitals keeps its particles
    while lo < hi and len(run.low[lo]) > 2 and run.low[lo].rstrip(".") in _TITLE_WORDS:
        # "Daten von Frau Ilse Hahn" (not "M." : an initial as often as a title)
        lo += 1
        run.titled = True
    run.lo = lo


def _drop_unknown_tail(run: Run) -> None:
    """One unknown surname may follow a known first name or an initial ("Anna Kowalczykowa",
    "J. Ponci", "Daan van den Velden"); more go ("John Smith Rotterdam"). All-caps runs keep
    one unknown word next to a known one."""
    lo, hi, part, keep, initial = run.lo, run.hi, run.part, run.keep, run.initial
    while hi > lo and not keep[hi]:
        j = hi - 1
        while j > lo and part[j]:
            j -= 1
        unknown_before = any(not keep[i] and not part[i] for i in range(lo, j + 1))
        if (
            not unknown_before
            and keep[j]
            and (run.allcaps or initial[j] or part[hi - 1] or run.known_first(run.norm[j]))
        ):
            break
        hi = j
    run.hi = hi


def name_score(run: Run) -> float:
    """The first row of :data:`NAME_SCORE_RULES` for the run's shape, plus the context bonus."""
    shape = run.shape
    score = 0.0
    for rule in _BY_SHAPE[shape]:
        if rule.applies(run):
            score = rule.score
            break
    if score and shape != "single" and run.context:
        score += CONTEXT_BONUS
    return score


def score_run(tokens: list[str], before: str, after: str) -> tuple[int, int, float] | None:
    """Which tokens of a capitalized run form a person name, and how sure: returns
    (first token index, last token index inclusive, score) or None."""
    run = Run(tokens, before, after)
    for veto in RUN_VETOES:
        if veto.applies(run):
            return None
    _skip_lead(run)
    _drop_tail(run)
    if run.lo > run.hi:
        return None
    run.measure()
    _drop_unknown_lead(run)
    _drop_unknown_tail(run)
    run.settle()
    if not run.full:
        return None
    score = name_score(run)
    if score <= 0.0:
        return None
    for veto in SURROUNDING_VETOES:
        if veto.applies(run):
            return None
    return run.lo, run.hi, min(score, 1.0)


# -- "Surname, First" ------------------------------------------------------------------------

_RUN_RE = re.compile(RUN_PATTERN)


def comma_name(
    joined: str, start: int, end: int, limit: int, before: str
) -> tuple[int, float] | None:
    """ "Brown, Brandon" / "Salas Coronado, Amalia": a surname run at [start, end) followed
    by ", " and first names. Returns (start, end of the name, score) or None. Context words
    opening the run are no surnames ("BENEFICIARY OKAFOR, NNAMDI"); a first name after a
    greeting is whom the text greets ("Hej Maja, Ahmed Hassan ringde")."""
    if joined[end : end + 2] != ", ":
        return None
    surnames = joined[start:end].split()
    lead = 0
    for k, w in enumerate(surnames[:-1]):
        if w.lower().rstrip(":") in RUN_OPENERS:
            lead = k + 1
    if lead:
        if surnames[lead - 1].lower().rstrip(":") in _SALUTE_ALL and len(surnames) == lead + 1:
            return None
        before = before + joined[start : start + joined[start:end].index(surnames[lead])]
        start = end - len(" ".join(surnames[lead:]))
        surnames = surnames[lead:]
        if joined[start:end] != " ".join(surnames):
            return None  # more than one space between the words
    if not 1 <= len(surnames) <= 3 or not all(_surname_word(t) for t in surnames):
        return None
    stop = _given_names_end(joined, end + 2, limit)
    if stop is None:
        return None
    given = joined[end + 2 : stop].split()[0]
    if (
        len(surnames) >= 2
        and not lexicon_names().is_mainly_last(surnames[0])
        and not lexicon_names().is_top_first(given)
    ):
        return None  # "Wouter Janssens, Gand": a name in the usual order, then a comma
    after = joined[stop : min(limit, stop + 40)]
    if (
        after[:2].strip()[:1].isdigit()  # "Section B, Line 4": a form's part, no name
        or company_follows(after)
        or FIRM_AFTER.match(after)
        or after.lstrip().startswith(("and ", "& ", "und ", "et ", "y "))
    ):
        return None
    score = 0.75 if known(norm(surnames[-1]), name_lists()[1]) else 0.6
    if any(context_before(before.lower())):
        score += 0.1
    return start, stop, min(score, 1.0)


def _surname_word(t: str) -> bool:
    low = t.lower()
    return len(t) > 1 and not (
        low in STOPWORDS or low in COMPANY_WORDS or low in TITLES or t.endswith(".")
    )


def _given_names_end(joined: str, pos: int, limit: int) -> int | None:
    """End of the (up to two) known first names starting at ``pos``, or None."""
    m = _RUN_RE.match(joined, pos, limit)
    if m is None:
        return None
    first_names = name_lists()[0]
    stop = None
    for t in m.group().split()[:2]:
        if not known(norm(t), first_names) or t.lower() in STOPWORDS:
            break
        if t.isupper() and len(t) <= 3:
            break  # "Doğan, TC kimlik": an abbreviation, no given name
        pos = joined.index(t, pos) + len(t)
        stop = pos
    return stop
