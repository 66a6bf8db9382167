"""Name and place word lists, read once from ``veil/detect/data/`` (shipped with Veil).

The lists are generated at build time from names-dataset (first and last names of 105
countries), GeoNames (towns) and wordfreq (which names are also common words) by
``python -m veil.detect.data.build``; nothing is downloaded at run time, and nothing comes
from Faker, whose names ``veil sample`` uses.

Words are looked up by their folded form (:func:`fold`: lower case, apostrophes removed), so
"O'BRIEN", "O’Brien" and "obrien" are one entry, and a double-barrelled word is known when its
parts are ("Schulze-Brandt").
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data"
TOP_RANK = 400
"""A first name this popular in some country (rank 1 = the most common) may stand alone
("Thanks Rafael")."""
CITY_MIN_POPULATION = 15_000
"""Default population threshold of the city recognizer (configurable: :func:`cities`)."""


def fold(word: str) -> str:
    """The lookup key of a word: lower case, apostrophes removed ("O'Brien" -> "obrien")."""
    w = word.lower()
    if "'" in w or "’" in w:
        w = w.replace("'", "").replace("’", "")
    return w


@dataclass(frozen=True)
class NameLexicon:
    """Folded name words: ``first`` / ``last`` names that are not common words; ``weak`` names
    that are also common words ("will", "love", "server": names only beside a strong one);
    ``top_first`` very common first names (rank <= :data:`TOP_RANK` in some country)."""

    first: frozenset[str]
    last: frozenset[str]
    weak: frozenset[str]
    top_first: frozenset[str]
    mainly_last: frozenset[str] = frozenset()

    def is_mainly_last(self, word: str) -> bool:
        """A surname more than a given name (its best rank as a last name is better)."""
        return fold(word) in self.mainly_last

    def is_first(self, word: str) -> bool:
        return _known(fold(word), self.first)

    def is_last(self, word: str) -> bool:
        return _known(fold(word), self.last)

    def is_name(self, word: str) -> bool:
        k = fold(word)
        return _known(k, self.first) or _known(k, self.last)

    def is_top_first(self, word: str) -> bool:
        return fold(word) in self.top_first

    def is_weak(self, word: str) -> bool:
        return fold(word) in self.weak


def _known(key: str, names: frozenset[str]) -> bool:
    if key in names:
        return True
    if "-" in key:
        parts = [p for p in key.split("-") if p]
        return bool(parts) and all(p in names for p in parts)
    return False


_lock = threading.Lock()
_NAMES: NameLexicon | None = None
_CITIES: dict[int, dict[str, int]] = {}


def names() -> NameLexicon:
    """The name lexicon (read from ``data/names.tsv`` once, ~0.3 s)."""
    global _NAMES
    if _NAMES is None:
        with _lock:
            if _NAMES is None:
                _NAMES = _read_names(DATA / "names.tsv")
    return _NAMES


def _read_names(path: Path) -> NameLexicon:
    first: set[str] = set()
    last: set[str] = set()
    weak: set[str] = set()
    top: set[str] = set()
    mainly_last: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            key, fr, lr, word = line.rstrip("\n").split("\t")
            fi, li = int(fr), int(lr)
            if word == "1":
                weak.add(key)
                continue
            if 0 < fi <= TOP_RANK:
                top.add(key)
            if fi:
                first.add(key)
            if li:
                last.add(key)
                if not fi or li < fi:
                    mainly_last.add(key)
    return NameLexicon(
        frozenset(first), frozenset(last), frozenset(weak), frozenset(top), frozenset(mainly_last)
    )


def cities(min_population: int = CITY_MIN_POPULATION) -> dict[str, int]:
    """Folded town name -> population (the largest town of that name), for towns of at least
    ``min_population`` people; names that are also common words ("Nice", "Split") are left
    out unless the town has 500,000 people or more."""
    got = _CITIES.get(min_population)
    if got is None:
        with _lock:
            got = _CITIES.get(min_population)
            if got is None:
                got = _CITIES[min_population] = _read_cities(DATA / "cities.tsv", min_population)
    return got


WORD_TOWN_MIN_POPULATION = 100_000
_WORD_TOWNS: dict[int, dict[str, int]] = {}


def word_towns(min_population: int = CITY_MIN_POPULATION) -> dict[str, int]:
    """Towns of :data:`WORD_TOWN_MIN_POPULATION` people or more (and ``min_population``) whose
    names are also frequent words ("Liverpool", "Reading", "Lille", "Breda"), left out of
    :func:`cities`: a place word before them ("in", "nach", a postcode) makes them towns."""
    floor = max(min_population, WORD_TOWN_MIN_POPULATION)
    got = _WORD_TOWNS.get(floor)
    if got is None:
        with _lock:
            got = _WORD_TOWNS.get(floor)
            if got is None:
                got = _WORD_TOWNS[floor] = _read_word_towns(DATA / "cities.tsv", floor)
    return got


def _read_word_towns(path: Path, floor: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, _cc, pop_s, word = line.rstrip("\n").split("\t")
            pop = int(pop_s)
            if word != "1" or not floor <= pop < 500_000 or not name.istitle():
                continue
            if "-" in name or "'" in name or " " in name:
                continue  # transliterated exonyms ("Pa-so", "Bristol'")
            key = fold(name)
            if out.get(key, 0) < pop:
                out[key] = pop
    return out


_HEADS: list[frozenset[str]] = []


def city_heads() -> frozenset[str]:
    """The first words of every town name (folded): a run of words holds no town unless one
    of its words is among them (a cheap test before the look-ups)."""
    if not _HEADS:
        towns = cities(0)
        with _lock:
            if not _HEADS:
                _HEADS.append(frozenset(k.split(" ", 1)[0] for k in towns))
    return _HEADS[0]


def _read_cities(path: Path, min_population: int) -> dict[str, int]:
    out: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            name, _cc, pop_s, word = line.rstrip("\n").split("\t")
            pop = int(pop_s)
            if pop < min_population or (word == "1" and pop < 500_000) or name.isupper():
                continue
            key = fold(name)
            if out.get(key, 0) < pop:
                out[key] = pop
    return out
