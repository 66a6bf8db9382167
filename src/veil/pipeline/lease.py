"""The lease a run holds on its output path, and the heartbeat that keeps it fresh.

A run inserts one ``run_leases`` row keyed by its resolved output path, in the transaction that
records it as running; a second run to the same path hits the key and is refused while the
holder lives. The row names the holder (host, pid, the process's start time) and carries a
heartbeat that a daemon thread refreshes every `heartbeat_every` seconds, plus the run's
temporary files and, once the run is committed, the renames that publish it.

Whether the holder is gone (`Lease.stale_reason`):

* on this host: its process is gone (no such pid, a zombie, or a pid reused by a process that
  started later); a live process keeps its lease however late its heartbeat (it may be paused);
* on another host: its heartbeat is older than `stale_after` seconds (``VEIL_RUN_STALE_SECONDS``,
  default 120): the only evidence there is.

A stale lease is taken over by `claim` (a compare-and-swap on the holder), so two processes
that find it at once do not both clean up; `veil.pipeline.recovery` then rolls the run back or
finishes publishing it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from veil.store.schema import run_leases

__all__ = ["Holder", "Lease", "RunLease", "claim", "heartbeat_every", "output_key",
           "read_leases", "stale_after"]

DEFAULT_STALE_SECONDS = 120.0
#: Run ids whose lease this process holds: a lease naming this pid but not listed here belongs
#: to a run of this process that ended without releasing it.
_HELD: set[str] = set()
_HELD_LOCK = threading.Lock()


def stale_after() -> float:
    """Seconds without a heartbeat after which another host's run counts as gone."""
    try:
        v = float(os.environ.get("VEIL_RUN_STALE_SECONDS", DEFAULT_STALE_SECONDS))
    except ValueError:
        return DEFAULT_STALE_SECONDS
    return min(max(v, 1.0), 86400.0)


def heartbeat_every() -> float:
    return stale_after() / 6


def output_key(path: Path) -> str:
    """The lease's key: the SHA-256 of the output's resolved path (any length fits)."""
    return hashlib.sha256(str(Path(path).resolve()).encode("utf-8", "surrogateescape")).hexdigest()


# -- holders ---------------------------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a Linux process, or None (no /proc, or gone)."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2:].split()  # after "pid (comm) "
    try:
        return fields[0], int(fields[19])
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Holder:
    """The process holding a lease."""

    host: str
    pid: int
    proc_start: int | None

    @classmethod
    def me(cls) -> Holder:
        stat = _proc_stat(os.getpid())
        return cls(socket.gethostname()[:255], os.getpid(), stat[1] if stat else None)

    def gone(self) -> str | None:
        """Why this holder (on this host) is gone, or None while it lives."""
        if self.pid == os.getpid():
            return None  # the caller checks this process's own runs (`_HELD`)
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return f"its process {self.pid} is gone"
        except PermissionError:
            pass  # another user's process: it exists
        stat = _proc_stat(self.pid)
        if stat is not None:
            if stat[0] in ("Z", "X"):
                return f"its process {self.pid} has exited"
            if self.proc_start is not None and stat[1] != self.proc_start:
                return f"its process {self.pid} is gone (the pid was reused)"
        return None


@dataclass(frozen=True)
class Lease:
    """A ``run_leases`` row."""

    output_key: str
    run_id: str
    output_ref: str
    holder: Holder
    started_at: datetime
    heartbeat_at: datetime
    phase: str  # writing | publishing
    files: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, r: Any) -> Lease:
        return cls(r.output_key, r.run_id, r.output_ref, Holder(r.host, int(r.pid), r.proc_start),
                   _utc(r.started_at), _utc(r.heartbeat_at), r.phase, dict(r.files or {}))

    def age(self, now: datetime) -> float:
        """Seconds since the last heartbeat."""
        return (now - self.heartbeat_at).total_seconds()

    def stale_reason(self, now: datetime | None = None, limit: float | None = None
                     ) -> str | None:
        """Why the holder counts as gone (see the module doc), or None while it lives."""
        now = now or datetime.now(UTC)
        if self.holder.host == socket.gethostname()[:255]:
            if self.holder.pid == os.getpid():
                with _HELD_LOCK:
                    held = self.run_id in _HELD
                return None if held else "its run in this process ended without releasing it"
            return self.holder.gone()
        limit = stale_after() if limit is None else limit
        if self.age(now) > limit:
            return (f"no heartbeat from {self.holder.host} for {self.age(now):.0f} s "
                    f"(more than {limit:.0f} s)")
        return None

    def temp_files(self) -> list[str]:
        """Every temporary path the run recorded (its own and the renames' sources)."""
        out = list(self.files.get("temp", []))
        out += [m[0] for m in self.files.get("moves", []) if m[0] not in out]
        return out

    def describe(self) -> str:
        return (f"run {self.run_id[:12]} (pid {self.holder.pid} on {self.holder.host}, "
                f"since {self.started_at.isoformat(timespec='seconds')})")

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(UTC)
        return {"run_id": self.run_id, "output": self.output_ref, "phase": self.phase,
                "host": self.holder.host, "pid": self.holder.pid,
                "started_at": self.started_at.isoformat(),
                "heartbeat_age_seconds": round(self.age(now), 1),
                "stale": self.stale_reason(now)}


def _utc(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def read_leases(conn: sa.Connection) -> list[Lease]:
    """Every lease (one row per run in progress: the table stays small)."""
    return [Lease.from_row(r) for r in conn.execute(sa.select(run_leases))]


def lease_of(conn: sa.Connection, *, run_id: str | None = None,
             output: Path | None = None) -> Lease | None:
    t = run_leases.c
    cond = t.run_id == run_id if run_id is not None else t.output_key == output_key(output)
    row = conn.execute(sa.select(run_leases).where(cond)).first()
    return None if row is None else Lease.from_row(row)


def claim(engine: sa.Engine, lease: Lease) -> bool:
    """Take a stale lease over for recovery (compare-and-swap on its holder): True if this
    process now holds it, False if another took it first or it is gone."""
    me = Holder.me()
    t = run_leases.c
    with engine.begin() as conn:
        n = conn.execute(run_leases.update().where(
            t.run_id == lease.run_id, t.host == lease.holder.host, t.pid == lease.holder.pid
        ).values(host=me.host, pid=me.pid, proc_start=me.proc_start,
                 heartbeat_at=datetime.now(UTC))).rowcount
    return n == 1


# -- a run's own lease -------------------------------------------------------------------------


class RunLease:
    """The lease of one running run: `insert`, heartbeat, `publishing`, `release`."""

    def __init__(self, engine: sa.Engine, run_id: str, output: Path) -> None:
        self.engine, self.run_id, self.output = engine, run_id, Path(output)
        self.key = output_key(self.output)
        self.me = Holder.me()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def insert(self, conn: sa.Connection, temp: list[Path], now: datetime) -> None:
        """Take the lease in ``conn``'s transaction (IntegrityError: the path is held)."""
        conn.execute(run_leases.insert().values(
            output_key=self.key, run_id=self.run_id, output_ref=str(self.output.resolve()),
            host=self.me.host, pid=self.me.pid, proc_start=self.me.proc_start,
            started_at=now, heartbeat_at=now, phase="writing",
            files={"temp": [str(p) for p in temp], "moves": []}))
        with _HELD_LOCK:
            _HELD.add(self.run_id)

    def start_heartbeat(self, every: float | None = None) -> None:
        every = heartbeat_every() if every is None else every
        self._thread = threading.Thread(target=self._beat, args=(every,), daemon=True,
                                        name=f"veil-lease-{self.run_id[:8]}")
        self._thread.start()

    def _beat(self, every: float) -> None:
        t = run_leases.c
        while not self._stop.wait(every):
            try:
                with self.engine.begin() as conn:
                    n = conn.execute(run_leases.update().where(
                        t.run_id == self.run_id, t.host == self.me.host, t.pid == self.me.pid
                    ).values(heartbeat_at=datetime.now(UTC))).rowcount
                if n == 0:
                    self.lost = True  # presumed dead and taken over: publishing will refuse
                    return
            except Exception:  # noqa: BLE001 - a busy database: try again at the next beat
                continue

    def publishing(self, conn: sa.Connection, moves: list[tuple[Path, Path]]) -> bool:
        """Record, in the run's commit transaction, the renames still to do; False when the
        lease is no longer this run's (it was presumed dead: the caller must not commit)."""
        t = run_leases.c
        n = conn.execute(run_leases.update().where(
            t.run_id == self.run_id, t.host == self.me.host, t.pid == self.me.pid
        ).values(phase="publishing", heartbeat_at=datetime.now(UTC),
                 files={"temp": [], "moves": [[str(a), str(b)] for a, b in moves]})).rowcount
        return n == 1

    def stop(self) -> None:
        """Stop the heartbeat and stop claiming the lease for this process."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        with _HELD_LOCK:
            _HELD.discard(self.run_id)

    def release(self, conn: sa.Connection | None = None) -> None:
        """Delete the lease (in ``conn``'s transaction when given) and stop the heartbeat."""
        self.stop()
        stmt = run_leases.delete().where(run_leases.c.run_id == self.run_id)
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)


def stale_cutoff(now: datetime, limit: float | None = None) -> datetime:
    return now - timedelta(seconds=stale_after() if limit is None else limit)
