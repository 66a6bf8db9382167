"""The consent ledger in the workspace's store: append-only events, derived state, checks.

Tables (``veil.store.schema``, "consent ledger" section):

- ``consent_events``: one row per event, never deleted and never updated, with one exception:
  an erasure (Art. 17, ``veil.rights``) replaces the subject id of that subject's rows in both
  tables by ``erased:<pseudonym>``, so the history (and the audit log, already by pseudonym)
  stays while the identifier goes; ``seq`` is the append order, ``event_id`` is unique (a
  repeated id is refused, so a retried import cannot count twice).
- ``consent_state``: per (purpose, subject), the state left by the last event in time order.
  It is written in the same transaction as the events, so it always equals a fold of them; it is
  what the single and bulk checks read.
- ``consent_notices``: the versioned notice texts of each purpose. A notice added with
  ``reconsent`` makes consents given under earlier versions invalid from its effective time.

Writers lock what they change (``BEGIN IMMEDIATE`` on SQLite; ``SELECT ... FOR UPDATE`` of the
state rows on PostgreSQL, retrying on a conflict), so any number of processes can append at once.
A batch is all-or-nothing: on any error nothing of it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from veil.consent import reading
from veil.consent.appending import append_in
from veil.consent.async_checks import AsyncChecks
from veil.consent.audit_trail import consent_audit_events, screen_consent_text
from veil.consent.checks import check_statements, status_from_row
from veil.consent.models import (
    ConsentEvent,
    ConsentStatus,
    Event,
    Notice,
    State,
    SubjectRef,
    as_time,
    check_purpose_id,
    check_subject,
    now_us,
)
from veil.consent.notices import (
    MAX_NOTICE,
    NoticeText,
    add_notice,
    notice_seq,
    read_notices,
    required_seq,
)
from veil.consent.purposes import consent_min_age, policy_purpose
from veil.consent.validation import prepare_event, refuse_repeated_ids
from veil.store.transactions import read_connection, retrying

if TYPE_CHECKING:
    import pyarrow as pa

    from veil.consent.bulk import BulkCheck, ConsentSnapshot
    from veil.policy.model import Policy, Purpose
    from veil.store.workspace import Workspace

__all__ = ["MAX_NOTICE", "Ledger", "consent_min_age"]


class Ledger:
    """The workspace's consent ledger. Cheap to create; safe across threads and processes.

    A facade over the ledger's parts: validation (:mod:`~veil.consent.validation`), appending
    (:mod:`~veil.consent.appending`), notices (:mod:`~veil.consent.notices`), checks
    (:mod:`~veil.consent.checks`, :mod:`~veil.consent.async_checks`, bulk in
    :mod:`~veil.consent.bulk`), reading (:mod:`~veil.consent.reading`) and the audit trail
    (:mod:`~veil.consent.audit_trail`).

    With a ``policy``, purposes are checked against it (unknown purposes, purposes that do not
    rely on consent, the minimum age of Art. 8). Subject ids never appear in messages: they are
    named by a keyed pseudonym (:attr:`ref`).

    >>> ledger = Ledger(workspace, policy)                              # doctest: +SKIP
    >>> ledger.grant("C-1", "marketing", channel="web_form", action="clicked 'I agree'",
    ...              collector="web")                                   # doctest: +SKIP
    >>> ledger.check("C-1", "marketing").valid                          # doctest: +SKIP
    True
    """

    def __init__(self, workspace: Workspace, policy: Policy | None = None) -> None:
        self.workspace = workspace.ready()
        self.engine = workspace.engine
        self.policy = policy
        self.ref = SubjectRef(workspace.root)
        self._async = AsyncChecks(workspace.database_url)

    def purpose(self, purpose: str) -> Purpose | None:
        """Check a purpose id (against the policy, when there is one); returns its definition."""
        return policy_purpose(self.policy, purpose)

    # ------------------------------------------------------------------ appending

    def grant(self, subject: str, purpose: str, *, channel: str, action: str, collector: str,
              time: datetime | str | None = None, notice_version: str | None = None,
              evidence: str | None = None, expires: datetime | str | None = None,
              age: int | None = None, guardian: str | None = None,
              event_id: str | None = None) -> Event:
        """Record that the subject gave consent to one purpose by an explicit action."""
        return self.append([ConsentEvent(
            subject, purpose, "granted", channel, collector, time, notice_version, action,
            evidence, expires, age, guardian, event_id)])[0]

    def renew(self, subject: str, purpose: str, *, channel: str, action: str, collector: str,
              time: datetime | str | None = None, notice_version: str | None = None,
              evidence: str | None = None, expires: datetime | str | None = None,
              age: int | None = None, guardian: str | None = None,
              event_id: str | None = None) -> Event:
        """Record that the subject confirmed a consent in force or lapsed (not withdrawn)."""
        return self.append([ConsentEvent(
            subject, purpose, "renewed", channel, collector, time, notice_version, action,
            evidence, expires, age, guardian, event_id)])[0]

    def withdraw(self, subject: str, purpose: str, *, channel: str, collector: str,
                 time: datetime | str | None = None, action: str | None = None,
                 evidence: str | None = None, event_id: str | None = None) -> Event:
        """Record a withdrawal (Art. 7(3)): effective from its time, as easy as granting."""
        return self.append([ConsentEvent(
            subject, purpose, "withdrawn", channel, collector, time, None, action, evidence,
            event_id=event_id)])[0]

    def expire(self, subject: str, purpose: str, *, collector: str,
               time: datetime | str | None = None, channel: str = "system",
               event_id: str | None = None) -> Event:
        """Record that a consent lapsed (e.g. a review period ended)."""
        return self.append([ConsentEvent(
            subject, purpose, "expired", channel, collector, time, event_id=event_id)])[0]

    def append(self, events: Iterable[ConsentEvent]) -> list[Event]:
        """Append events in one transaction (all or nothing); returns them as stored.

        Refused, with the ledger unchanged: an unknown purpose, a grant without an explicit
        action, a time in the future, a repeated event id, a withdrawal, renewal or expiry without
        a prior grant, a backdated event that would make a stored one invalid.
        """
        now = now_us()
        given = list(events)
        prepared = [prepare_event(e, now, self.policy) for e in given]
        if not prepared:
            return []
        refuse_repeated_ids(prepared)
        # Events without a time of their own are "now": stamped again under the lock, so a
        # withdrawal racing a grant is never refused as backdated (Art. 7(3)).
        stamp_now = {p.event_id for g, p in zip(given, prepared, strict=True)
                     if getattr(g, "time", None) is None}
        self.ref.key()  # the audit trail needs it: no KEK, no write (not a half-recorded append)
        screen_consent_text((e.collector for e in prepared), (e.channel for e in prepared))
        from veil.audit.log import AuditLog

        log = AuditLog(self.workspace)

        def write(conn: Any) -> list[Event]:
            # the events and the audit events that record them commit together or not at all
            stored = append_in(conn, prepared, self.ref, stamp_now=stamp_now)
            log.append_in(conn, consent_audit_events(self.ref, stored))
            return stored

        return retrying(self.engine, "appending consent events", write)

    # ------------------------------------------------------------------ notices

    def add_notice(self, purpose: str, version: str, text: str, *, created_by: str,
                   effective: datetime | str | None = None, reconsent: bool = False) -> Notice:
        """Store a new version of a purpose's notice text.

        With ``reconsent``, consents given under earlier versions stop being valid at
        ``effective`` (default now): the subjects must consent again to the new text.
        """
        policy_purpose(self.policy, purpose, granting=True)
        new = NoticeText.checked(purpose, version, text, created_by=created_by,
                                 effective=effective, reconsent=reconsent)
        return add_notice(self.engine, new)

    def notices(self, purpose: str, *, with_text: bool = False) -> list[Notice]:
        """The notice versions of a purpose, oldest first."""
        check_purpose_id(purpose)
        return read_notices(self.engine, purpose, with_text=with_text)

    # ------------------------------------------------------------------ single checks

    check_statements = staticmethod(check_statements)

    def check_arguments(self, subject: str, purpose: str,
                        at: datetime | str | int | None) -> tuple[int, bool]:
        """Validate a check's arguments: (time in µs, whether it is an as-of check)."""
        check_subject(subject)
        policy_purpose(self.policy, purpose)
        if at is None:
            return now_us(), False
        at_us = as_time(at, "check time")
        assert at_us is not None
        return at_us, True

    def status_from_row(self, subject: str, purpose: str, at_us: int, row: Any,
                        extra_req: int | None) -> ConsentStatus:
        """Judge one state row (from `check_statements`) with the ledger's rules."""
        return status_from_row(self.ref, subject, purpose, at_us, row, extra_req)

    def check(self, subject: str, purpose: str, at: datetime | str | int | None = None, *,
              notice_version: str | None = None) -> ConsentStatus:
        """Does `subject` hold valid consent to `purpose` now (or at the past time `at`)?

        Valid means: granted or renewed, not withdrawn, not expired at that time, and given
        under a notice version no older than the latest one that required re-consent (and no
        older than ``notice_version`` when given). A subject the ledger does not know has
        "no consent".
        """
        at_us, as_of = self.check_arguments(subject, purpose, at)
        current, past = check_statements()
        with read_connection(self.engine, "checking consent") as conn:
            row = conn.execute(past if as_of else current,
                               {"p": purpose, "s": subject, "at": at_us}).first()
            extra = notice_seq(conn, purpose, notice_version)
        return status_from_row(self.ref, subject, purpose, at_us, row, extra)

    async def acheck(self, subject: str, purpose: str, at: datetime | str | int | None = None, *,
                     notice_version: str | None = None) -> ConsentStatus:
        """:meth:`check` on an async driver (aiosqlite or psycopg's async mode)."""
        at_us, as_of = self.check_arguments(subject, purpose, at)
        current, past = check_statements()
        row, extra = await self._async.fetch(past if as_of else current,
                                             {"p": purpose, "s": subject, "at": at_us},
                                             purpose, notice_version)
        return status_from_row(self.ref, subject, purpose, at_us, row, extra)

    async def aclose(self) -> None:
        """Dispose of the async engine (call from the event loop that used it)."""
        await self._async.close()

    # ------------------------------------------------------------------ bulk

    def snapshot(self, purpose: str, at: datetime | str | int | None = None, *,
                 notice_version: str | None = None) -> ConsentSnapshot:
        """The purpose's consent state at `at` (default now), loaded once for bulk checks."""
        from veil.consent.bulk import load_snapshot

        policy_purpose(self.policy, purpose)
        at_us = now_us() if at is None else as_time(at, "check time")
        assert at_us is not None
        with read_connection(self.engine, "loading consent state") as conn:
            req = required_seq(conn, purpose, at_us, notice_version)
            return load_snapshot(conn, purpose, at_us, req)

    def check_many(self, subjects: pa.Array | pa.ChunkedArray | Sequence[str | None],
                   purpose: str, at: datetime | str | int | None = None, *,
                   notice_version: str | None = None) -> BulkCheck:
        """Check a column of subject ids at once: a boolean mask and a reason code per row."""
        return self.snapshot(purpose, at, notice_version=notice_version).check(subjects)

    # ------------------------------------------------------------------ reading

    def history(self, subject: str, purpose: str | None = None) -> list[Event]:
        """The subject's events (all purposes, or one), in time order. Unknown subject: error."""
        check_subject(subject)
        if purpose is not None:
            policy_purpose(self.policy, purpose)
        return reading.history(self.engine, subject, purpose, self.ref)

    def knows(self, subject: str) -> bool:
        """Whether the ledger holds any event for the subject."""
        check_subject(subject)
        return reading.knows(self.engine, subject)

    def events(self, *, batch: int = 10_000) -> Iterator[Event]:
        """Every event in append order (streams; for the JSON-lines export)."""
        return reading.every_event(self.engine, batch=batch)

    def states(self, purpose: str) -> dict[str, State]:
        """The materialized state of every subject of a purpose (for tests and tools)."""
        return reading.states(self.engine, purpose)

    def count(self) -> int:
        """How many events the ledger holds."""
        return reading.count_events(self.engine)
