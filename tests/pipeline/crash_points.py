"""A `veil` process that kills itself (SIGKILL, as `kill -9`) at a named point.

Run as ``python crash_points.py POINT[:N] veil-args...``: the process dies at the Nth time it
reaches POINT (default the first), with no cleanup of any kind:

* ``write``: after a batch is handed to the output's writer (mid-run: temporary file open);
* ``sealed``: after the run's audit events and lineage row are recorded, before its commit;
* ``replace``: before an ``os.replace`` (a run's first is the output's rename, just after the
  commit; its second the receipt's);
* ``commit``: before a SQLAlchemy transaction commits (the commit is lost);
* ``audit``: before an audit-log append (earlier writes are committed, the append is not);
* ``pause``: prints ``PAUSED`` after the first batch is written and sleeps, to be killed from
  outside.
"""

from __future__ import annotations

import os
import signal
import sys
import time


def _arm(point: str, nth: int) -> None:
    seen = [0]

    def tick() -> None:
        seen[0] += 1
        if seen[0] == nth:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "replace":
        real_replace = os.replace

        def replace(a, b, **kw):  # type: ignore[no-untyped-def]
            tick()
            return real_replace(a, b, **kw)

        os.replace = replace
    elif point in ("write", "pause"):
        from veil.io import writers

        real_write = writers.ParquetSink.write

        def write(self, batch):  # type: ignore[no-untyped-def]
            real_write(self, batch)
            if point == "pause":
                print("PAUSED", flush=True)
                time.sleep(600)
            tick()

        writers.ParquetSink.write = write  # type: ignore[method-assign]
    elif point == "sealed":
        from veil.pipeline import runner

        real_record = runner.record_run

        def record_run(*args, **kw):  # type: ignore[no-untyped-def]
            out = real_record(*args, **kw)
            tick()
            return out

        runner.record_run = record_run  # type: ignore[assignment]
    elif point == "commit":
        import sqlalchemy as sa

        sa.event.listen(sa.engine.Engine, "commit", lambda conn: tick())
    elif point == "audit":
        from veil.audit import log

        real_append = log.AuditLog.append

        def append(self, events):  # type: ignore[no-untyped-def]
            tick()
            return real_append(self, events)

        log.AuditLog.append = append  # type: ignore[method-assign]
    else:
        raise SystemExit(f"unknown crash point {point!r}")


if __name__ == "__main__":
    name, _, n = sys.argv[1].partition(":")
    _arm(name, int(n or 1))
    from veil.cli.main import main

    sys.exit(main(sys.argv[2:]))
