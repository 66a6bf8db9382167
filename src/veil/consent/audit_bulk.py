"""The audit events of an imported chunk, built from its columns: the events
:func:`~veil.consent.audit_trail.consent_audit_events` builds from the same rows (one per
(purpose, kind, collector), in the order of their first rows, and up to ``SUBJECTS_PER_EVENT``
subjects, each by keyed pseudonym), with one HMAC per distinct subject."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any

from veil.consent.audit_trail import SUBJECTS_PER_EVENT

if TYPE_CHECKING:
    from veil.audit.event import AuditEvent
    from veil.consent.models import SubjectRef

__all__ = ["audit_events"]


def audit_events(ref: SubjectRef, cols: dict[str, list[Any]]) -> list[AuditEvent]:
    """The audit events that record the stored rows ``cols`` (see the module docstring)."""
    from veil.audit.event import AuditEvent

    keys = list(zip(cols["purpose"], cols["kind"], cols["collector"], strict=True))
    groups: dict[tuple[str, str, str], Sequence[int]] = {}
    if len(set(keys)) == 1:
        groups[keys[0]] = range(len(keys))  # one group: the common import
    else:
        for i, g in enumerate(keys):
            got = groups.get(g)
            if got is None:
                groups[g] = [i]
            else:
                got.append(i)  # type: ignore[attr-defined]
    key = ref.key()
    subject, channel = cols["subject"], cols["channel"]
    distinct = list(set(subject))
    data = map(partial(str.encode, encoding="utf-8", errors="surrogatepass"), distinct)
    tokens = dict(zip(distinct, map("consent:".__add__, map(bytes.hex, map(
        hmac.digest, repeat(key), data, repeat("sha256")))), strict=True))
    now = datetime.now(UTC)
    out = []
    for (purpose, kind, collector), rows in groups.items():
        for lo in range(0, len(rows), SUBJECTS_PER_EVENT):
            part = rows[lo:lo + SUBJECTS_PER_EVENT]
            out.append(AuditEvent(
                time=now, actor=collector[:128] or "unknown", action=f"consent.{kind}",
                purpose=purpose, legal_basis="consent", outcome="success",
                counts={"events": len(part)},
                subjects=sorted(set(map(tokens.__getitem__, map(subject.__getitem__, part)))),
                details={"channels": ",".join(sorted(set(map(channel.__getitem__,
                                                             part))))[:500]}))
    return out
