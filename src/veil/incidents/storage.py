"""The breach register's tables (``veil.store.schema``, "breaches" section): read a breach
whole, insert one, and change one in a single transaction guarded by its ``version`` (a
concurrent change is refused, not overwritten), always with the step that says what changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from veil.errors import StoreError
from veil.incidents.breach import Breach
from veil.incidents.clock import as_utc, iso
from veil.incidents.scope import Item
from veil.store.schema import (
    breach_items,
    breach_notifications,
    breach_steps,
    breach_subjects,
    breaches,
)
from veil.store.transactions import read_connection, write_transaction
from veil.store.workspace import Workspace

_SUBJECT_BATCH = 5000


@dataclass(frozen=True)
class Step:
    """One entry of a breach's history: what was done, in a sentence."""

    action: str
    summary: str


def _item(i: Any) -> Item:
    return Item(kind=i.kind, ref=i.ref, run_id=i.run_id, encrypted=i.encrypted, keyset=i.keyset,
                key_exposed=i.key_exposed, detail=dict(i.detail or {}))


def _notification(n: Any) -> dict[str, Any]:
    return {"id": n.id, "recipient": n.recipient, "phase": n.phase,
            "sent_at": iso(as_utc(n.sent_at)), "late": bool(n.late),
            "delay_reason": n.delay_reason, "reference": n.reference, "channel": n.channel,
            "content_sha256": n.content_sha256, "recorded_at": iso(as_utc(n.recorded_at)),
            "recorded_by": n.recorded_by}


def _step(s: Any) -> dict[str, Any]:
    return {"time": iso(as_utc(s.time)), "actor": s.actor, "action": s.action,
            "summary": s.summary}


def _breach(r: Any, items: list[Item], notes: list[dict[str, Any]],
            steps: list[dict[str, Any]]) -> Breach:
    def utc(t: datetime | None) -> datetime | None:
        return as_utc(t) if t else None

    return Breach(
        id=r.id, title=r.title, status=r.status, nature=list(r.nature),
        description=r.description, occurred_at=as_utc(r.occurred_at),
        occurred_until=utc(r.occurred_until), aware_at=as_utc(r.aware_at),
        circumstances=dict(r.circumstances), consequences=list(r.consequences),
        measures=list(r.measures), controller=r.controller, scope=r.scope,
        assessment=r.assessment, decision=r.decision, created_at=as_utc(r.created_at),
        created_by=r.created_by, updated_at=as_utc(r.updated_at), closed_at=utc(r.closed_at),
        close_reason=r.close_reason, version=r.version, display_tz=r.timezone, items=items,
        notifications=notes, steps=steps)


class BreachStore:
    """Reads and writes breaches; every write records its step, by ``actor``."""

    def __init__(self, workspace: Workspace, actor: str) -> None:
        self.workspace = workspace
        self.actor = actor

    # -- reading ---------------------------------------------------------------------------
    def load(self, conn: sa.Connection, bid: int) -> Breach | None:
        r = conn.execute(sa.select(breaches).where(breaches.c.id == bid)).first()
        if r is None:
            return None
        items = [_item(i) for i in conn.execute(sa.select(breach_items).where(
            breach_items.c.breach_id == bid).order_by(breach_items.c.seq))]
        notes = [_notification(n) for n in conn.execute(sa.select(breach_notifications).where(
            breach_notifications.c.breach_id == bid).order_by(
                breach_notifications.c.sent_at, breach_notifications.c.id))]
        steps = [_step(s) for s in conn.execute(sa.select(breach_steps).where(
            breach_steps.c.breach_id == bid).order_by(breach_steps.c.id))]
        return _breach(r, items, notes, steps)

    def get(self, bid: int) -> Breach | None:
        with read_connection(self.workspace.engine, "reading the breach") as conn:
            return self.load(conn, bid)

    def all(self, status: str | None = None) -> list[Breach]:
        q = sa.select(breaches.c.id).order_by(breaches.c.id)
        if status:
            q = q.where(breaches.c.status == status)
        with read_connection(self.workspace.engine, "reading the breaches") as conn:
            out = [self.load(conn, i) for i in conn.execute(q).scalars().all()]
        return [b for b in out if b is not None]

    def subjects(self, bid: int) -> list[str]:
        with read_connection(self.workspace.engine, "reading the breach's subjects") as conn:
            return list(conn.execute(sa.select(breach_subjects.c.subject).where(
                breach_subjects.c.breach_id == bid).order_by(breach_subjects.c.subject))
                .scalars())

    # -- writing ---------------------------------------------------------------------------
    def insert(self, row: dict[str, Any], items: Sequence[Item], pseudonyms: Sequence[str],
               step: Step, now: datetime) -> int:
        """A new breach with its items and subjects; returns its number."""
        with write_transaction(self.workspace.engine, "recording the breach") as conn:
            key = conn.execute(breaches.insert().values(**row)).inserted_primary_key
            assert key is not None
            bid = int(key[0])
            self._write_items(conn, bid, items)
            self._write_subjects(conn, bid, pseudonyms)
            self._step(conn, bid, now, step)
        return bid

    def change(self, b: Breach, now: datetime, values: dict[str, Any], step: Step, *,
               doing: str, items: Sequence[Item] | None = None,
               pseudonyms: Sequence[str] | None = None,
               notification: dict[str, Any] | None = None) -> None:
        """Change an open breach unchanged since ``b`` was read: its columns, and (when
        given) its items, its subjects or one more notification; refused if someone else
        changed it meanwhile."""
        with write_transaction(self.workspace.engine, doing) as conn:
            self._bump(conn, b, now, values)
            if items is not None:
                conn.execute(breach_items.delete().where(breach_items.c.breach_id == b.id))
                self._write_items(conn, b.id, items)
            if pseudonyms is not None:
                conn.execute(breach_subjects.delete().where(breach_subjects.c.breach_id == b.id))
                self._write_subjects(conn, b.id, pseudonyms)
            if notification is not None:
                conn.execute(breach_notifications.insert().values(
                    breach_id=b.id, recorded_at=now, recorded_by=self.actor, **notification))
            self._step(conn, b.id, now, step)

    def add_step(self, bid: int, now: datetime, step: Step, doing: str) -> None:
        """A step that changes nothing else (a draft was written)."""
        with write_transaction(self.workspace.engine, doing) as conn:
            self._step(conn, bid, now, step)

    def _bump(self, conn: sa.Connection, b: Breach, now: datetime,
              values: dict[str, Any]) -> None:
        res = conn.execute(breaches.update().where(
            breaches.c.id == b.id, breaches.c.version == b.version, breaches.c.status == "open")
            .values(**values, updated_at=now, version=b.version + 1))
        if res.rowcount != 1:
            raise StoreError("changed by someone else meanwhile: show it and try again",
                             where=b.ref)

    @staticmethod
    def _write_items(conn: sa.Connection, bid: int, items: Sequence[Item]) -> None:
        if items:
            conn.execute(breach_items.insert(), [
                {"breach_id": bid, "seq": n, "kind": it.kind, "ref": it.ref[:2000],
                 "run_id": it.run_id, "encrypted": it.encrypted, "keyset": it.keyset,
                 "key_exposed": it.key_exposed, "detail": it.detail}
                for n, it in enumerate(items)])

    @staticmethod
    def _write_subjects(conn: sa.Connection, bid: int, pseudonyms: Sequence[str]) -> None:
        for i in range(0, len(pseudonyms), _SUBJECT_BATCH):
            conn.execute(breach_subjects.insert(), [{"breach_id": bid, "subject": s}
                                                    for s in pseudonyms[i:i + _SUBJECT_BATCH]])

    def _step(self, conn: sa.Connection, bid: int, now: datetime, step: Step) -> None:
        conn.execute(breach_steps.insert().values(breach_id=bid, time=now, actor=self.actor,
                                                  action=step.action,
                                                  summary=step.summary[:4000]))
