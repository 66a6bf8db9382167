"""The lexicons read through Arrow are exactly what a plain reading of the files gives (the
line-by-line reference below is the loader Veil used before)."""

from __future__ import annotations

from pathlib import Path

from veil.detect.recognizers import lexicon as L


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f if not line.startswith("#")]


def test_names_equal_a_line_by_line_reading() -> None:
    first, last, weak, top, mainly = set(), set(), set(), set(), set()
    for key, fr, lr, word in _rows(L.DATA / "names.tsv"):
        fi, li = int(fr), int(lr)
        if word == "1":
            weak.add(key)
            continue
        if 0 < fi <= L.TOP_RANK:
            top.add(key)
        if fi:
            first.add(key)
        if li:
            last.add(key)
            if not fi or li < fi:
                mainly.add(key)
    got = L._read_names(L.DATA / "names.tsv")
    assert (got.first, got.last, got.weak, got.top_first, got.mainly_last) == (
        first, last, weak, top, mainly)
    assert len(first) > 100_000 and weak


def test_towns_equal_a_line_by_line_reading() -> None:
    rows = [(n, int(p), w) for n, _c, p, w in _rows(L.DATA / "cities.tsv")]
    for floor in (0, L.CITY_MIN_POPULATION, 250_000):
        want: dict[str, int] = {}
        for name, pop, word in rows:
            if pop < floor or (word == "1" and pop < 500_000) or name.isupper():
                continue
            key = L.fold(name)
            if want.get(key, 0) < pop:
                want[key] = pop
        assert L._read_cities(L.DATA / "cities.tsv", floor) == want
    for floor in (L.WORD_TOWN_MIN_POPULATION, 200_000):
        words: dict[str, int] = {}
        for name, pop, word in rows:
            if word != "1" or not floor <= pop < 500_000 or not name.istitle():
                continue
            if "-" in name or "'" in name or " " in name:
                continue
            key = L.fold(name)
            if words.get(key, 0) < pop:
                words[key] = pop
        assert L._read_word_towns(L.DATA / "cities.tsv", floor) == words
        assert words
