"""Benchmark: the user's paths on this code beside an older commit, measured in the same run.

For a refactor (issue 16: the renovation) the anchor is Veil itself before the change: each
path runs in a fresh process pinned to one core, alternating old and new code, ``--repeat``
times; it prints the median wall and CPU seconds of each side (CPU is what to compare on a
busy machine), the ratio new/old and each side's peak RSS.

Paths: ``veil.run`` of the sample policy's ``credit_scoring`` (minimization, pseudonyms, age
bands, output encrypted at rest) and ``fraud_detection`` (FPE and free-text redaction) over a
sample CSV, the CLI's ``veil scan`` of the same file, and 20,000 audit events appended in
batches of 100 with a signed head.

    .venv/bin/python benchmarks/bench_against.py --rev e403c77 [--rows 200000] [--repeat 5]

The old code is taken from git (``git archive REV src``) into ``bench-data/against-REV``.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, ROOT, ensure_sample, measure  # noqa: E402

SETUP = """
import veil
veil.init_workspace({ws!r})[0].close()
extra = 0
"""

RUN = """
from pathlib import Path
import veil
import veil.pipeline.run
policy = Path(veil.__file__).parent / "sample" / "sample_policy.yaml"  # each side's own
t0 = time.perf_counter()
c0 = time.process_time()
r = veil.run(policy, {purpose!r}, {src!r}, {out!r}, workspace={ws!r})
extra = time.process_time() - c0
"""

SCAN = """
import os
os.chdir({ws!r})
from veil.cli.main import app
t0 = time.perf_counter()
c0 = time.process_time()
try:
    app(["scan", {src!r}, "--sample", "20000", "--json"], standalone_mode=False)
except SystemExit:
    pass
extra = time.process_time() - c0
"""

AUDIT = """
from datetime import UTC, datetime
from veil.audit.event import AuditEvent
from veil.audit.log import AuditLog
from veil.store.workspace import Workspace
log = AuditLog(Workspace.find({ws!r}))
now = datetime.now(UTC)
batches = [[AuditEvent(time=now, actor="bench", action="bench.append", purpose="fraud_detection",
                       legal_basis="legal_obligation", outcome="success",
                       counts={{"rows": i}}, details={{"batch": b}}) for i in range(100)]
           for b in range(200)]
t0 = time.perf_counter()
c0 = time.process_time()
for events in batches:
    log.append(events)
log.sign_head()
extra = time.process_time() - c0
"""


def old_tree(rev: str) -> Path:
    """The ``src`` of ``rev``, unpacked once into bench-data/."""
    dest = DATA / f"against-{rev}"
    if not (dest / "src" / "veil").is_dir():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "src"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", required=True, help="the older commit to compare with")
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--core", type=int, default=0)
    a = ap.parse_args()

    src = ensure_sample(a.rows)
    sides = {"old": {"PYTHONPATH": str(old_tree(a.rev))}, "new": {"PYTHONPATH": str(ROOT / "src")}}
    kek = base64.b64encode(os.urandom(32)).decode()
    paths = {
        "run credit_scoring": lambda ws: RUN.format(purpose="credit_scoring", src=str(src),
                                                     out=str(ws / "out.parquet"), ws=str(ws)),
        "run fraud_detection": lambda ws: RUN.format(purpose="fraud_detection", src=str(src),
                                                      out=str(ws / "out.parquet"), ws=str(ws)),
        "veil scan (CLI)": lambda ws: SCAN.format(src=str(src), ws=str(ws)),
        "audit append 20k": lambda ws: AUDIT.format(ws=str(ws)),
    }
    results: dict[tuple[str, str], list[dict]] = {}
    for side, env in sides.items():
        ws = DATA / f"ws-{side}"
        shutil.rmtree(ws, ignore_errors=True)
        measure(SETUP.format(ws=str(ws)), core=a.core, env={**env, "VEIL_KEK": kek})
    for _ in range(a.repeat):
        for name, code in paths.items():
            for side, env in sides.items():  # interleaved: old, new, old, new ...
                ws = DATA / f"ws-{side}"
                r = measure(code(ws), core=a.core, env={**env, "VEIL_KEK": kek,
                                                          "VEIL_ACTOR": "bench"})
                results.setdefault((name, side), []).append(r)
    print(f"input: {src.name} ({a.rows:,} rows); old = {a.rev}, new = this tree; "
          f"one core, fresh process each, median of {a.repeat}")
    print(f"{'path':24}{'old s':>8}{'new s':>8}{'old CPU':>9}{'new CPU':>9}{'CPU new/old':>12}"
          f"{'old RSS MB':>11}{'new RSS MB':>11}")
    for name in paths:
        old, new = results[(name, "old")], results[(name, "new")]
        wo = statistics.median(r["seconds"] for r in old)
        wn = statistics.median(r["seconds"] for r in new)
        co = statistics.median(r["extra"] for r in old)
        cn = statistics.median(r["extra"] for r in new)
        print(f"{name:24}{wo:>8.3f}{wn:>8.3f}{co:>9.3f}{cn:>9.3f}{cn / co:>12.2f}"
              f"{max(r['peak_rss_mb'] for r in old):>11.0f}"
              f"{max(r['peak_rss_mb'] for r in new):>11.0f}")


if __name__ == "__main__":
    main()
