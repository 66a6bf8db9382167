"""Keeping SQLite's checkpoints off an online decision's path.

In WAL mode a commit appends pages to the WAL; the commit that takes the WAL past 1,000 pages
then copies them into the database file and syncs both (an automatic checkpoint: two fsyncs
inside that decision's call). An online decision writes about 16 pages (measured), so about
one decision in sixty paid for a checkpoint: that was the p99. A `Checkpointer` gives
a scoring session its own engine whose connections never checkpoint by themselves, and a
background thread that checkpoints every ``every`` seconds (``PRAGMA wal_checkpoint(PASSIVE)``:
it syncs the WAL, copies, syncs the database, and never blocks a writer). That checkpoint is
also what makes the session's commits durable: they do not wait for the disk (they survive a
process crash at once, a power loss once checkpointed). Other databases: no engine of its
own, no thread (PostgreSQL's WAL writer flushes unsynchronized commits within a second).
"""

from __future__ import annotations

import contextlib
import logging
import threading

import sqlalchemy as sa

__all__ = ["Checkpointer"]

log = logging.getLogger("veil.decisions")


class Checkpointer:
    """An engine for a session's writes and the thread that checkpoints behind it."""

    def __init__(self, engine: sa.Engine, every: float = 1.0) -> None:
        self.every = every
        self.base = engine
        self.sqlite = engine.dialect.name == "sqlite"
        self._engine: sa.Engine | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def engine(self) -> sa.Engine:
        """Where the session writes: the workspace's engine, or on SQLite one whose
        connections leave checkpoints to this object's thread."""
        return self._engine or self.base

    def start(self) -> None:
        if not self.sqlite or self._thread is not None:
            return
        from veil.store.db import create_engine

        engine = create_engine(self.base.url.render_as_string(hide_password=False))

        @sa.event.listens_for(engine, "connect")
        def _no_autocheckpoint(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")
            # new subject keys are inserted with secure_delete on (`SqlSubjectKeyStore
            # .insert_in`): on here, the two statements that turn it on and off again go
            dbapi_conn.execute("PRAGMA secure_delete=ON")

        self._engine = engine
        self._thread = threading.Thread(target=self._run, name="veil-decisions-checkpoint",
                                        daemon=True)
        self._thread.start()

    def checkpoint(self) -> None:
        """One passive checkpoint now (what the thread does every ``every`` seconds)."""
        try:
            with self.base.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").all()
                conn.rollback()
        except sa.exc.DBAPIError as exc:  # busy or closing: the next round retries
            log.debug("decision checkpoint skipped: %s", type(exc.orig).__name__)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.checkpoint()

    def stop(self) -> None:
        """Stop the thread after a last checkpoint and close the session's engine."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self.checkpoint()
        if self._engine is not None:
            with contextlib.suppress(Exception):
                self._engine.dispose()
            self._engine = None
