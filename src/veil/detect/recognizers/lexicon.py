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
from itertools import compress
from pathlib import Path
from typing import Any

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
    if key[-1:] in ("ę", "ą") and key[:-1] + "a" in names:
        return True  # Polish accusative and instrumental: "Olenę", "Anną", "Kowalską"
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


def _columns(path: Path, names: list[str], types: dict[str, Any]) -> Any:
    """A lexicon file as an Arrow table (its leading ``#`` lines skipped): parsed in C++,
    about ten times cheaper than a Python loop over its lines."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with path.open(encoding="utf-8") as f:
        skip = 0
        for line in f:
            if not line.startswith("#"):
                break
            skip += 1
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=skip, use_threads=False),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False),
        convert_options=pacsv.ConvertOptions(
            column_types={k: types.get(k, pa.string()) for k in names},
            strings_can_be_null=False, quoted_strings_can_be_null=False,
        ),
    )


def _read_names(path: Path) -> NameLexicon:
    import pyarrow as pa

    t = _columns(path, ["key", "first", "last", "word"],
                 {"first": pa.int64(), "last": pa.int64()})
    keys = t["key"].to_pylist()  # one str per key, shared by the sets (hashed once)
    fi, li = t["first"].to_numpy(), t["last"].to_numpy()
    strong = t["word"].to_numpy(zero_copy_only=False) != "1"

    def pick(mask: Any) -> frozenset[str]:
        return frozenset(compress(keys, (strong & mask).tolist()))

    first, last = fi > 0, li > 0
    return NameLexicon(
        first=pick(first),
        last=pick(last),
        weak=frozenset(compress(keys, (~strong).tolist())),
        top_first=pick(first & (fi <= TOP_RANK)),
        mainly_last=pick(last & (~first | (li < fi))),
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
    for name, pop in _towns(path, floor, words="only", below=500_000):
        if not name.istitle() or "-" in name or "'" in name or " " in name:
            continue  # transliterated exonyms ("Pa-so", "Bristol'")
        key = fold(name)
        if out.get(key, 0) < pop:
            out[key] = pop
    return out


def _towns(path: Path, floor: int, words: str, below: int | None = None) -> Any:
    """(name, population) of the towns of at least ``floor`` people (below ``below``), the
    rows flagged as common words kept ("only"), dropped unless 500,000 people or more
    ("big"); filtered in Arrow, the names then checked in Python."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = _columns(path, ["name", "country", "population", "word"], {"population": pa.int64()})
    pop, word = t["population"], pc.equal(t["word"], "1")
    keep = pc.greater_equal(pop, floor)
    if below is not None:
        keep = pc.and_(keep, pc.less(pop, below))
    if words == "only":
        keep = pc.and_(keep, word)
    else:
        keep = pc.and_(keep, pc.or_(pc.invert(word), pc.greater_equal(pop, 500_000)))
    return zip(t["name"].filter(keep).to_pylist(), pop.filter(keep).to_pylist(), strict=True)


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
    for name, pop in _towns(path, min_population, words="big"):
        if name.isupper():
            continue
        key = fold(name)
        if out.get(key, 0) < pop:
            out[key] = pop
    return out
