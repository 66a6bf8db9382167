"""Benchmark: audit appends with the personal-data screen (issue 17), beside an older commit and
beside this tree with the screen switched off, measured in the same run. Not a test.

20,000 events appended in batches of 100 through ``AuditLog.append`` (the events are built
before the clock starts). Two kinds of batch:

- ``veil``: what Veil writes in bulk: run events (run id, dataset, policy path, three
  ``sha256:`` digests), consent events (collector, channels, ten pseudonyms), key uses (key id,
  an error class with capitals now and then), a unique output path per event;
- ``capitals``: the same with a capitalised free-text reason in every event, different in every
  batch, so that every batch goes to the span finder once.

The ``new, finder warm`` side starts the span finder before the clock: the steady state of a
long-running process (the service, a long import); ``new`` includes that one-off start.

Each side runs in a fresh process pinned to one core, alternating, ``--repeat`` times; medians,
the ratio to the older commit and to the screen switched off, and each side's peak RSS.

    .venv/bin/python benchmarks/bench_audit_screen.py --rev a806522 [--repeat 5]
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import DATA, ROOT, measure  # noqa: E402
from bench_against import old_tree  # noqa: E402

CODE = """
import hashlib, tempfile
from datetime import UTC, datetime
import veil
from veil.audit.event import AuditEvent
import veil.audit.log as audit_log
if {off!r}:
    audit_log.screen_events = lambda events: None
if {warm!r}:  # pay the finder's one-off start (import, first call: ~0.6 s) before the clock
    from veil.audit import screen
    screen._finder().find(["Maria"])
ws_root = tempfile.mkdtemp(dir={tmp!r})
veil.init_workspace(ws_root)[0].close()
log = audit_log.AuditLog(veil.store.workspace.Workspace.find(ws_root), sinks=[])
now = datetime.now(UTC)
def hexd(*parts):
    return hashlib.sha256(repr(parts).encode()).hexdigest()
def event(b, i):
    run = hexd("run", b)[:32]
    shape = i % 3
    details = {{"run_id": run, "dataset": "transactions",
               "output": f"/srv/veil/out/credit_scoring/run-{{b}}/part-{{i}}.parquet"}}
    if {capitals!r}:
        details["reason"] = f"Quarterly review {{b}}, batch {{i % 7}}"
    if shape == 0:
        return AuditEvent(time=now, actor="svc:pipeline", action="run", purpose="credit_scoring",
            legal_basis="art6_1_b_contract", outcome="success",
            data_categories=["contact", "financial"],
            counts={{"rows_in": 200000 + i, "rows_out": 199000, "dropped:consent": 12}},
            digests={{k: "sha256:" + hexd(k, b, i) for k in ("input", "output", "policy")}},
            details={{**details, "policy": "/srv/veil/policy.yaml", "fields_kept": 7}})
    if shape == 1:
        return AuditEvent(time=now, actor="web", action="consent.granted", purpose="marketing",
            legal_basis="consent", outcome="success", counts={{"events": 10}},
            subjects=[f"consent:{{hexd(b, i, k)}}" for k in range(10)],
            details={{**details, "channels": "app,web_form"}})
    return AuditEvent(time=now, actor="cli:ops", action="key.use", purpose="fraud_detection",
        legal_basis="art6_1_f_legitimate_interest", outcome="success" if i % 10 else "failure",
        counts={{"values": 120}}, digests={{"input": "sha256:" + hexd("in", b, i)}},
        details={{**details, "key_id": str(1000000000 + i),
                 "error_class": "InputError" if not i % 10 else "none"}})
batches = [[event(b, i) for i in range(100)] for b in range(200)]
t0 = time.perf_counter()
for events in batches:
    log.append(events)
extra = 20000
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", required=True, help="the older commit to compare with")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--core", type=int, default=0)
    a = ap.parse_args()

    new_src = str(ROOT / "src")
    sides = {"old": (str(old_tree(a.rev)), False, False),
             "new, screen off": (new_src, True, False), "new": (new_src, False, False),
             "new, finder warm": (new_src, False, True)}
    tmp = DATA / "audit-screen"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    kek = base64.b64encode(os.urandom(32)).decode()
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(a.repeat):
        for kind in ("veil", "capitals"):
            for side, (src, off, warm) in sides.items():  # interleaved
                code = CODE.format(off=off, warm=warm, tmp=str(tmp),
                                   capitals=kind == "capitals")
                r = measure(code, core=a.core, env={"PYTHONPATH": src, "VEIL_KEK": kek,
                                                    "VEIL_ACTOR": "bench"})
                results.setdefault((kind, side), []).append(r)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"20,000 audit events in batches of 100; old = {a.rev}; one core, fresh process "
          f"each, median of {a.repeat}")
    print(f"{'batch':10}{'side':18}{'seconds':>9}{'events/s':>10}{'/old':>7}{'/off':>7}"
          f"{'RSS MB':>8}")
    for kind in ("veil", "capitals"):
        med = {s: statistics.median(r["seconds"] for r in results[(kind, s)]) for s in sides}
        for side in sides:
            rss = max(r["peak_rss_mb"] for r in results[(kind, side)])
            print(f"{kind:10}{side:18}{med[side]:>9.3f}{20000 / med[side]:>10,.0f}"
                  f"{med[side] / med['old']:>7.2f}{med[side] / med['new, screen off']:>7.2f}"
                  f"{rss:>8.0f}")


if __name__ == "__main__":
    main()
