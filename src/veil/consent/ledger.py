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

import asyncio
import contextlib
import random
import time as _time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil.consent.models import (
    EVENT_COLUMNS,
    KINDS,
    OK,
    REASONS,
    STATE_COLUMNS,
    STATUS_AFTER,
    ConsentEvent,
    ConsentStatus,
    Event,
    Notice,
    State,
    SubjectRef,
    as_time,
    check_action,
    check_age,
    check_channel,
    check_event_id,
    check_evidence,
    check_purpose_id,
    check_subject,
    check_text,
    check_version,
    code_at,
    format_us,
    from_us,
    now_us,
    state_after,
    transition,
)
from veil.errors import ConsentError, StoreError
from veil.store.schema import consent_events, consent_notices, consent_state

if TYPE_CHECKING:
    import pyarrow as pa

    from veil.consent.bulk import BulkCheck, ConsentSnapshot
    from veil.policy.model import Policy, Purpose
    from veil.store.workspace import Workspace

_CHUNK = 500  # ids per IN (...) list
_RETRIES = 8
_FAR = 1 << 62  # seq placeholder for events not stored yet (they sort after stored ones)
MAX_NOTICE = 1 << 20


def consent_min_age(purpose: Purpose | None) -> int | None:
    """The policy's minimum age for consent to a purpose (Art. 8), if the policy sets one."""
    value = getattr(purpose, "consent_min_age", None) if purpose is not None else None
    return int(value) if value is not None else None


def _db_error(exc: sa.exc.DBAPIError, doing: str) -> StoreError:
    orig = getattr(exc, "orig", None)
    text = str(orig).splitlines()[0] if orig is not None else type(exc).__name__
    return StoreError(f"{doing}: database error ({text[:200]})")


def _retryable(exc: sa.exc.DBAPIError) -> bool:
    """Conflicts a retry resolves: a concurrent insert of the same key, a deadlock, a busy db."""
    if isinstance(exc, sa.exc.IntegrityError):
        return True
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None)
    if state in ("40001", "40P01", "55P03"):
        return True
    return "locked" in str(orig).lower() or "busy" in str(orig).lower()


_AUDIT_SUBJECTS = 1000  # subject pseudonyms per audit event


class Ledger:
    """The workspace's consent ledger. Cheap to create; safe across threads and processes.

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
        self._aengine: Any = None
        self._aloop: asyncio.AbstractEventLoop | None = None

    # ------------------------------------------------------------------ purposes

    def _purpose(self, purpose: str, *, granting: bool = False) -> Purpose | None:
        check_purpose_id(purpose)
        if self.policy is None:
            return None
        p = self.policy.purposes.get(purpose)
        if p is None:
            known = ", ".join(sorted(self.policy.purposes)) or "none"
            raise ConsentError(f"unknown purpose '{purpose}' (known: {known})",
                               where=self.policy.source)
        if granting and not p.needs_consent:
            raise ConsentError(f"purpose '{purpose}' does not rely on consent (legal basis: "
                               f"{p.legal_basis_text}); consent recorded for it would mislead",
                               where=self.policy.locate("purposes", purpose, "legal_basis"))
        return p

    def purpose(self, purpose: str) -> Purpose | None:
        """Check a purpose id (against the policy, when there is one); returns its definition."""
        return self._purpose(purpose)

    # ------------------------------------------------------------------ transactions

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[sa.Connection]:
        try:
            conn = self.engine.connect()
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, doing) from None
        try:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn
            conn.commit()
        except BaseException:
            with contextlib.suppress(sa.exc.DBAPIError):
                conn.rollback()
            raise
        finally:
            conn.close()

    def _retrying(self, doing: str, fn: Any) -> Any:
        for attempt in range(_RETRIES):
            try:
                with self._write(doing) as conn:
                    return fn(conn)
            except sa.exc.DBAPIError as exc:
                if attempt + 1 < _RETRIES and _retryable(exc):
                    _time.sleep(random.uniform(0.002, 0.02) * (attempt + 1))
                    continue
                raise _db_error(exc, doing) from None
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def _read(self, doing: str) -> Iterator[sa.Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, doing) from None

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

    def _prepare(self, ev: ConsentEvent, now: int) -> Event:
        try:
            if not isinstance(ev, ConsentEvent):
                raise ConsentError(f"expected a ConsentEvent, got {type(ev).__name__}")
            kind = ev.kind
            if kind not in KINDS:
                raise ConsentError(f"unknown event '{str(kind)[:30]}' (known: "
                                   f"{', '.join(KINDS)})")
            subject = check_subject(ev.subject)
            purpose_def = self._purpose(ev.purpose, granting=kind in ("granted", "renewed"))
            channel = check_channel(ev.channel, kind)
            collector = check_text(ev.collector, "collector")
            if not collector:
                raise ConsentError("collector is missing: who or what recorded the event")
            action = check_action(ev.action, kind)
            evidence = check_evidence(ev.evidence)
            t = now if ev.time is None else as_time(ev.time)
            assert t is not None
            if t > now:
                raise ConsentError(f"event time {format_us(t)} is in the future (now "
                                   f"{format_us(now)})")
            expires = as_time(ev.expires, "expiry")
            if expires is not None:
                if kind not in ("granted", "renewed"):
                    raise ConsentError(f"only grants and renewals carry an expiry, not a {kind} "
                                       "event")
                if expires <= t:
                    raise ConsentError(f"expiry {format_us(expires)} is not after the event time "
                                       f"{format_us(t)}")
            version = check_version(ev.notice_version) if ev.notice_version else None
            age = check_age(ev.age)
            guardian = check_text(ev.guardian, "guardian", 256)
            minor: bool | None = None
            min_age = consent_min_age(purpose_def)
            if kind in ("granted", "renewed"):
                if min_age is not None:
                    if age is None:
                        raise ConsentError(f"purpose '{ev.purpose}' needs the subject's age at "
                                           f"consent (the policy sets consent_min_age "
                                           f"{min_age}, GDPR Art. 8)")
                    minor = age < min_age
                    if minor and not guardian:
                        raise ConsentError(f"the subject is under {min_age}: consent must be "
                                           "given or authorised by the holder of parental "
                                           "responsibility (GDPR Art. 8): record the guardian")
            elif age is not None or guardian is not None:
                raise ConsentError(f"age and guardian belong to grants and renewals, not to a "
                                   f"{kind} event")
            event_id = check_event_id(ev.event_id) if ev.event_id else uuid.uuid4().hex
            source = check_text(ev.source, "source", 512)
        except ConsentError as exc:
            source = getattr(ev, "source", None)
            if source and exc.where != source:  # the row beats the policy file as the place
                raise ConsentError(exc.message, where=source) from None
            raise
        return Event(event_id=event_id, subject=subject, purpose=ev.purpose, kind=kind,
                     time_us=t, channel=channel, collector=collector, notice_version=version,
                     action=action, evidence=evidence, expires_us=expires, age=age, minor=minor,
                     guardian=guardian, source=source, recorded_us=now)

    def append(self, events: Iterable[ConsentEvent]) -> list[Event]:
        """Append events in one transaction (all or nothing); returns them as stored.

        Refused, with the ledger unchanged: an unknown purpose, a grant without an explicit
        action, a time in the future, a repeated event id, a withdrawal, renewal or expiry without
        a prior grant, a backdated event that would make a stored one invalid.
        """
        now = now_us()
        prepared = [self._prepare(e, now) for e in events]
        if not prepared:
            return []
        seen: dict[str, Event] = {}
        for ev in prepared:
            first = seen.get(ev.event_id)
            if first is not None:
                also = f" (first at {first.source})" if first.source else ""
                raise ConsentError(f"duplicate event id '{ev.event_id}'{also}", where=ev.source)
            seen[ev.event_id] = ev
        stored: list[Event] = self._retrying("appending consent events",
                                             lambda conn: self._append_in(conn, prepared))
        self._audit(stored)
        return stored

    def _audit(self, events: list[Event]) -> None:
        """Consent changes go to the audit log too, subjects as keyed pseudonyms only."""
        from veil.audit.event import AuditEvent
        from veil.audit.log import AuditLog

        groups: dict[tuple[str, str, str], list[Event]] = defaultdict(list)
        for e in events:
            groups[(e.purpose, e.kind, e.collector)].append(e)
        now = datetime.now(UTC)
        audit = []
        for (purpose, kind, collector), evs in groups.items():
            for i in range(0, len(evs), _AUDIT_SUBJECTS):
                part = evs[i:i + _AUDIT_SUBJECTS]
                audit.append(AuditEvent(
                    time=now, actor=collector[:128] or "unknown", action=f"consent.{kind}",
                    purpose=purpose, legal_basis="consent", outcome="success",
                    counts={"events": len(part)},
                    subjects=sorted({f"consent:{self.ref.token(e.subject)}" for e in part}),
                    details={"channels": ",".join(sorted({e.channel for e in part}))[:500]}))
        if audit:
            AuditLog(self.workspace).append(audit)

    def _append_in(self, conn: sa.Connection, events: list[Event]) -> list[Event]:
        ev_t, st_t = consent_events.c, consent_state.c
        # 1. event ids already stored
        by_id = {e.event_id: e for e in events}
        ids = list(by_id)
        for i in range(0, len(ids), _CHUNK):
            found = conn.execute(sa.select(ev_t.event_id).where(
                ev_t.event_id.in_(ids[i:i + _CHUNK]))).scalars().all()
            if found:
                order = {e.event_id: i for i, e in enumerate(events)}
                dup = by_id[min(found, key=order.__getitem__)]
                raise ConsentError(f"duplicate event id '{dup.event_id}': the ledger already "
                                   "has an event with this id", where=dup.source)
        # 2. notice versions
        notices = self._notices_in(conn, {e.purpose for e in events})
        events = [self._resolve_notice(e, notices.get(e.purpose, [])) for e in events]
        # 3. current states of the keys, locked
        keys: dict[tuple[str, str], list[Event]] = defaultdict(list)
        for e in events:
            keys[(e.purpose, e.subject)].append(e)
        states = self._lock_states(conn, keys)
        # 4. validate the sequences and compute the new states
        new_states: dict[tuple[str, str], State] = {}
        for key, evs in keys.items():
            evs.sort(key=lambda e: e.time_us)  # stable: same-time events keep batch order
            old = states.get(key)
            if old is None or evs[0].time_us >= old.time_us:
                status = old.status if old else None
                for e in evs:
                    why = transition(status, e.kind)
                    if why:
                        raise ConsentError(f"{why} ({self.ref(e.subject)}, purpose "
                                           f"'{e.purpose}', {format_us(e.time_us)})",
                                           where=e.source)
                    status = STATUS_AFTER[e.kind]
                new = state_after(evs[-1])
            else:
                new = self._refold(conn, key, evs)
            if new != old:
                new_states[key] = new
        # 5. write: events, then states
        _insert(conn, consent_events, EVENT_COLUMNS, [e.values() for e in events])
        ordered = sorted(new_states.items())  # one lock order for every writer
        inserts = [(k[0], k[1], *s.values()) for k, s in ordered if k not in states]
        updates = [{"k_purpose": k[0], "k_subject": k[1], **s.row()}
                   for k, s in ordered if k in states]
        if inserts:
            _insert(conn, consent_state, ("purpose", "subject", *STATE_COLUMNS), inserts)
        if updates:
            conn.execute(
                consent_state.update()
                .where(st_t.purpose == sa.bindparam("k_purpose"),
                       st_t.subject == sa.bindparam("k_subject"))
                .values({c: sa.bindparam(c) for c in State.__dataclass_fields__}),
                updates,
            )
        return events

    def _lock_states(self, conn: sa.Connection,
                     keys: dict[tuple[str, str], list[Event]]) -> dict[tuple[str, str], State]:
        st_t = consent_state.c
        by_purpose: dict[str, list[str]] = defaultdict(list)
        for purpose, subject in keys:
            by_purpose[purpose].append(subject)
        lock = conn.dialect.name != "sqlite"
        states: dict[tuple[str, str], State] = {}
        for purpose in sorted(by_purpose):
            subjects = sorted(by_purpose[purpose])
            for i in range(0, len(subjects), _CHUNK):
                q = (sa.select(st_t.subject, st_t.status, st_t.time_us, st_t.event_id,
                               st_t.expires_us, st_t.notice_version, st_t.notice_seq,
                               st_t.minor)
                     .where(st_t.purpose == purpose, st_t.subject.in_(subjects[i:i + _CHUNK]))
                     .order_by(st_t.subject))
                if lock:
                    q = q.with_for_update()
                for r in conn.execute(q):
                    states[(purpose, r.subject)] = State(
                        r.status, r.time_us, r.event_id, r.expires_us, r.notice_version,
                        r.notice_seq, r.minor)
        return states

    def _refold(self, conn: sa.Connection, key: tuple[str, str], new: list[Event]) -> State:
        """A backdated event: re-check the whole history of the key with it in place."""
        purpose, subject = key
        e_t = consent_events.c
        t0 = min(e.time_us for e in new)
        same_key = sa.and_(e_t.purpose == purpose, e_t.subject == subject)
        # Only the events from t0 on can change, plus the one before t0 that sets the scene.
        stored = [_event_from_row(r) for r in conn.execute(
            sa.select(consent_events).where(same_key, e_t.time_us >= t0))]
        before = conn.execute(sa.select(consent_events).where(same_key, e_t.time_us < t0)
                              .order_by(e_t.time_us.desc(), e_t.seq.desc()).limit(1)).first()
        pending = [replace(e, seq=_FAR + i) for i, e in enumerate(new)]
        status: str | None = None
        last: Event | None = None
        if before is not None:
            last = _event_from_row(before)
            status = state_after(last).status
        for e in sorted(stored + pending, key=lambda x: (x.time_us, x.seq)):
            why = transition(status, e.kind)
            if why:
                if e.seq >= _FAR:
                    raise ConsentError(f"{why} ({self.ref(subject)}, purpose '{purpose}', "
                                       f"{format_us(e.time_us)})", where=e.source)
                culprit = next(p for p in pending if p.time_us <= e.time_us)
                raise ConsentError(
                    f"this backdated event would make the stored event '{e.event_id}' "
                    f"({e.kind} at {format_us(e.time_us)}) a {why} ({self.ref(subject)}, "
                    f"purpose '{purpose}')", where=culprit.source)
            status = STATUS_AFTER[e.kind]
            last = e
        assert last is not None
        return state_after(last)

    # ------------------------------------------------------------------ notices

    def _notices_in(self, conn: sa.Connection, purposes: Iterable[str]) -> dict[str, list[Notice]]:
        n = consent_notices.c
        out: dict[str, list[Notice]] = defaultdict(list)
        ps = sorted(set(purposes))
        if not ps:
            return out
        rows = conn.execute(
            sa.select(n.purpose, n.version, n.seq, n.sha256, n.effective_us, n.reconsent,
                      n.created_us, n.created_by)
            .where(n.purpose.in_(ps)).order_by(n.purpose, n.seq))
        for r in rows:
            out[r.purpose].append(Notice(r.purpose, r.version, r.seq, r.sha256, r.effective_us,
                                         bool(r.reconsent), r.created_us, r.created_by))
        return out

    def _resolve_notice(self, e: Event, notices: list[Notice]) -> Event:
        if e.kind not in ("granted", "renewed"):
            if e.notice_version and notices and not any(
                    x.version == e.notice_version for x in notices):
                raise ConsentError(f"unknown notice version '{e.notice_version}' of purpose "
                                   f"'{e.purpose}'", where=e.source)
            return e
        if e.notice_version:
            if not notices:
                return e  # no notices in the store for this purpose: kept as given
            match = next((x for x in notices if x.version == e.notice_version), None)
            if match is None:
                known = ", ".join(x.version for x in notices)
                raise ConsentError(f"unknown notice version '{e.notice_version}' of purpose "
                                   f"'{e.purpose}' (known: {known})", where=e.source)
            if match.effective_us > e.time_us:
                raise ConsentError(f"notice '{match.version}' of purpose '{e.purpose}' takes "
                                   f"effect at {format_us(match.effective_us)}, after the event "
                                   f"({format_us(e.time_us)})", where=e.source)
            return replace(e, notice_seq=match.seq)
        current = [x for x in notices if x.effective_us <= e.time_us]
        if not current:
            raise ConsentError(
                f"which notice was the subject shown? purpose '{e.purpose}' has no notice in "
                f"effect at {format_us(e.time_us)}: give the notice version, or add the notice "
                "with `veil consent notice add`", where=e.source)
        return replace(e, notice_version=current[-1].version, notice_seq=current[-1].seq)

    def add_notice(self, purpose: str, version: str, text: str, *, created_by: str,
                   effective: datetime | str | None = None, reconsent: bool = False) -> Notice:
        """Store a new version of a purpose's notice text.

        With ``reconsent``, consents given under earlier versions stop being valid at
        ``effective`` (default now): the subjects must consent again to the new text.
        """
        import hashlib

        self._purpose(purpose, granting=True)
        check_version(version)
        by = check_text(created_by, "created_by")
        if not by:
            raise ConsentError("created_by is missing: who added the notice")
        if not isinstance(text, str) or not text.strip():
            raise ConsentError(f"notice '{version}' of purpose '{purpose}' has no text")
        data = text.encode("utf-8")
        if len(data) > MAX_NOTICE:
            raise ConsentError(f"notice text is larger than {MAX_NOTICE} bytes")
        now = now_us()
        eff = now if effective is None else as_time(effective, "effective time")
        assert eff is not None
        digest = hashlib.sha256(data).hexdigest()

        def add(conn: sa.Connection) -> Notice:
            existing = self._notices_in(conn, [purpose]).get(purpose, [])
            if any(x.version == version for x in existing):
                raise ConsentError(f"purpose '{purpose}' already has notice version '{version}' "
                                   "(notice texts are never changed: add a new version)")
            if existing and eff < existing[-1].effective_us:
                raise ConsentError(f"notice '{version}' would take effect at {format_us(eff)}, "
                                   f"before the latest notice '{existing[-1].version}' "
                                   f"({format_us(existing[-1].effective_us)})")
            seq = existing[-1].seq + 1 if existing else 1
            notice = Notice(purpose, version, seq, digest, eff, reconsent, now, by, text)
            conn.execute(consent_notices.insert().values(
                purpose=purpose, version=version, seq=seq, text=text, sha256=digest,
                effective_us=eff, reconsent=reconsent, created_us=now, created_by=by))
            return notice

        return self._retrying("adding a consent notice", add)  # type: ignore[no-any-return]

    def notices(self, purpose: str, *, with_text: bool = False) -> list[Notice]:
        """The notice versions of a purpose, oldest first."""
        check_purpose_id(purpose)
        n = consent_notices.c
        with self._read("reading consent notices") as conn:
            rows = conn.execute(sa.select(consent_notices).where(n.purpose == purpose)
                                .order_by(n.seq)).all()
        return [Notice(r.purpose, r.version, r.seq, r.sha256, r.effective_us, bool(r.reconsent),
                       r.created_us, r.created_by, r.text if with_text else None) for r in rows]

    def _required_seq(self, conn: sa.Connection, purpose: str, at_us: int,
                      notice_version: str | None) -> int | None:
        n = consent_notices.c
        req = conn.execute(sa.select(sa.func.max(n.seq)).where(
            n.purpose == purpose, n.reconsent.is_(True), n.effective_us <= at_us)).scalar()
        if notice_version is not None:
            seq = conn.execute(sa.select(n.seq).where(
                n.purpose == purpose, n.version == check_version(notice_version))).scalar()
            if seq is None:
                raise ConsentError(f"unknown notice version '{notice_version}' of purpose "
                                   f"'{purpose}'")
            req = max(req or 0, seq)
        return req

    # ------------------------------------------------------------------ single checks

    _CUR = None  # compiled lazily (class-level cache of the statements)

    @staticmethod
    def check_statements() -> tuple[sa.Select[Any], sa.Select[Any]]:
        """The two compiled queries of a single check (current state; state as of a time),
        public so that a caller with its own connection (the service's hot path) runs the
        same SQL."""
        if Ledger._CUR is None:
            s, e, n = consent_state.c, consent_events.c, consent_notices.c
            req = (sa.select(sa.func.max(n.seq))
                   .where(n.purpose == sa.bindparam("p"), n.reconsent.is_(True),
                          n.effective_us <= sa.bindparam("at"))
                   .scalar_subquery())
            current = (sa.select(s.status, s.time_us, s.event_id, s.expires_us,
                                 s.notice_version, s.notice_seq, s.minor, req.label("req"))
                       .where(s.purpose == sa.bindparam("p"), s.subject == sa.bindparam("s")))
            as_of = (sa.select(e.kind, e.time_us, e.event_id, e.expires_us, e.notice_version,
                               e.notice_seq, e.minor, req.label("req"))
                     .where(e.purpose == sa.bindparam("p"), e.subject == sa.bindparam("s"),
                            e.time_us <= sa.bindparam("at"))
                     .order_by(e.time_us.desc(), e.seq.desc()).limit(1))
            Ledger._CUR = (current, as_of)  # type: ignore[assignment]
        return Ledger._CUR  # type: ignore[return-value]

    def check_arguments(self, subject: str, purpose: str,
                    at: datetime | str | int | None) -> tuple[int, bool]:
        """Validate a check's arguments: (time in µs, whether it is an as-of check)."""
        check_subject(subject)
        self._purpose(purpose)
        if at is None:
            return now_us(), False
        at_us = as_time(at, "check time")
        assert at_us is not None
        return at_us, True

    def status_from_row(self, subject: str, purpose: str, at_us: int, row: Any,
                extra_req: int | None) -> ConsentStatus:
        """Judge one state row (from `check_statements`) with the ledger's rules."""
        state: State | None = None
        req = None
        if row is not None:
            status = {"renewed": "granted"}.get(row[0], row[0])
            granted = status == "granted"
            state = State(status, row.time_us, row.event_id,
                          row.expires_us if granted else None,
                          row.notice_version if granted else None,
                          row.notice_seq if granted else None,
                          (None if row.minor is None else bool(row.minor)) if granted else None)
            req = row.req
        if extra_req is not None:
            req = max(req or 0, extra_req)
        code = code_at(state, at_us, req)
        return ConsentStatus(
            subject_ref=self.ref(subject), purpose=purpose, at=from_us(at_us), valid=code == OK,
            reason=REASONS[code], status=state.status if state else None,
            since=from_us(state.time_us) if state else None,
            expires=(from_us(state.expires_us) if state and state.expires_us is not None
                     else None),
            notice_version=state.notice_version if state else None,
            minor=state.minor if state else None, event_id=state.event_id if state else None,
            required_notice=req)

    def _notice_seq(self, conn: sa.Connection, purpose: str, version: str | None) -> int | None:
        if version is None:
            return None
        n = consent_notices.c
        seq = conn.execute(sa.select(n.seq).where(n.purpose == purpose,
                                                  n.version == check_version(version))).scalar()
        if seq is None:
            raise ConsentError(f"unknown notice version '{version}' of purpose '{purpose}'")
        return int(seq)

    def check(self, subject: str, purpose: str, at: datetime | str | int | None = None, *,
              notice_version: str | None = None) -> ConsentStatus:
        """Does `subject` hold valid consent to `purpose` now (or at the past time `at`)?

        Valid means: granted or renewed, not withdrawn, not expired at that time, and given
        under a notice version no older than the latest one that required re-consent (and no
        older than ``notice_version`` when given). A subject the ledger does not know has
        "no consent".
        """
        at_us, as_of = self.check_arguments(subject, purpose, at)
        current, past = self.check_statements()
        with self._read("checking consent") as conn:
            row = conn.execute(past if as_of else current,
                               {"p": purpose, "s": subject, "at": at_us}).first()
            extra = self._notice_seq(conn, purpose, notice_version)
        return self.status_from_row(subject, purpose, at_us, row, extra)

    # ------------------------------------------------------------------ async

    def _async_engine(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._aengine is not None and self._aloop is loop:
            return self._aengine
        from sqlalchemy.ext.asyncio import create_async_engine

        url = sa.make_url(self.workspace.database_url)
        backend = url.get_backend_name()
        if backend == "sqlite":
            try:
                import aiosqlite  # noqa: F401
            except ImportError:
                raise StoreError("async checks on SQLite need the aiosqlite package "
                                 "(pip install aiosqlite)") from None
            url = url.set(drivername="sqlite+aiosqlite")
        elif backend == "postgresql":
            url = url.set(drivername="postgresql+psycopg")
        else:
            raise StoreError(f"no async driver for {backend} databases")
        try:
            self._aengine = create_async_engine(url)
        except ImportError as exc:
            raise StoreError(f"async checks need SQLAlchemy's asyncio extension: {exc}") from None
        self._aloop = loop
        return self._aengine

    async def acheck(self, subject: str, purpose: str, at: datetime | str | int | None = None, *,
                     notice_version: str | None = None) -> ConsentStatus:
        """:meth:`check` on an async driver (aiosqlite or psycopg's async mode)."""
        at_us, as_of = self.check_arguments(subject, purpose, at)
        current, past = self.check_statements()
        engine = self._async_engine()
        n = consent_notices.c
        try:
            async with engine.connect() as conn:
                res = await conn.execute(past if as_of else current,
                                         {"p": purpose, "s": subject, "at": at_us})
                row = res.first()
                extra = None
                if notice_version is not None:
                    extra = (await conn.execute(sa.select(n.seq).where(
                        n.purpose == purpose, n.version == check_version(notice_version))
                    )).scalar()
                    if extra is None:
                        raise ConsentError(f"unknown notice version '{notice_version}' of "
                                           f"purpose '{purpose}'")
        except sa.exc.DBAPIError as exc:
            raise _db_error(exc, "checking consent") from None
        return self.status_from_row(subject, purpose, at_us, row, extra)

    async def aclose(self) -> None:
        """Dispose of the async engine (call from the event loop that used it)."""
        if self._aengine is not None:
            await self._aengine.dispose()
            self._aengine = None
            self._aloop = None

    # ------------------------------------------------------------------ bulk

    def snapshot(self, purpose: str, at: datetime | str | int | None = None, *,
                 notice_version: str | None = None) -> ConsentSnapshot:
        """The purpose's consent state at `at` (default now), loaded once for bulk checks."""
        from veil.consent.bulk import load_snapshot

        self._purpose(purpose)
        at_us = now_us() if at is None else as_time(at, "check time")
        assert at_us is not None
        with self._read("loading consent state") as conn:
            req = self._required_seq(conn, purpose, at_us, notice_version)
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
        e = consent_events.c
        q = sa.select(consent_events).where(e.subject == subject)
        if purpose is not None:
            self._purpose(purpose)
            q = q.where(e.purpose == purpose)
        with self._read("reading consent history") as conn:
            rows = conn.execute(q.order_by(e.time_us, e.seq)).all()
        if not rows:
            what = f" for purpose '{purpose}'" if purpose else ""
            raise ConsentError(f"unknown subject: the ledger has no consent events for "
                               f"{self.ref(subject)}{what}")
        return [_event_from_row(r) for r in rows]

    def knows(self, subject: str) -> bool:
        """Whether the ledger holds any event for the subject."""
        check_subject(subject)
        with self._read("reading the consent ledger") as conn:
            return conn.execute(sa.select(consent_events.c.seq).where(
                consent_events.c.subject == subject).limit(1)).first() is not None

    def events(self, *, batch: int = 10_000) -> Iterator[Event]:
        """Every event in append order (streams; for the JSON-lines export)."""
        e = consent_events.c
        last = 0
        while True:
            with self._read("reading the consent ledger") as conn:
                rows = conn.execute(sa.select(consent_events).where(e.seq > last)
                                    .order_by(e.seq).limit(batch)).all()
            if not rows:
                return
            for r in rows:
                yield _event_from_row(r)
            last = rows[-1].seq

    def states(self, purpose: str) -> dict[str, State]:
        """The materialized state of every subject of a purpose (for tests and tools)."""
        s = consent_state.c
        with self._read("reading consent state") as conn:
            rows = conn.execute(sa.select(consent_state).where(s.purpose == purpose)).all()
        return {r.subject: State(r.status, r.time_us, r.event_id, r.expires_us,
                                 r.notice_version, r.notice_seq, r.minor) for r in rows}

    def count(self) -> int:
        with self._read("reading the consent ledger") as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(consent_events))
                       .scalar() or 0)


def _insert(conn: sa.Connection, table: sa.Table, columns: Sequence[str],
            rows: list[tuple[Any, ...]]) -> None:
    """A plain DBAPI executemany: SQLAlchemy's per-row parameter work would cost more than the
    inserts themselves on this hot path (the values are plain ints, strings, bools, None)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "
           f"VALUES ({', '.join([mark] * len(columns))})")
    conn.exec_driver_sql(sql, rows)  # type: ignore[arg-type]


def _event_from_row(r: Any) -> Event:
    return Event(event_id=r.event_id, subject=r.subject, purpose=r.purpose, kind=r.kind,
                 time_us=r.time_us, channel=r.channel, collector=r.collector,
                 notice_version=r.notice_version, notice_seq=r.notice_seq, action=r.action,
                 evidence=r.evidence, expires_us=r.expires_us, age=r.age,
                 minor=None if r.minor is None else bool(r.minor), guardian=r.guardian,
                 source=r.source, recorded_us=r.recorded_us, seq=r.seq)


__all__ = ["Ledger", "consent_min_age"]
