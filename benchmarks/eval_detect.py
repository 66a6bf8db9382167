"""Benchmark: Veil and Presidio on Veil's hand-written evaluation set, in the same run.

The set (``tests/detect/data/eval``: bank memos, customer-service messages, KYC notes, emails
and chat in nine languages, names of many traditions, EU addresses, checksummed numbers,
PII-free texts that look risky; hand-written, no generator) has a development half and a test half,
and two more development sets (``dev2``, ``dev3``: bank texts in ten languages written for
issue 21, ``dev3`` mostly PII-free look-alikes). For each half: per-type and micro precision,
recall and F1 on exact spans, and the share of PII-free texts given any span. Veil is asked for
every type it has (general dates and URLs included); Presidio (``presidio-analyzer`` with the
spaCy English model of the ``bench`` extra, run in a child process as in ``bench_scan.py``) is
scored with its entity names mapped onto the set's types (``score.py`` beside the set), results
below 0.3 left out. Veil's CPU time for the whole set is printed beside Presidio's.

    python benchmarks/eval_detect.py [--no-presidio] [--halves dev,dev2,dev3] [--errors dev3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import ROOT  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "detect" / "data" / "eval"))
import score as S  # noqa: E402

HALVES = ("dev", "dev2", "dev3", "test")


def fmt(d: dict | None) -> str:
    if d is None:
        return f"{'-':>5} {'-':>5} {'-':>5}"
    p = f"{d['p']:5.2f}" if d["tp"] + d["fp"] else f"{'-':>5}"
    return f"{p} {d['r']:5.2f} {d['f1']:5.2f}"


def table(title: str, veil: dict, pres: dict | None, support: dict[str, int]) -> None:
    print(f"\n{title}")
    print(f"  {'type':<16} {'Veil':^17}   {'Presidio':^17}  {'n':>4}")
    print(f"  {'':<16} {'P':>5} {'R':>5} {'F1':>5}   {'P':>5} {'R':>5} {'F1':>5}")
    keys = set(veil) | set(pres or {})
    for t in sorted(k for k in keys if not k.startswith("_")) + ["_all"]:
        label = "micro (all)" if t == "_all" else t
        right = fmt((pres or {}).get(t)) if pres is not None else ""
        print(f"  {label:<16} {fmt(veil.get(t))}   {right:<17}  {support.get(t, 0):>4}")
    v = veil["_free"]
    line = f"  PII-free texts given a span: Veil {v['flagged']}/{v['texts']} ({v['rate']:.1%})"
    if pres is not None:
        p = pres["_free"]
        line += f", Presidio {p['flagged']}/{p['texts']} ({p['rate']:.1%})"
    print(line + " (target < 2 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-presidio", action="store_true")
    ap.add_argument("--presidio-python", type=Path, default=None)
    ap.add_argument("--errors", choices=HALVES, help="print Veil's misses and false spans")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--halves", default=",".join(HALVES),
                    help="which halves to score, comma-separated (keep the test half for last)")
    args = ap.parse_args()
    halves = tuple(h for h in args.halves.split(",") if h)

    recs = {h: S.load(h) for h in halves}
    golds = {h: [S.gold(r) for r in recs[h]] for h in halves}
    finder = S.veil_finder()
    finder.find(["warm up: Transfer to Kwame Mensah"])
    veil_pred, cpu = {}, 0.0
    for h in halves:
        c = time.process_time()
        veil_pred[h] = [S.veil_spans(x) for x in finder.find([r["text"] for r in recs[h]])]
        cpu += time.process_time() - c
    n = sum(len(v) for v in recs.values())

    pres_pred: dict | None = None
    note = "Presidio: not run (--no-presidio)"
    if not args.no_presidio:
        from bench_scan import DEFAULT_PRESIDIO, _presidio_here, run_presidio

        py = args.presidio_python or (
            DEFAULT_PRESIDIO if DEFAULT_PRESIDIO.exists()
            else (Path(sys.executable) if _presidio_here() else None)
        )  # fmt: skip
        if py is None:
            note = "Presidio: not installed (pass --presidio-python)"
        else:
            got = run_presidio(
                Path(py), {"evalsets": {h: [r["text"] for r in recs[h]] for h in halves}}, 0
            )
            if "error" in got:
                note = f"Presidio: failed to run ({got['error']})"
            else:
                pres_pred = {
                    h: [S.presidio_spans(rs, g) for rs, g in zip(got["evalsets"][h], golds[h],
                                                                 strict=True)]
                    for h in halves
                }  # fmt: skip
                note = (f"Presidio: presidio-analyzer {got['version']}, spaCy model "
                        f"{got['model']}")  # fmt: skip

    results: dict = {}
    for h in halves:
        support: dict[str, int] = {}
        for g in golds[h]:
            for s in g:
                support[s[2]] = support.get(s[2], 0) + 1
        support["_all"] = sum(support.values())
        v = S.score(golds[h], veil_pred[h])
        p = S.score(golds[h], pres_pred[h]) if pres_pred is not None else None
        results[h] = {"veil": v, "presidio": p}
        title = (f"{h} half: {len(recs[h])} texts, {support['_all']} spans, "
                 f"{v['_free']['texts']} PII-free (exact spans)")  # fmt: skip
        table(title, v, p, support)
    print(f"\nVeil: {n} texts in {cpu:.3f} s CPU (one finder, all types). {note}")
    if args.errors:
        print("\n".join(S.errors(recs[args.errors], veil_pred[args.errors])))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
