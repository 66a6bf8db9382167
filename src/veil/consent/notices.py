"""The versioned notice texts of each purpose (``consent_notices``).

A grant or renewal names the notice the subject was shown (or gets the one in effect at its
time); a notice added with ``reconsent`` makes consents given under earlier versions invalid from
its effective time. Notice texts are never changed: a new text is a new version.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

import sqlalchemy as sa

from veil.consent.models import (
    Event,
    Notice,
    as_time,
    check_text,
    check_version,
    format_us,
    now_us,
)
from veil.consent.validation import GIVING
from veil.errors import ConsentError
from veil.store.schema import consent_notices
from veil.store.transactions import read_connection, retrying

__all__ = ["MAX_NOTICE", "NoticeText", "add_notice", "notice_seq", "notices_in", "read_notices",
           "required_seq", "resolve_notice"]

MAX_NOTICE = 1 << 20


@dataclass(frozen=True)
class NoticeText:
    """A notice version as given, checked, before it is stored."""

    purpose: str
    version: str
    text: str
    sha256: str
    effective_us: int
    reconsent: bool
    created_us: int
    created_by: str

    @classmethod
    def checked(cls, purpose: str, version: str, text: str, *, created_by: str,
                effective: datetime | str | None, reconsent: bool) -> NoticeText:
        """Refuses a missing author, an empty text or one over ``MAX_NOTICE`` bytes."""
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
        return cls(purpose, version, text, hashlib.sha256(data).hexdigest(), eff, reconsent,
                   now, by)


def add_notice(engine: sa.Engine, new: NoticeText) -> Notice:
    """Store a new notice version after the purpose's latest one (never before it, never a
    version twice)."""

    def add(conn: sa.Connection) -> Notice:
        existing = notices_in(conn, [new.purpose]).get(new.purpose, [])
        if any(x.version == new.version for x in existing):
            raise ConsentError(f"purpose '{new.purpose}' already has notice version "
                               f"'{new.version}' (notice texts are never changed: add a new "
                               "version)")
        if existing and new.effective_us < existing[-1].effective_us:
            raise ConsentError(f"notice '{new.version}' would take effect at "
                               f"{format_us(new.effective_us)}, before the latest notice "
                               f"'{existing[-1].version}' "
                               f"({format_us(existing[-1].effective_us)})")
        seq = existing[-1].seq + 1 if existing else 1
        conn.execute(consent_notices.insert().values(
            purpose=new.purpose, version=new.version, seq=seq, text=new.text,
            sha256=new.sha256, effective_us=new.effective_us, reconsent=new.reconsent,
            created_us=new.created_us, created_by=new.created_by))
        return Notice(new.purpose, new.version, seq, new.sha256, new.effective_us,
                      new.reconsent, new.created_us, new.created_by, new.text)

    return retrying(engine, "adding a consent notice", add)


def read_notices(engine: sa.Engine, purpose: str, *, with_text: bool = False) -> list[Notice]:
    """The notice versions of a purpose, oldest first."""
    n = consent_notices.c
    with read_connection(engine, "reading consent notices") as conn:
        rows = conn.execute(sa.select(consent_notices).where(n.purpose == purpose)
                            .order_by(n.seq)).all()
    return [Notice(r.purpose, r.version, r.seq, r.sha256, r.effective_us, bool(r.reconsent),
                   r.created_us, r.created_by, r.text if with_text else None) for r in rows]


def notices_in(conn: sa.Connection, purposes: Iterable[str]) -> dict[str, list[Notice]]:
    """The notices (without text) of each purpose, oldest first."""
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


def resolve_notice(e: Event, notices: list[Notice]) -> Event:
    """The event with the notice it was given under (its sequence number filled in)."""
    if e.kind not in GIVING:
        if e.notice_version and notices and not any(
                x.version == e.notice_version for x in notices):
            raise ConsentError(f"unknown notice version of purpose '{e.purpose}' (known: "
                               f"{', '.join(x.version for x in notices)})", where=e.source)
        return e
    if e.notice_version:
        return _named_notice(e, notices)
    current = [x for x in notices if x.effective_us <= e.time_us]
    if not current:
        raise ConsentError(
            f"which notice was the subject shown? purpose '{e.purpose}' has no notice in "
            f"effect at {format_us(e.time_us)}: give the notice version, or add the notice "
            "with `veil consent notice add`", where=e.source)
    return replace(e, notice_version=current[-1].version, notice_seq=current[-1].seq)


def _named_notice(e: Event, notices: list[Notice]) -> Event:
    """A grant naming its notice: the notice must exist and be in effect at the event."""
    if not notices:
        return e  # no notices in the store for this purpose: kept as given
    match = next((x for x in notices if x.version == e.notice_version), None)
    if match is None:
        known = ", ".join(x.version for x in notices)
        raise ConsentError(f"unknown notice version of purpose '{e.purpose}' (known: {known})",
                           where=e.source)
    if match.effective_us > e.time_us:
        raise ConsentError(f"notice '{match.version}' of purpose '{e.purpose}' takes "
                           f"effect at {format_us(match.effective_us)}, after the event "
                           f"({format_us(e.time_us)})", where=e.source)
    return replace(e, notice_seq=match.seq)


def notice_seq(conn: sa.Connection, purpose: str, version: str | None) -> int | None:
    """The sequence number of a named notice version (None: no version named)."""
    if version is None:
        return None
    n = consent_notices.c
    seq = conn.execute(sa.select(n.seq).where(n.purpose == purpose,
                                              n.version == check_version(version))).scalar()
    if seq is None:
        raise ConsentError(f"unknown notice version '{version}' of purpose '{purpose}'")
    return int(seq)


def required_seq(conn: sa.Connection, purpose: str, at_us: int,
                 notice_version: str | None) -> int | None:
    """The oldest notice a consent must be given under at ``at_us``: the latest re-consent
    notice in effect, or ``notice_version`` when that is newer."""
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
