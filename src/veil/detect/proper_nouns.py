"""People and towns in free text: one pass over runs of capitalized words, one over lower-case
words after a payee phrase.

A run ("Wire to Zhang Wei Shanghai office") is first searched for a town of the gazetteer
(:func:`.recognizers.lexicon.cities`) at either end; the town becomes a ``city`` span and the
rest of the run is scored as a name by the rule tables of :mod:`.recognizers.person_runs`.
A whole run that is a town ("Lunch at Santa Monica pier") is no person unless a title
introduces it. Lower-case names ("transfer to john smith") count only after a payee phrase,
when every word is a known name that is no common word.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

from veil.detect import lower_names
from veil.detect.recognizers import lexicon, persons
from veil.detect.recognizers.person_runs import RUN_PATTERN, context_before

Cand = tuple[int, int, int, float, str, str]

_RUN = re.compile(RUN_PATTERN)
_WORD = re.compile(r"\S+")
BRANCH_WORDS = (
    "filiale", "niederlassung", "standort", "geschäftsstelle", "zweigstelle", "agence",
    "agencia", "sucursal", "filial", "oddział", "vestiging", "kantoor", "kontor", "kontoret",
)  # fmt: skip
"""A bank's branch or office named by its town ("Filiale Dresden", "Sucursal Granada")."""
_CITY_CONTEXT = re.compile(
    r"(?:\b(?:in|at|near|from|to|into|via|city|town|branch|office|hotel|trip|flight|"
    + "|".join(BRANCH_WORDS)
    + "|"
    r"à|en|a|de|do|nach|aus|bei|naar|te|uit|w|we|z|ze|i|på|fra|från|til|till|di|da|dans|"
    r"ciudad|stadt|ville|città|cidade|stad|miasto|em|no|na|im|nel|nella|dal|desde)"
    # a place label and its colon ("Geburtsort: Chemnitz", "Woonplaats: Breda")
    r"|\b(?:ort|wohnort|geburtsort|lieu|localidade|miejscowość|plaats|woonplaats|şehir|"
    r"city|town|stadt|ville|ciudad|città|cidade|stad|miasto|birthplace|place of birth|"
    r"lieu de naissance|luogo di nascita|lugar de nacimiento|local de nascimento|"
    r"miejsce urodzenia|doğum yeri|geboorteplaats|nascita|naissance|nacimiento|nascimento|"
    r"urodzenia|yeri|birth):?"
    r"|[,(/]|\b\d{4,6}|\b\d{2}-\d{3}|\b\d{4} ?[A-Z]{2})\s*$",
    re.IGNORECASE,
)
# a place word right before a town whose name is also a common word ("in Reading", "nach
# Hagen", "75001 Lille"): locative prepositions and postcodes only ("from Google" is a firm)
_WORD_TOWN_CONTEXT = re.compile(
    r"(?:\b(?:in|at|near|nach|in|im|bei|à|en|em|na|no|do|w|we|naar|te|dans|nel|nella|a)"
    r"|\b\d{4,6}|\b\d{2}-\d{3}|\b\d{4}-\d{3}|\b[A-Z]\d[A-Z\d]? ?\d[A-Z]{2})\s+$"
)
_POSTCODE_BEFORE = re.compile(r"\b(?:\d{4,6}|\d{2}-\d{3}|\d{4}-\d{3}|\d{4} ?[A-Z]{2})\s+$")
# ... or a postcode right after it ("Reading RG1 3AP", "Breda, 4811")
# ... or the bank's branch or office there ("at the Cork branch", "Reading office")
_BRANCH_AFTER = r" (?:branch|office|filiale|agence|sucursal|filial|kantoor|kontor)\b"
_WORD_TOWN_AFTER = re.compile(
    r",? (?:[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}|\d{4,5})(?!\w)|" + _BRANCH_AFTER
)
_BRANCH_AFTER_RE = re.compile(_BRANCH_AFTER)
# lower-case words inside a town's name ("Frankfurt am Main", "Newcastle upon Tyne")
_TOWN_CONNECTOR = re.compile(r" (?:am|an der|upon|sur|ob der|im) [A-ZÀ-ÞŁŚŻ][\w\-]+")
# "Jordi Puig i Ferrer", "Joaquim da Silva e Sousa": a second surname after "i" or "e"
_CONNECTOR_STARTS = frozenset((" am ", " an ", " upo", " sur", " ob ", " im "))
_POLISH_PREPS = (" w ", " we ", " z ", " ze ", " do ", " od ", "koło ", " pod ", "przez ")
_JOINED_SURNAME = re.compile(r" [ie] ([A-ZÀ-ÞŁŚŻ][\w'’\-]+)(?=$|[^\w'’\-])")
# Polish prepositions that inflect the town after them ("w Wrocławiu", "z Poznania")
_POLISH_CASE_CONTEXT = re.compile(r"(?:^|\s)(?:w|we|z|ze|do|od|koło|pod|przez)\s+$")
_POLISH_ENDINGS = (
    ("iu", ""), ("u", ""), ("ie", ""), ("ie", "a"), ("y", ""), ("y", "a"), ("i", ""),
    ("i", "a"), ("a", ""), ("iem", ""), ("em", ""),
)  # fmt: skip
_NAME_PARTICLES = frozenset(("de", "la", "le", "del", "della", "van", "von", "da", "di", "dos"))
_SUFFIX = re.compile(r"['’][a-zçğışöü]{1,4}$")


def bare(word: str) -> str:
    """A word without trailing punctuation or a case suffix after an apostrophe ("Ankara'ya",
    "Antalya'da", "Pryce's" -> "Pryce")."""
    w = word.strip(",.;:")
    return _SUFFIX.sub("", w) if ("'" in w or "’" in w) else w
_MAX_CITY_WORDS = 4
_INITIAL = re.compile(r"[^\W\d_]\.")
_PARTICLES_BEFORE = re.compile(
    r"(?<![\w])(?:(?:van|von|der|den|de|da|di|del|della|du|dos|das|ten|ter|le|la|zu|vom)[ ]){1,3}$"
)


def find_city(words: list[str], towns: dict[str, int]) -> tuple[int, int] | None:
    """The longest run of words ``words[i:j]`` that is a town and touches an end of the run
    (a town inside a name is no town: "Anna Florence Smith")."""
    return next(find_cities(words, towns), None)


def find_cities(words: list[str], towns: dict[str, int]):
    """Every run of words at an end of ``words`` that is a town, longest first (the caller
    takes the first that is plausible: "Hamburg von Reza Ahmadi" ends with a town's name
    that is the surname)."""
    n = len(words)
    heads = lexicon.city_heads()
    if lexicon.fold(bare(words[0])) not in heads and not any(
        lexicon.fold(bare(w)) in heads for w in words[-_MAX_CITY_WORDS:]
    ):
        return
    for size in range(min(n, _MAX_CITY_WORDS), 0, -1):
        for i in (n - size, 0) if n > size else (0,):
            key = lexicon.fold(" ".join(bare(w) for w in words[i : i + size]))
            if key in towns:
                yield i, i + size


def inflected_town(word: str, before: str, towns: dict[str, int]) -> int:
    """The population of the town a Polish case form names after a preposition ("w
    Wrocławiu", "z Poznania", "w Warszawie"), 0 when none (stems of four letters or more,
    towns of 50,000 people or more)."""
    if not _POLISH_CASE_CONTEXT.search(before[-10:]):
        return 0
    key = lexicon.fold(bare(word))
    for end, add in _POLISH_ENDINGS:
        if key.endswith(end) and len(key) - len(end) >= 4:
            pop = towns.get(key[: -len(end)] + add, 0)
            if pop >= 50_000:
                return pop
    return 0


# Turkish case endings after an apostrophe that put a place in a sentence: locative,
# ablative, dative ("Antalya'da", "İzmir'den", "Ankara'ya")
_PLACE_SUFFIX = re.compile(r"['’](?:[dt][ae]n?|y?[ae]|n[ae])$")


def city_score(words: list[str], pop: int, before: str, titled: bool) -> float:
    """How sure a run of words is a town: several words or a big town are surer, a place
    word or preposition before it ("in", "at", "from", a comma) adds; a title removes."""
    if titled:
        return 0.0
    score = 0.7 if len(words) > 1 else 0.55
    if pop >= 1_000_000:
        score += 0.1
    if _CITY_CONTEXT.search(before[-12:]) or _PLACE_SUFFIX.search(words[-1]):
        score += 0.15
    return min(score, 0.95)


def _after_particle(town: list[str], words: list[str], i: int, before: str) -> bool:
    """ "Fernández de la Cruz", "van Breda": a surname with its particle, no town; nor is a
    common given name ending a run of name words with no place word before it ("KOWALCZYK
    JOANNA", "Seo-yeon Lim": a town's name in some language, but a person here)."""
    if town[0] in _NAME_PARTICLES or (i > 0 and words[i - 1].lower() in _NAME_PARTICLES):
        return True
    return (
        i > 0
        and len(town) == 1
        and lexicon.names().is_top_first(bare(town[0]))
        and not _CITY_CONTEXT.search(before[-12:])
    )


def _address_or_firm(
    town: list[str], words: list[str], i: int, j: int, before: str
) -> bool | None:
    """True after a postcode, False inside a firm's or a longer name, else None (undecided)."""
    if j < len(words) and words[j].lower().strip(".,") in persons.VENUE_WORDS:
        return False  # "Golden Gate Bridge", "Frankfurt Airport": a place in the town
    if _POSTCODE_BEFORE.search(before):
        return True  # "1016 DV Amsterdam", "75001 Paris": an address
    if _CITY_CONTEXT.search(before[-12:]):
        return None
    if any(w.lower() in persons.COMPANY_WORDS for w in town):
        return False  # "El Banco Santander": a bank, though a town has that name
    if i == 0 and j < len(words):
        return False  # "Paris Saint-Germain", "Dublin Bus": a longer name opening with a town
    return None


def _branch_or_code(
    w: str, words: list[str], at: tuple[int, int], before: str, after: str, pop: int
) -> bool | None:
    """True for a branch's town ("Sucursal Granada", "the Cork branch", though "Granada" and
    "Cork" are surnames), False for one word in capitals with no place word before it in a
    mixed-case text ("purpose code SALA": a code), else None (undecided)."""
    i, j = at  # the town is words[i:j]
    if pop >= 100_000 and (
        (i > 0 and words[i - 1].lower() in BRANCH_WORDS)
        or (i == 0 and j == len(words) and _BRANCH_AFTER_RE.match(after))
    ):
        return True
    if (
        w.isupper()
        and len(words) == 1
        and any(c.islower() for c in before)
        and not _CITY_CONTEXT.search(before[-12:])
    ):
        return False
    return None


def _town_plausible(
    town: list[str], words: list[str], i: int, j: int, before: str, after: str = ""
) -> bool:
    """A town at an end of the run, not a word of a name: a one-word town that is also a name
    word, a title or an acronym ("Eze", "Mrs", "ATM") needs a place word before it, and so
    does a small one-word town; a town between two parts of the run is none."""
    if i > 0 and j < len(words):
        return False
    settled = _address_or_firm(town, words, i, j, before)
    if settled is not None:
        return settled
    if len(town) > 1:
        return True
    if i > 0 and _INITIAL.fullmatch(words[i - 1]):
        return False  # "M. J. Paris": a surname after an initial
    w = town[0].strip(",.;:")
    if w.lower() in persons.TITLES or (w.isupper() and len(w) <= 3):
        return False
    pop = lexicon.cities(lexicon.CITY_MIN_POPULATION).get(lexicon.fold(w), 0)
    told = _branch_or_code(w, words, (i, j), before, after, pop)
    if told is not None:
        return told
    lex = lexicon.names()
    first, last = lex.is_first(w), lex.is_last(w)
    # "Victoria Álvarez", "Olga Ivanova", "Melchor Gimeno Sala": the name goes on
    if len(words) > 1 and (
        (i == 0 and first)
        or (j == len(words) and pop < 100_000 and not _CITY_CONTEXT.search(before[-12:]))
        or (j == len(words) and last and pop < 1_000_000)
    ):
        return False
    placed = bool(_CITY_CONTEXT.search(before[-12:]) or _PLACE_SUFFIX.search(town[-1]))
    if not placed and (not before.strip() or i > 0 or j < len(words)):
        # "Carrefour 15.88 EUR", "Delta Air Lines", "Summer Sale": a text or a longer run
        # opening or ending with a town's name is most often a shop's, a firm's or a title's;
        # only a city of a million counts
        return pop >= 1_000_000
    if placed or pop >= 500_000:
        return True
    # a town ending a longer run needs a place word or a big town ("Seo-yeon Lim")
    return pop >= 100_000 and not (first or last) and i == 0


class ProperNounScanner:
    """Scans joined texts for ``person`` and ``city`` spans (either may be switched off)."""

    def __init__(
        self,
        *,
        person: str | None = "person",
        city: str | None = "city",
        city_min_population: int = lexicon.CITY_MIN_POPULATION,
        min_score: float = 0.5,
    ) -> None:
        self.person = person  # recognizer name or None
        self.city = city
        self.min_pop = city_min_population
        self.min_score = min_score

    def scan(
        self,
        joined: str,
        starts: list[int],
        idx: list[int],
        values: list[str],
        add: Callable[[int, Cand], None],
    ) -> None:
        towns = lexicon.cities(self.min_pop) if self.city else {}
        for m in _RUN.finditer(joined):
            s, e = m.span()
            k = bisect_right(starts, s) - 1
            base = starts[k]
            ti = idx[k]
            tend = base + len(values[ti])
            self._run(joined, s, e, base, tend, ti, towns, add)
        if self.person:
            lower_names.scan(joined, starts, idx, values, add, self.person)

    # -- capitalized runs ---------------------------------------------------------------
    def _run(
        self,
        joined: str,
        s: int,
        e: int,
        base: int,
        tend: int,
        ti: int,
        towns: dict[str, int],
        add: Callable[[int, Cand], None],
    ) -> None:
        run = joined[s:e]
        toks = [(t.start() + s, t.end() + s) for t in _WORD.finditer(run)]
        words = [joined[a:b] for a, b in toks]
        lo, hi = 0, len(words)
        if self.person and joined[e : e + 2] == ", ":  # "Brown, Brandon", "Paris, Emmanuelle"
            got_c = persons.comma_name(joined, s, e, tend, joined[max(base, s - 40) : s])
            if got_c is not None and got_c[2] >= self.min_score:
                a = got_c[0]
                lead = _PARTICLES_BEFORE.search(joined[max(base, a - 24) : a])
                a -= len(lead.group()) if lead else 0  # "van der Laarse, Dewi"
                add(ti, (a - base, got_c[1] - base, 1, got_c[2], "person", self.person))
        if (
            towns
            and joined[e : e + 4] in _CONNECTOR_STARTS
            and self._connected_town(joined, words, toks, e, base, ti, towns, add)
        ):
            words, toks = words[:-1], toks[:-1]
            hi = len(words)
            if not words:
                return
        if (
            towns
            and len(words) == 1
            and joined[s - 3 : s] in (" i ", " e ")
            and _joined_surname(joined[max(base, s - 30) : s], words[0])
        ):
            return  # "Vidal i Serra": the second surname of the name before
        if towns:
            got = self._towns(joined, s, base, ti, words, toks, towns, add)
            if got is None:
                return
            lo, hi = got
        if not self.person or lo >= hi:
            return
        sub = words[lo:hi]
        ps, pe = toks[lo][0], toks[hi - 1][1]
        self._person(joined, sub, ps, pe, base, tend, ti, toks[lo:hi], add)

    def _towns(self, joined, s, base, ti, words, toks, towns, add) -> tuple[int, int] | None:
        """Report a town at an end of the run; the bounds of the words left for a name, or
        None when nothing is left to score as a name."""
        lo, hi = 0, len(words)
        for n, (i, j) in enumerate(find_cities(words, towns)):
            if n and not (j < len(words) and words[j].islower()):
                break  # a second try only for "Hamburg von Reza Ahmadi"
            cb = joined[max(base, toks[i][0] - 40) : toks[i][0]]
            town = words[i:j]
            ca = joined[toks[j - 1][1] : toks[j - 1][1] + 12]
            if _after_particle(town, words, i, cb) or not _town_plausible(
                town, words, i, j, cb, ca
            ):
                continue
            lo, hi = (0, i) if i > 0 else (j, len(words))
            titled = context_before(cb.lower())[0]
            pop = towns[lexicon.fold(" ".join(bare(w) for w in town))]
            score = city_score(town, pop, cb, titled)
            a, b = toks[i][0], toks[j - 1][0] + len(bare(words[j - 1]))
            if score >= self.min_score:
                add(ti, (a - base, b - base, 1, score, "city", self.city or "city"))
            if lo >= hi:
                return (i, j) if titled else None
            return lo, hi
        if len(words) == 1 and self._context_town(words[0], joined, s, base):
            a = toks[0][0]
            b = a + len(bare(words[0]))
            add(ti, (a - base, b - base, 1, 0.7, "city", self.city or "city"))
            return None
        return lo, hi

    def _connected_town(self, joined, words, toks, e, base, ti, towns, add) -> bool:
        """ "Frankfurt am Main": the run's last word, a connector and the next word name a
        town; reported as one span (the caller leaves the last word out of the run)."""
        m = _TOWN_CONNECTOR.match(joined, e)
        if m is None or lexicon.fold(bare(words[-1]) + m.group()) not in towns:
            return False
        end = m.end() - (len(m.group()) - len(m.group().rstrip(",.;:")))
        add(ti, (toks[-1][0] - base, end - base, 1, 0.85, "city", self.city or "city"))
        return True

    def _context_town(self, word: str, joined: str, s: int, base: int) -> bool:
        """A one-word run that is a town once a place word before it says so: a town whose
        name is also a common word ("in Liverpool"), or a Polish case form ("w Poznaniu")."""
        before = joined[max(base, s - 12) : s]
        key = lexicon.fold(bare(word))
        if key in lexicon.word_towns(self.min_pop) and len(key) >= 4:
            after = joined[s + len(word) : s + len(word) + 12]
            if _POSTCODE_BEFORE.search(before) or _WORD_TOWN_AFTER.match(after):
                return True  # a postcode beside it: an address
            if _WORD_TOWN_CONTEXT.search(before):
                pop = lexicon.word_towns(self.min_pop)[key]
                # a memo word ("Metro", "Google") unless a big town ("do Porto", "in London")
                return not (
                    lexicon.names().is_first(key) or (key in persons.STOPWORDS and pop < 200_000)
                )
        if not (" " + before).endswith(_POLISH_PREPS):
            return False
        return bool(inflected_town(word, before, lexicon.cities(self.min_pop)))

    def _person(
        self,
        joined: str,
        words: list[str],
        s: int,
        e: int,
        base: int,
        tend: int,
        ti: int,
        toks: list[tuple[int, int]],
        add: Callable[[int, Cand], None],
    ) -> None:
        name = self.person or "person"
        if not _worth_scoring(words, joined[max(base, s - 12) : s]):
            return
        got = persons.score_run(words, joined[max(base, s - 40) : s], joined[e : min(tend, e + 40)])
        if got is None:
            return
        lo, hi, score = got
        if score < self.min_score:
            return
        end = toks[hi][0] + len(_SUFFIX.sub("", words[hi]))  # "Gupta's": the name is "Gupta"
        if hi == len(words) - 1 and hi > lo and end == toks[hi][1]:
            m = _JOINED_SURNAME.match(joined, end, tend)
            if m is not None and _joined_surname(joined[:end] + " i ", m.group(1)):
                end = m.end()
        add(ti, (toks[lo][0] - base, end - base, 1, score, "person", name))


def _joined_surname(before: str, word: str) -> bool:
    """``word`` after "<Name> i " or "<Name> e " is a second surname (a known surname that
    is no first name), not a town nor a new name ("Puig i Ferrer", "Silva e Sousa")."""
    if not re.search(r"[A-ZÀ-ÞŁŚŻ][\w'’\-]+ [ie] $", before):
        return False
    return lexicon.names().is_mainly_last(word)


def _worth_scoring(words: list[str], before: str) -> bool:
    """Cheap test before the rule tables: a known name word, an initial, an opening title or
    payee word, or a title right before the run."""
    if words[0].lower() in persons.RUN_OPENERS:
        return True
    lex = lexicon.names()
    for w in words:
        if w[-1] == "." or lex.is_name(w):
            return True
    return context_before(before.lower())[0]


lower_case_after_payee = lower_names.lower_case_after_payee  # the audit screen's prefilter
