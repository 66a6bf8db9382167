"""Benchmark: what `veil` costs before it starts (issue 22: `veil --help` < 0.3 s, a 10-row
`veil run` < 0.8 s CPU), beside Python and pyarrow starting alone.

Every figure is one fresh process measured by itself (`_util.run_child`: ``os.wait4`` in a
small launcher, so wall, CPU = user + system and peak RSS are the child's own); rounds are
interleaved (the order rotates each round) and headlines are medians of ``--runs`` rounds.

* ``python -c pass`` and ``python -c "import pyarrow, pyarrow.parquet"``: the anchors;
* the libraries a run cannot do without, imported alone (pyarrow with its CSV, Parquet and
  compute modules, numpy, SQLAlchemy for the store, pydantic for the policy, PyYAML, Typer and
  Rich, cryptography, protobuf for the keysets): the floor under which Veil's own share sits;
* ``veil --help``: the CLI's import and help, no command module;
* ``veil run`` of 10 sample rows, ``credit_scoring``, into a workspace made once beforehand
  (``veil init``, ``veil keys init`` with a ``VEIL_KEK`` secret, as a service sets it; a
  passphrase KEK adds its memory-hard KDF, about 0.2 s, by design);
* ``veil runs list``: a command that opens the workspace.

Children run as an installed Veil does: with Python's bytecode cache (in a temporary
``PYTHONPYCACHEPREFIX``, filled by one warm-up round that is not counted), whatever
``PYTHONDONTWRITEBYTECODE`` says here; without it every start compiles Veil's sources again.

Not a test: run it by hand, briefly while others share the machine.

    .venv/bin/python benchmarks/bench_startup.py --runs 5
    .venv/bin/python benchmarks/bench_startup.py --runs 7 --json > startup.json
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import commit, medians, run_child  # noqa: E402

VEIL = Path(sys.executable).with_name("veil")
GOALS = {"veil --help": ("wall_seconds", 0.3), "veil run (10 rows)": ("cpu_seconds", 0.8)}


def _workspace(root: Path, env: dict[str, str]) -> Path:
    """A workspace with its KEK, output keyset and a 10-row sample (made once, not timed)."""
    ws = root / "ws"
    for args in (["init", str(ws)], ["keys", "init"], ["sample", "--rows", "10", "-o", "tx.csv"]):
        subprocess.run([str(VEIL), *args], cwd=root if args[0] == "init" else ws,
                       env={**os.environ, **env}, check=True, capture_output=True)
    return ws


def _cases(ws: Path) -> dict[str, list[str]]:
    floor = ("import pyarrow, pyarrow.csv, pyarrow.parquet, pyarrow.compute, numpy, sqlalchemy, "
             "pydantic, yaml, typer, rich.console, google.protobuf.json_format, "
             "cryptography.hazmat.primitives.ciphers.aead")
    run = [str(VEIL), "run", "--policy", "sample", "--purpose", "credit_scoring", "tx.csv",
           "-o", "credit.parquet", "--overwrite"]
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "import pyarrow, pyarrow.parquet": [sys.executable, "-c",
                                            "import pyarrow, pyarrow.parquet"],
        "import a run's libraries": [sys.executable, "-c", floor],
        "veil --help": [str(VEIL), "--help"],
        "veil run (10 rows)": run,
        "veil runs list": [str(VEIL), "runs", "list", "--limit", "3"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="example: python benchmarks/bench_startup.py --runs 5")
    ap.add_argument("--runs", type=int, default=5, help="rounds (median of; at least 3)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if args.runs < 3:
        ap.error("--runs must be at least 3 (headlines are medians)")
    env = {"VEIL_KEK": base64.b64encode(os.urandom(32)).decode(), "COLUMNS": "100"}
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # children inherit os.environ (run_child)
    for name in [k for k in os.environ if k.startswith("VEIL_")]:
        del os.environ[name]
    with tempfile.TemporaryDirectory() as d:
        env_all = env | {"PYTHONPYCACHEPREFIX": str(Path(d) / "pycache")}
        ws = _workspace(Path(d), env)
        cases = _cases(ws)
        for argv in cases.values():  # warm-up: fills the bytecode cache
            run_child(argv, env=env_all, cwd=ws)
        samples: dict[str, list[dict]] = {name: [] for name in cases}
        names = list(cases)
        for r in range(args.runs):
            for name in names[r % len(names):] + names[:r % len(names)]:
                got = run_child(cases[name], env=env_all, cwd=ws)
                samples[name].append(got)
    figures = {name: medians(s) for name, s in samples.items()}
    anchor = figures["import pyarrow, pyarrow.parquet"]
    for f in figures.values():
        f["cpu_vs_pyarrow_import"] = round(f["cpu_seconds"] / anchor["cpu_seconds"], 2)
    report = {"benchmark": "startup", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "commit": commit(), "figures": figures,
              "goals": {k: {"figure": m, "below": v} for k, (m, v) in GOALS.items()}}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"start-up, medians of {args.runs} interleaved fresh processes ({report['commit']})")
    print(f"{'command':34} {'wall s':>7} {'CPU s':>7} {'x pyarrow':>9} {'peak RSS MB':>11}")
    for name, f in figures.items():
        goal = GOALS.get(name)
        note = f"  goal {goal[0].split('_')[0]} < {goal[1]} s" if goal else ""
        print(f"{name:34} {f['wall_seconds']:7.3f} {f['cpu_seconds']:7.3f} "
              f"{f['cpu_vs_pyarrow_import']:9.2f} {f['peak_rss_mb']:11.1f}{note}")


if __name__ == "__main__":
    main()
