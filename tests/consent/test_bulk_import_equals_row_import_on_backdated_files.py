"""The bulk import (`import_csv`) and the row-by-row import (`import_rows`) leave the same
``consent_events``, ``consent_state`` and audit events, and report the same (or refuse with the
same error), for random small files of grants, renewals, withdrawals and expiries imported on
top of an earlier file: events older than the stored state (backdated), repeated rows and
repeated grants, cut in chunks of one, two or three rows. A file whose events are all older
than the stored states changes no state: the bulk import used to fail on the empty write."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.consent.test_import_bulk import _ledgers, _prepare, _ref_workspace, _stored, _write
from veil.consent.interchange import import_csv, import_rows
from veil.errors import ConsentError

T0 = datetime(2025, 3, 1, tzinfo=UTC)
_run = itertools.count()

ROW = st.tuples(st.integers(0, 1),  # subject
                st.sampled_from(["granted", "granted", "granted", "renewed", "withdrawn",
                                 "expired"]),
                st.integers(0, 12),  # hours after T0
                st.booleans())  # a grant with an expiry
FILE = st.lists(ROW, min_size=1, max_size=6)  # not unique: a repeated row is a duplicate id


def _row(prefix: str, s: int, kind: str, hour: int, lapse: bool) -> list[str]:
    """A row of test_import_bulk's HEADER."""
    t = T0 + timedelta(hours=hour)
    giving = kind in ("granted", "renewed")
    expires = (t + timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%SZ") if lapse else ""
    return [f"{prefix}-{s}", "offers", kind, t.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "system" if kind == "expired" else "app", "clicked 'I agree'" if giving else "",
            "", "", "", expires if giving else "", "", "", ""]


def _outcome(fn, ledger, path: Path, chunk: int) -> tuple:
    """What an import reports (its own path and "now" left out), or the error it raises."""
    try:
        rep = fn(ledger, path, collector="importer", chunk=chunk).to_json()
    except ConsentError as exc:
        return "refused", re.sub(r"\(now [^)]*\)", "(now)", exc.message), exc.where
    rep.pop("file")
    return "imported", rep


@pytest.fixture
def ledgers(workspace, tmp_path: Path, request):
    """The bulk import's ledger (each test database) and the row import's (SQLite), with the
    same notices and key, shared by a test's examples (each writes its own subjects)."""
    ref_ws = _ref_workspace(request, tmp_path / "ref")
    _prepare(workspace, ref_ws)
    yield _ledgers(workspace, ref_ws)
    ref_ws.close()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=FILE, second=FILE, chunk=st.sampled_from([1, 2, 3, 50_000]))
@example(first=[(0, "granted", 9, False), (0, "withdrawn", 11, False)],
         second=[(0, "granted", 10, False)], chunk=50_000)  # changes no state
@example(first=[(0, "granted", 9, False), (1, "granted", 9, False)],
         second=[(0, "granted", 8, False), (1, "granted", 11, False), (1, "renewed", 7, False)],
         chunk=1)  # chunks with and without a state to write
def test_bulk_import_stores_what_the_row_import_stores(ledgers, tmp_path: Path, first, second,
                                                       chunk: int) -> None:
    new, old = ledgers
    n = next(_run)
    prefix = f"P{n}"  # each example its own subjects in the shared ledgers
    for i, rows in enumerate((first, second)):
        path = _write(tmp_path / f"{n}-{i}.csv", [_row(prefix, *r) for r in rows])
        got = _outcome(import_csv, new, path, chunk)
        want = _outcome(import_rows, old, path, chunk)
        assert got == want
        assert _kept(new) == _kept(old)


def _kept(ledger) -> tuple[list, list, list]:
    """The stored events (in append order, without ``seq``: a PostgreSQL sequence keeps the
    numbers a refused import took), the states and the audit events."""
    events, states, audit = _stored(ledger)
    return [e[1:] for e in events], states, audit
