"""Importing a stream of events as one all-or-nothing transaction (in one chunk, or in chunks
of three events) leaves the ledger in the state that appending the same events one at a time
(in time order) leaves: later events win, withdrawals and expiries hold, and a stream the
rules refuse is refused whole, with nothing written."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.consent import ConsentEvent
from veil.consent.interchange import import_csv
from veil.errors import ConsentError

T0 = datetime(2024, 6, 1, tzinfo=UTC)
_run = itertools.count()

EVENTS = st.lists(st.tuples(st.integers(0, 3),  # subject
                            st.sampled_from(["granted", "granted", "renewed", "withdrawn",
                                             "expired"]),
                            st.integers(0, 50),  # minutes after T0
                            st.booleans()),  # a grant with an expiry
                  min_size=1, max_size=12, unique=True)  # a repeated row is a duplicate id


def _row(prefix: str, s: int, kind: str, minute: int, lapse: bool) -> dict[str, str]:
    t = T0 + timedelta(minutes=minute)
    row = {"subject": f"{prefix}-{s}", "purpose": "offers", "event": kind,
           "time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "collector": "web-consent",
           "channel": "system" if kind == "expired" else "web_form",
           "action": "clicked 'I agree'" if kind in ("granted", "renewed") else "",
           "expires": ((t + timedelta(minutes=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
                       if lapse and kind in ("granted", "renewed") else ""),
           "notice_version": "1" if kind in ("granted", "renewed") else ""}
    return row


def _states(ledger, prefix: str) -> dict[str, tuple]:
    return {k.split("-", 1)[1]: (v.status, v.time_us, v.expires_us, v.notice_seq)
            for k, v in ledger.states("offers").items() if k.startswith(prefix + "-")}


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=EVENTS, chunk=st.sampled_from([50_000, 3]))
def test_one_batch_equals_one_event_at_a_time(ledger, tmp_path: Path, stream, chunk) -> None:
    from veil.consent.interchange import write_csv

    if not ledger.notices("offers"):
        ledger.add_notice("offers", "1", "Offers from your history.", created_by="dpo",
                          effective="2024-01-01T00:00:00Z")
    n = next(_run)
    a, b = f"a{n}", f"b{n}"
    path = tmp_path / f"stream{n}.csv"
    # one chunk takes its events in any order; across chunks a key's events must come in time
    # order (each chunk is checked against the state the earlier ones left, so an earlier event
    # in a later chunk can be refused), so the chunked file is written in time order
    rows = stream if chunk >= len(stream) else sorted(stream, key=lambda e: e[2])
    write_csv([_row(a, *e) for e in rows], path)
    before = ledger.count()
    try:
        import_csv(ledger, path, chunk=chunk)  # chunk 3: a key's events span chunks
        batch_ok = True
    except ConsentError as exc:
        batch_ok = False
        assert exc.where and exc.where.startswith(path.name + ":")
        assert ledger.count() == before and not _states(ledger, a)  # nothing written
    one_ok = True
    for s, kind, minute, lapse in sorted(stream, key=lambda e: e[2]):
        r = _row(b, s, kind, minute, lapse)
        try:
            ledger.append([ConsentEvent(
                r["subject"], "offers", kind, r["channel"], r["collector"], r["time"],
                r["notice_version"] or None, r["action"] or None, None, r["expires"] or None)])
        except ConsentError:
            one_ok = False
    assert batch_ok == one_ok
    if batch_ok:
        assert _states(ledger, a) == _states(ledger, b)
        at = T0 + timedelta(minutes=30)
        for s in range(4):
            assert (ledger.check(f"{a}-{s}", "offers", at).reason
                    == ledger.check(f"{b}-{s}", "offers", at).reason)
