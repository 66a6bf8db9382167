"""Veil on its hand-written evaluation set (tests/detect/data/eval: texts no generator wrote).

Scores exact spans per half and holds floors a little below what Veil reaches, so a change
that loses names, towns, addresses or numbers on real-looking text fails here; the PII-free
texts hold the false-detection rate down. The set itself is checked too: every span is the
text it claims (and the JSON lines are what build.py makes of the hand-written sources).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EVAL = Path(__file__).resolve().parent / "data" / "eval"
sys.path.insert(0, str(EVAL))
import score as S  # noqa: E402

# micro F1, exact spans. Before issue 21's second round: dev 0.991, test 0.949, dev2 (written
# for that round) 0.908; after it: dev 0.992, dev2 0.989, test 0.955 (scored once, at the end).
# dev3 (PII-free look-alikes, written for the third round): 0.86 and 25/112 PII-free texts
# flagged before it, 1.000 and 0/112 after (a development figure: tuned on it); the test half
# after that round, scored once at its end: 0.960 and 0/77 PII-free texts flagged (was 2/77)
FLOORS = {"dev": 0.975, "test": 0.935, "dev2": 0.96, "dev3": 0.97}
PER_TYPE_FLOOR = 0.8  # every type with 5 or more gold spans
MAX_FREE_RATE = 0.04  # PII-free texts given any span


@pytest.fixture(scope="module")
def finder():
    return S.veil_finder()


def _build():
    spec = importlib.util.spec_from_file_location("eval_build", EVAL / "build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_set_is_what_its_sources_say_and_every_span_checks_out():
    build = _build()
    recs = S.load("dev") + S.load("test") + S.load("dev2") + S.load("dev3")
    assert len(recs) >= 700
    assert sum(1 for r in recs if not r["spans"]) >= 400
    sources = {}
    paths = sorted((EVAL / "src").glob("*.txt")) + [
        p for d in build.DEV_SETS for p in sorted((EVAL / "src" / d).glob("*.txt"))
    ]
    for path in paths:
        name = path.relative_to(EVAL / "src").as_posix()
        for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if raw.strip() and not raw.startswith("#"):
                sources[f"{name}:{i}"] = build.parse(raw)
    for r in recs:
        src = sources[r["source"]]
        assert (r["text"], r["spans"]) == (src["text"], src["spans"]), r["source"]
        for s in r["spans"]:
            assert r["text"][s["start"] : s["end"]].strip() == r["text"][s["start"] : s["end"]]
        assert build.problems(r, build.region_of(r["source"])) == [], r["source"]
    json.dumps(recs)  # plain JSON values only


@pytest.mark.parametrize("half", ["dev", "test", "dev2", "dev3"])
def test_veil_scores_above_the_floor_on_each_half(finder, half):
    recs = S.load(half)
    preds = [S.veil_spans(x) for x in finder.find([r["text"] for r in recs])]
    sc = S.score([S.gold(r) for r in recs], preds)
    why = "\n".join(S.errors(recs, preds)[:40])
    assert sc["_all"]["f1"] >= FLOORS[half], f"micro F1 {sc['_all']['f1']:.3f}\n{why}"
    weak = {
        t: round(d["f1"], 3)
        for t, d in sc.items()
        if not t.startswith("_") and d["tp"] + d["fn"] >= 5 and d["f1"] < PER_TYPE_FLOOR
    }
    assert not weak, f"types under {PER_TYPE_FLOOR}: {weak}\n{why}"
    assert sc["_free"]["rate"] <= MAX_FREE_RATE, sc["_free"]


def test_the_scorer_counts_a_miss_and_a_false_span():
    gold = [{(0, 4, "person")}, set()]
    pred = [set(), {(2, 5, "city")}]
    sc = S.score(gold, pred)
    assert sc["_all"]["f1"] == 0.0
    assert sc["person"]["fn"] == 1 and sc["city"]["fp"] == 1
    assert sc["_free"] == {"texts": 1, "flagged": 1, "rate": 1.0}
