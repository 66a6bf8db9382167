"""The columnar import (`import_csv`) stores what the row-by-row import (`import_rows`) stores,
row for row, state for state, audit event for audit event, on a large varied file (times in
several ISO forms, upper-case events, digests in both forms, expiries, ages and guardians,
given and derived ids, keys with several events and keys already in the ledger, chunks that
split a key's events); and a file with one bad row (first, middle or last) is refused with
the row path's error, naming the same line, with nothing written."""

from __future__ import annotations

import json
import random
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import shared_workspace
from veil.consent import Ledger
from veil.consent.interchange import import_csv, import_rows
from veil.errors import ConsentError
from veil.policy import parse_policy
from veil.store.schema import consent_events, consent_state
from veil.store.workspace import init_workspace

POLICY = """\
version: 1
controller: {name: Test Bank SE, contact: privacy@test-bank.example}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier, email: contact}
purposes:
  offers:
    description: Offers
    legal_basis: consent
    retention: 2 years
    datasets:
      customers: {fields: {customer_id: keep}}
  kids_club:
    description: Club for young customers
    legal_basis: consent
    retention: 1 year
    consent_min_age: 16
    datasets:
      customers: {fields: {email: keep}}
"""
HEADER = ("subject,purpose,event,time,channel,action,notice_version,collector,evidence,expires,"
          "age,guardian,event_id")
TIMES = ("2025-03-01T09:30:00Z", "2025-03-01T10:30:00+01:00", "2025-03-01T09:30:00.25z",
         "2025-02-28T23:30:00-10:00", "2025-03-01 09:30:00+00:00", "2025-03-01T09:30:00.1234567Z",
         "2024-02-29T12:00:00Z", "20250301T093000Z")


def _minute(m: int) -> str:
    return (datetime(2025, 4, 1, tzinfo=UTC) + timedelta(minutes=m)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _grant(rng: random.Random, i: int, subject: str, minute: int) -> list[str]:
    purpose = rng.choice(["offers", "offers", "kids_club"])
    age = guardian = ""
    if purpose == "kids_club":
        age = str(rng.choice([12, 15, 16, 40]))
        guardian = "parent-portal" if int(age) < 16 else rng.choice(["", ""])
    evidence = rng.choice(["", "", "ab" * 32, "SHA256:" + "CD" * 32])
    expires = rng.choice(["", "", "2027-01-01T00:00:00Z"])
    t = rng.choice(TIMES) if minute < 0 else _minute(minute)
    kind = rng.choice(["granted", "granted", "GRANTED", "renewed"] if minute >= 0 else ["granted"])
    return [subject, purpose, kind, t, rng.choice(["web_form", "app", "branch"]),
            rng.choice(["clicked 'I agree'", "ticked the box", "  signed the form  "]),
            rng.choice(["1", "1", ""]), rng.choice(["web", "app", ""]), evidence, expires, age,
            guardian, rng.choice(["", "", "", f"id-{i}"])]


def varied_rows(n: int, seed: int = 5) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        subject = f"C-{i:05d}" if rng.random() < 0.7 else f"K-{rng.randrange(n // 10):04d}"
        if subject.startswith("K-"):  # keys with several events: a grant, later a withdrawal
            grant = _grant(rng, i, subject, 2 * i)
            grant[1], grant[2], grant[10], grant[11] = "offers", "granted", "", ""
            rows.append(grant)
            rows.append([subject, "offers", "withdrawn", _minute(2 * i + 1), "branch", "", "",
                         "branch-1", "", "", "", "", f"w-{i}"])
        else:
            rows.append(_grant(rng, i, subject, -1))
    return rows


def _write(path: Path, rows: list[list[str]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        f.write(HEADER + "\n")
        csv.writer(f, lineterminator="\n").writerows(rows)
    return path


def _ref_workspace(request, root: Path):
    """The row path's SQLite workspace, a copy of the session's migrated template."""
    shutil.copytree(request.getfixturevalue("_sqlite_workspace_template"), root)
    with pytest.MonkeyPatch.context() as m:
        m.delenv("VEIL_DATABASE_URL", raising=False)
        ref_ws, _ = init_workspace(root)
    return ref_ws


def _prepare(workspace, ref_ws) -> None:
    """The same notices and prior grant in both ledgers."""
    for led in _ledgers(workspace, ref_ws):
        for p in ("offers", "kids_club"):
            led.add_notice(p, "1", "Our offers.", created_by="dpo",
                           effective="2024-01-01T00:00:00Z")
        led.grant("K-0001", "offers", channel="app", action="tapped 'I agree'",
                  collector="app", time="2025-01-01T00:00:00Z", event_id="pre-1")


def _ledgers(workspace, ref_ws) -> tuple[Ledger, Ledger]:
    """The test database's ledger (columnar import) and a SQLite one (the row path), with the
    same subject-reference key (derived event ids and pseudonyms are keyed)."""
    policy = parse_policy(POLICY)
    new, old = Ledger(workspace, policy), Ledger(ref_ws, policy)
    old.ref._key = new.ref.key()
    return new, old


def _stored(ledger: Ledger) -> tuple[list, list, list]:
    from veil.audit.log import AuditLog

    with ledger.engine.connect() as conn:
        events = [tuple(v for k, v in r._mapping.items() if k != "recorded_us")
                  for r in conn.execute(sa.select(consent_events).order_by(consent_events.c.seq))]
        states = [tuple(r) for r in conn.execute(sa.select(consent_state).order_by(
            consent_state.c.purpose, consent_state.c.subject))]
    audit = []
    for e in AuditLog(ledger.workspace).events(action="consent.*"):
        obj = json.loads(e.data)
        obj.pop("time")
        audit.append(obj)
    return events, states, audit


@pytest.mark.parametrize("chunk", [50_000, 97])
def test_columnar_import_stores_what_the_row_path_stores(workspace, tmp_path: Path, request,
                                                         chunk: int) -> None:
    ref_ws = _ref_workspace(request, tmp_path / "ref")
    _prepare(workspace, ref_ws)
    new, old = _ledgers(workspace, ref_ws)
    path = _write(tmp_path / "big.csv", varied_rows(3000))
    a = import_csv(new, path, collector="importer", chunk=chunk)
    b = import_rows(old, path, collector="importer", chunk=chunk)
    assert a == b and a.events > 3000
    got, want = _stored(new), _stored(old)
    assert got[0] == want[0]  # every column of every event, in the same order
    assert got[1] == want[1]
    assert got[2] == want[2]


BAD = [
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "fax", "clicked", "1", "web", "", "",
      "", "", ""], "unknown channel"),
    (["C-X", "offers", "granted", "2999-03-01T09:30:00Z", "app", "clicked", "1", "web", "", "",
      "", "", ""], "in the future"),
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "app", "", "1", "web", "", "", "", "",
      ""], "explicit action"),
    (["C-X", "offers", "granted", "2025-02-30T09:30:00Z", "app", "clicked", "1", "web", "", "",
      "", "", ""], "not an ISO 8601 time"),
    (["C-X", "offers", "withdrawn", "2025-03-01T09:30:00Z", "app", "", "", "web", "", "", "", "",
      ""], "withdrawal without a prior grant"),
    (["C-X", "kids_club", "granted", "2025-03-01T09:30:00Z", "app", "clicked", "1", "web", "",
      "", "12", "", ""], "parental responsibility"),
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "app", "clicked", "1", "web", "beef",
      "", "", "", ""], "evidence must be"),
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "app", "clicked", "1"],
     "expected 13 fields, found 7"),
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "app", "clicked", "7", "web", "", "",
      "", "", ""], "unknown notice version"),
    (["C-X", "offers", "granted", "2025-03-01T09:30:00Z", "app", "clicked", "1", "web", "", "",
      "", "", "id-40"], "duplicate event id"),
]


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def refusing(request, tmp_path_factory):
    """A workspace on each test database and its SQLite reference, prepared once for the grid
    of refused files below: a refused import writes nothing (each case checks both ledgers), so
    the cases share them instead of migrating two workspaces each."""
    base = tmp_path_factory.mktemp("refused")
    with shared_workspace(request, base / "ws", request.param) as ws:
        ref_ws = _ref_workspace(request, base / "ref")
        _prepare(ws, ref_ws)
        yield ws, ref_ws
        ref_ws.close()


_ROWS = varied_rows(400, seed=9)
_ROWS = [r for r in _ROWS if r[-1] != "id-40"] + [_ROWS[0][:12] + ["id-40"]]


@pytest.mark.parametrize("where", ["first", "middle", "last"])
@pytest.mark.parametrize(("bad", "message"), BAD, ids=[m for _, m in BAD])
def test_one_bad_row_refuses_the_file_as_the_row_path_does(refusing, tmp_path: Path, bad,
                                                           message: str, where: str) -> None:
    new, old = _ledgers(*refusing)
    rows = _ROWS
    at = {"first": 0, "middle": len(rows) // 2, "last": len(rows)}[where]
    path = _write(tmp_path / "bad.csv", rows[:at] + [bad] + rows[at:])
    before, before_ref = _stored(new), _stored(old)
    with pytest.raises(ConsentError) as got:
        import_csv(new, path, collector="importer", chunk=150)
    with pytest.raises(ConsentError) as want:
        import_rows(old, path, collector="importer", chunk=150)
    assert message in got.value.message
    def said(e: ConsentError) -> tuple[str, str | None]:
        return re.sub(r"\(now [^)]*\)", "(now)", e.message), e.where  # each import's own now

    assert said(got.value) == said(want.value)
    assert _stored(new) == before  # nothing imported, no audit event
    assert _stored(old) == before_ref  # nor by the row path: the next case starts the same
