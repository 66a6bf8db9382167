"""Shared benchmark helpers: run a measurement in a fresh process pinned to one core and
report its wall time and peak RSS, so figures are not polluted by the parent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench-data"

_CHILD = r"""
import json, os, resource, sys, time
os.sched_setaffinity(0, {{{core}}})
import pyarrow as pa
pa.set_cpu_count(1); pa.set_io_thread_count(1)
t0 = time.perf_counter()
{code}
elapsed = time.perf_counter() - t0
print("@@RESULT@@" + json.dumps({{"seconds": elapsed,
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
      "extra": globals().get("extra")}}))
"""


def measure(code: str, core: int = 0, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> dict:
    """Run `code` in a fresh interpreter on one core; returns seconds and peak RSS (MB)."""
    src = _CHILD.format(core=core, code=code)
    r = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True,
                       env={**os.environ, **(env or {})}, cwd=cwd)
    if r.returncode != 0:
        raise SystemExit(f"benchmark child failed:\n{r.stderr[-3000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("@@RESULT@@")][-1]
    return json.loads(line[len("@@RESULT@@"):])


def ensure_sample(rows: int, seed: int = 1) -> Path:
    """A cached sample CSV of `rows` rows in bench-data/ (made with `veil sample`)."""
    DATA.mkdir(exist_ok=True)
    path = DATA / f"sample_{rows}_{seed}.csv"
    if not path.exists():
        from veil.sample import write_sample

        write_sample(path, rows, seed=seed)
    return path


def replicate(src: Path, times: int, dst: Path) -> Path:
    """`times` copies of a CSV's rows under one header (a large input for memory tests)."""
    if dst.exists():
        return dst
    tmp = dst.with_suffix(".tmp")
    with open(src, "rb") as f:
        header = f.readline()
        body_start = f.tell()
    with open(tmp, "wb") as out:
        out.write(header)
        for _ in range(times):
            with open(src, "rb") as f:
                f.seek(body_start)
                while chunk := f.read(16 << 20):
                    out.write(chunk)
    os.replace(tmp, dst)
    return dst
