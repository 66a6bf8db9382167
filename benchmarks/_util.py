"""Shared benchmark helpers: run a measurement in a fresh process pinned to one core and
report its wall time, CPU time and peak RSS, taken from the child itself (``os.wait4`` in a
small launcher, see `_LAUNCH`), so figures are not polluted by the parent; medians of
interleaved runs; inputs that grow the way real data does."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Sequence
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
    """Run `code` in a fresh interpreter on one core; returns seconds (the code's own wall
    time, after imports), peak RSS (MB) and the whole child's CPU seconds (``cpu_seconds``)."""
    src = _CHILD.format(core=core, code=code)
    r = run_child([sys.executable, "-c", src], env=env, cwd=cwd)
    line = [x for x in r["stdout"].splitlines() if x.startswith("@@RESULT@@")][-1]
    out = json.loads(line[len("@@RESULT@@"):])
    out["cpu_seconds"] = r["cpu_seconds"]
    out["peak_rss_mb"] = r["peak_rss_mb"]
    return out


#: Spawns the measured command from a fresh, small interpreter and writes that child's own
#: rusage to a file. Linux carries a process's RSS high-water mark into the children it forks
#: (a forked or vforked child starts with the parent's mm, and exec keeps its peak in
#: ``ru_maxrss``), so a command started straight from this (large) benchmark process would
#: report at least this process's RSS. Started from here the floor is this launcher's own
#: few MB (``python -I -S``, importing nothing but ``os``/``json``/``time``).
_LAUNCH = r"""
import json, os, sys, time
out, core, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if core >= 0:
    os.sched_setaffinity(0, {core})
t0 = time.perf_counter()
pid = os.posix_spawnp(argv[0], argv, os.environ)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(out, "w") as f:
    json.dump({"code": os.waitstatus_to_exitcode(status), "wall_seconds": wall,
               "cpu_seconds": ru.ru_utime + ru.ru_stime, "peak_rss_mb": ru.ru_maxrss / 1024}, f)
"""


def run_child(argv: Sequence[str], *, env: dict[str, str] | None = None,
              cwd: Path | None = None, core: int | None = None) -> dict:
    """Run ``argv`` in a fresh process (pinned to ``core`` if given) and return what it cost
    *that process*: wall seconds, CPU seconds (user + system) and peak RSS in MB (its own
    ``os.wait4`` rusage, taken by a small launcher: see `_LAUNCH`), with its stdout. A
    failing child stops the benchmark with its stderr."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        res = Path(d) / "rusage.json"
        p = subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCH, str(res),
                            str(-1 if core is None else core), *argv],
                           capture_output=True, env={**os.environ, **(env or {})}, cwd=cwd)
        if not res.exists():
            raise SystemExit(f"benchmark launcher failed:\n{p.stderr.decode()[-3000:]}")
        got = json.loads(res.read_text())
    if got.pop("code") != 0:
        raise SystemExit(f"benchmark child {list(argv)[:3]} failed:\n"
                         f"{p.stderr.decode(errors='replace')[-3000:]}")
    return got | {"stdout": p.stdout.decode(errors="replace")}


def medians(samples: list[dict], keys: Sequence[str] = ("wall_seconds", "cpu_seconds",
                                                         "peak_rss_mb")) -> dict:
    """The median of each figure over repeated runs (headlines are medians, never best-of)."""
    return {k: statistics.median(s[k] for s in samples) for k in keys} | {"runs": len(samples)}


def commit() -> str:
    """The checkout's commit (short), with '+dirty' when the tree has changes."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = "+dirty" if git("status", "--porcelain", "--untracked-files=no").strip() else ""
    return git("rev-parse", "--short", "HEAD").strip() + dirty


def distinct_subjects_csv(rows: int, template_rows: int = 1_000_000) -> Path:
    """A cached CSV of ``rows`` sample rows in which every row is a different subject: the
    sample's rows (`ensure_sample`, its realistic columns) repeated as often as needed, each
    ``customer_id`` replaced by ``CUST-`` and a 10-digit row number. Streamed batch by batch
    (pyarrow's CSV reader and writer, with the sample's own column types), never whole in
    memory."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    from veil.sample.generator import SCHEMA

    path = DATA / f"distinct_{rows}.csv"
    if path.exists():
        return path
    template = ensure_sample(min(rows, template_rows))
    tmp = path.with_suffix(".tmp")
    done = 0
    types = dict(zip(SCHEMA.names, SCHEMA.types, strict=True))
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                   quoted_strings_can_be_null=False)  # as written: "" vs none
    with pacsv.CSVWriter(tmp, SCHEMA) as w:
        while done < rows:
            reader = pacsv.open_csv(template, convert_options=convert,
                                    read_options=pacsv.ReadOptions(block_size=16 << 20))
            for batch in reader:
                batch = batch.slice(0, rows - done)
                if batch.num_rows == 0:
                    break
                n = pa.array(np.arange(done, done + batch.num_rows, dtype=np.int64))
                ids = pc.binary_join_element_wise(
                    "CUST-", pc.utf8_lpad(pc.cast(n, pa.string()), 10, "0"), "")
                i = batch.schema.get_field_index("customer_id")
                w.write_batch(batch.set_column(i, "customer_id", ids))
                done += batch.num_rows
    os.replace(tmp, path)
    return path


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
