"""Benchmark for erasure propagation (issue 18): propagating one subject's erasure through a
workspace whose lineage holds 1,000,000 distinct subjects across 100 outputs (each output a
random 100,000 of them, so 10,000,000 lineage entries), with 10 models registered on them.

Measured (one fresh process pinned to one core, the fixture built by an earlier process):
`veil.lifecycle.propagate` for one subject who is in 10 of the outputs (flag: marks on the 10
outputs and on the models trained on them, one audit event), against the anchor measured in
the same process, interleaved: the lineage lookup alone, `Lineage.subject_by_token`. Each
repetition uses another subject. Printed: medians, their ratio, the process's peak RSS.
Goal: < 60 s. Not a test: run it by hand.

    .venv/bin/python benchmarks/bench_propagation.py [--subjects 1000000] [--outputs 100]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, measure  # noqa: E402

SETUP = """
import numpy as np
import veil
from veil.lineage import Lineage, PseudonymSet, record_output
ws, _ = veil.init_workspace({ws!r})
rng = np.random.default_rng(7)
universe = rng.integers(0, 256, size=({subjects}, 32), dtype=np.uint8)
targets = universe[:{reps}]  # subjects present in 10 outputs each
for i in range({outputs}):
    pick = {reps} + rng.choice({subjects} - {reps}, size={per_output}, replace=False)
    rows = universe[pick]
    if i < 10:
        rows = np.concatenate([rows, targets])
    s = PseudonymSet.from_digests(rows.tobytes())
    with ws.engine.begin() as conn:
        record_output(conn, run_id=f"{{i:032x}}", output=f"/bench/out{{i}}.parquet",
                      digest="0" * 64, purpose="scoring", dataset="customers", rows=len(s),
                      categories=["identifier"], subjects=s)
lin = Lineage(ws)
for m in range(10):
    lin.register_model(f"model.v{{m}}", [f"{{m:032x}}"], actor="bench")
open({tokens!r}, "w").write("\\n".join(bytes(t).hex() for t in targets))
extra = len(lin.outputs())
"""

RUN = """
from veil.lifecycle import propagate
from veil.lineage import Lineage
from veil.store.workspace import Workspace
ws = Workspace.open({ws!r})
tokens = open({tokens!r}).read().split()
lin = Lineage(ws)
lin.subject_by_token(tokens[-1])  # warm: imports, the SQLite page cache
prop, look = [], []
for i, tok in enumerate(tokens[:-1]):
    t = time.perf_counter(); found = lin.subject_by_token(tok); look.append(time.perf_counter() - t)
    t = time.perf_counter()
    p = propagate(ws, None, tok, "erased", source=f"bench-{{i}}", actor="bench")
    prop.append(time.perf_counter() - t)
    assert len(p.outputs) == len(found.outputs) == 10, (len(p.outputs), len(found.outputs))
extra = {{"propagate": sorted(prop), "lookup": sorted(look), "models": len(p.models)}}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subjects", type=int, default=1_000_000)
    ap.add_argument("--outputs", type=int, default=100)
    ap.add_argument("--per-output", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    work = DATA / f"propagation_{args.subjects}_{args.outputs}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    ws, tokens = str(work / "ws"), str(work / "tokens.txt")
    env = {"VEIL_WORKSPACE": "", "VEIL_DATABASE_URL": ""}
    setup = measure(SETUP.format(ws=ws, tokens=tokens, subjects=args.subjects,
                                 outputs=args.outputs, per_output=args.per_output,
                                 reps=args.reps + 1), env=env, cwd=work)
    print(f"fixture: {args.outputs} outputs, {args.subjects:,} subjects, "
          f"{args.per_output:,} per output: {setup['seconds']:.1f} s")
    r = measure(RUN.format(ws=ws, tokens=tokens), env=env, cwd=work)
    prop, look = r["extra"]["propagate"], r["extra"]["lookup"]

    def median(xs: list[float]) -> float:
        return xs[len(xs) // 2]

    mp, ml = median(prop), median(look)
    print(f"propagate one subject (10 outputs, {r['extra']['models']} models flagged): "
          f"median {mp * 1000:.1f} ms over {len(prop)} subjects (goal < 60 s)")
    print(f"anchor, lineage lookup alone (Lineage.subject_by_token): median {ml * 1000:.1f} ms")
    print(f"ratio propagate / lookup: {mp / ml:.1f}x; peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
