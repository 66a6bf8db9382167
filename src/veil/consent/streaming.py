"""Appending a long stream of events (a CSV import) in chunks inside ONE write transaction.

`Ledger.append` holds every event of a batch as Python objects, several per event; for a file
of a million rows that is gigabytes. Here the stream is read, validated and appended a chunk
at a time, all in one transaction: any error rolls every chunk back, so the import stays all
or nothing, and memory stays bounded by the chunk. The rules are the batch's: a key whose
events span chunks sees the earlier chunks' events as stored, so a later chunk's earlier event
is re-checked against them exactly as a backdated event is (later events win, withdrawals and
expiries hold); event ids repeated anywhere in the stream are refused naming both places.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from veil.consent.appending import append_in
from veil.consent.audit_trail import consent_audit_events, screen_consent_text
from veil.consent.models import ConsentEvent, Event, now_us
from veil.consent.validation import prepare_event
from veil.errors import ConsentError
from veil.store.transactions import retrying

if TYPE_CHECKING:
    from veil.consent.ledger import Ledger

__all__ = ["CHUNK", "append_stream"]

CHUNK = 50_000  # events validated and appended at a time


def append_stream(ledger: Ledger, events: Callable[[], Iterable[ConsentEvent]],
                  on_stored: Callable[[list[Event]], None], *, chunk: int = CHUNK) -> int:
    """Append the events ``events()`` yields, all or nothing, a chunk at a time; each chunk's
    stored events go to ``on_stored`` (called again from the start if a conflict makes the
    transaction run again: ``events`` must give the same stream each time). Returns how many
    events were stored. Every event needs a time of its own (an import's rows do)."""
    ledger.ref.key()  # the audit trail needs it: no KEK, no write
    from veil.audit.log import AuditLog

    log = AuditLog(ledger.workspace)
    now = now_us()

    def write(conn: Any) -> int:
        seen: dict[str, str | None] = {}  # event id -> its source, across chunks
        n = 0
        for part in _chunks(iter(events()), chunk):
            prepared = [prepare_event(e, now, ledger.policy) for e in part]
            for e in prepared:
                if e.event_id in seen:
                    first = seen[e.event_id]
                    also = f" (first at {first})" if first else ""
                    raise ConsentError(f"duplicate event id{also}",
                                       where=e.source)
                seen[e.event_id] = e.source
            screen_consent_text((e.collector for e in prepared), (e.channel for e in prepared))
            stored = append_in(conn, prepared, ledger.ref)
            log.append_in(conn, consent_audit_events(ledger.ref, stored))
            on_stored(stored)
            n += len(stored)
        return n

    return retrying(ledger.engine, "appending consent events", write)


def _chunks(it: Iterator[ConsentEvent], size: int) -> Iterator[list[ConsentEvent]]:
    while part := list(itertools.islice(it, size)):
        yield part
