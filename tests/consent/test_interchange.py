"""CSV import (all or nothing, errors named by line), ISO/IEC TS 27560 records, JSON lines,
and the demo's synthetic consents."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from veil.consent import Ledger, import_csv, sample_consents, subject_record
from veil.consent.interchange import export_ledger, read_csv, write_csv
from veil.errors import ConsentError

HEADER = "subject,purpose,event,time,channel,action,notice_version,collector,evidence,expires\n"
GOOD = (
    HEADER
    + "CUST-1,offers,granted,2025-03-01T09:30:00Z,web_form,clicked 'I agree',1,web,,\n"
    + "CUST-2,offers,granted,2025-03-02T10:00:00+01:00,app,toggled consent on,1,app,"
      "sha256:" + "cd" * 32 + ",2025-09-01T00:00:00Z\n"
    + "\n"
    + 'CUST-1,offers,withdrawn,2025-06-01T12:00:00Z,branch,"signed the withdrawal form",,'
      "branch-12,,\n"
    + "CUST-1,newsletter,granted,2025-03-01T09:31:00Z,web_form,ticked the newsletter box,1,web,,\n"
)
BAD_LINE = 7  # a row appended to GOOD starts on this line


def write(tmp_path: Path, text: str, name: str = "consents.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, "utf-8")
    return p


def test_import_then_check_history_and_reimport_refused(ledger: Ledger, tmp_path: Path) -> None:
    rep = import_csv(ledger, write(tmp_path, GOOD))
    assert rep.events == 4 and rep.by_event == {"granted": 3, "withdrawn": 1}
    assert rep.subjects == 2 and rep.purposes == ["newsletter", "offers"]
    assert ledger.check("CUST-1", "offers").reason == "consent withdrawn"
    assert ledger.check("CUST-1", "offers", at="2025-05-01T00:00:00Z").valid
    assert ledger.check("CUST-2", "offers").reason == "consent expired"
    assert ledger.check("CUST-1", "newsletter").valid
    hist = ledger.history("CUST-1", "offers")
    assert [e.source for e in hist] == ["consents.csv:2", "consents.csv:5"]  # line numbers
    assert hist[1].action == "signed the withdrawal form" and hist[1].collector == "branch-12"
    # the same file again: derived event ids repeat, so nothing is counted twice
    before = ledger.count()
    with pytest.raises(ConsentError, match="duplicate event id") as info:
        import_csv(ledger, write(tmp_path, GOOD))
    assert info.value.where == "consents.csv:2"
    assert ledger.count() == before


@pytest.mark.parametrize(("row", "message"), [
    ("CUST-9,offers,granted,2025-03-01T09:30:00Z,web_form,clicked 'I agree',1,web\n",
     "expected 10 fields, found 8"),
    ("CUST-9,offers,granted,2025-03-01 09:30,web_form,clicked 'I agree',1,web,,\n",
     "has no UTC offset"),
    ("CUST-9,offers,granted,yesterday,web_form,clicked 'I agree',1,web,,\n",
     "not an ISO 8601 time"),
    ("CUST-9,offers,given,2025-03-01T09:30:00Z,web_form,clicked,1,web,,\n",
     "column 'event' is not one of"),
    (",offers,granted,2025-03-01T09:30:00Z,web_form,clicked 'I agree',1,web,,\n",
     "column 'subject' is empty"),
    ("CUST-9,marketing,granted,2025-03-01T09:30:00Z,web_form,clicked,1,web,,\n",
     r"unknown purpose \(known:"),
    ("CUST-9,scoring,granted,2025-03-01T09:30:00Z,web_form,clicked,1,web,,\n",
     "does not rely on consent"),
    ("CUST-9,offers,granted,2025-03-01T09:30:00Z,web_form,pre-ticked box,1,web,,\n",
     "not an explicit action"),
    ("CUST-9,offers,granted,2099-03-01T09:30:00Z,web_form,clicked yes,1,web,,\n",
     "in the future"),
    ("CUST-9,offers,withdrawn,2025-03-01T09:30:00Z,app,,,app,,\n",
     "withdrawal without a prior grant"),
    ("CUST-2,offers,renewed,2025-01-01T09:30:00Z,app,confirmed,1,app,,\n",
     "renewal without a prior grant"),
    ("CUST-9,offers,granted,2025-03-01T09:30:00Z,web_form,clicked,1,web,md5:00,\n",
     "SHA-256 digest"),
    ('CUST-9,offers,granted,2025-03-01T09:30:00Z,web_form,"two\nlines",1,web,,\n',
     "action must be one line"),
    ('CUST-9,offers,granted,2025-03-01T09:30:00Z,web_form,"clicked\n', "malformed CSV"),
])
def test_malformed_rows_named_by_line_and_nothing_imported(ledger: Ledger, tmp_path: Path,
                                                          row: str, message: str) -> None:
    # the bad row comes after good ones: the good ones must not be imported either
    with pytest.raises(ConsentError, match=message) as info:
        import_csv(ledger, write(tmp_path, GOOD + row, "bad.csv"))
    assert info.value.where == f"bad.csv:{BAD_LINE}" or (
        message == "malformed CSV" and info.value.where.startswith("bad.csv:"))
    assert "CUST-9" not in str(info.value)
    assert ledger.count() == 0


@pytest.mark.parametrize(("text", "message"), [
    ("subject,purpose,event,time,channel,colour\n", "unknown column name in column 6"),
    ("subject,purpose,event,time\n", "missing columns channel, collector"),
    ("subject,purpose,event,time,channel,time\n", "column 'time' appears twice"),
    ("", "empty file"),
])
def test_bad_headers(ledger: Ledger, tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConsentError, match=message) as info:
        import_csv(ledger, write(tmp_path, text, "h.csv"))
    assert info.value.where == "h.csv:1"


def test_duplicate_ids_inside_one_file_name_both_lines(ledger: Ledger, tmp_path: Path) -> None:
    text = ("event_id,subject,purpose,event,time,channel,action,notice_version,collector\n"
            "e1,A,offers,granted,2025-01-01T00:00:00Z,app,tapped yes,1,app\n"
            "e2,B,offers,granted,2025-01-01T00:00:00Z,app,tapped yes,1,app\n"
            "e1,C,offers,granted,2025-01-01T00:00:00Z,app,tapped yes,1,app\n")
    with pytest.raises(ConsentError, match=r"duplicate event id \(first at d.csv:2\)") as i:
        import_csv(ledger, write(tmp_path, text, "d.csv"))
    assert i.value.where == "d.csv:4"
    assert ledger.count() == 0


def test_collector_default_and_missing_file(ledger: Ledger, tmp_path: Path) -> None:
    text = "subject,purpose,event,time,channel,action,notice_version\n" \
           "A,offers,granted,2025-01-01T00:00:00Z,app,tapped yes,1\n"
    import_csv(ledger, write(tmp_path, text), collector="migration-2025")
    assert ledger.history("A")[0].collector == "migration-2025"
    with pytest.raises(ConsentError, match="file not found"):
        import_csv(ledger, tmp_path / "nope.csv")


def test_subject_record_follows_iso_27560_structure(ledger: Ledger, tmp_path: Path,
                                                    policy) -> None:
    ledger.add_notice("offers", "1", "We use your transactions to tailor offers.",
                      created_by="dpo", effective="2025-01-01T00:00:00Z")
    import_csv(ledger, write(tmp_path, GOOD))
    rec = subject_record(ledger, "CUST-1")
    assert rec["conforms_to"].startswith("ISO/IEC TS 27560")
    assert rec["pii_principal_id"] == "CUST-1"
    assert rec["pii_controllers"][0]["pii_controller_name"] == "Test Bank SE"
    by_purpose = {r["processing"]["purposes"][0]["purpose"]: r for r in rec["records"]}
    offers = by_purpose["offers"]
    assert offers["consent_status"] == "withdrawn" and offers["valid_at_export"] is False
    assert offers["record_id"].startswith("urn:uuid:")
    assert offers["processing"]["purposes"][0]["lawful_basis"] == "Art. 6(1)(a) consent"
    assert offers["processing"]["retention_period"] == "2 years"
    assert {c["category"] for c in offers["processing"]["pii_information"]} == {
        "direct_identifier", "income_credit"}
    assert [e["event_type"] for e in offers["events"]] == ["consent_given", "consent_withdrawn"]
    assert offers["events"][0]["event_state"] == "dpv:ConsentGiven"
    assert offers["events"][0]["collection_method"] == "web_form"
    assert offers["events"][0]["event_time"] == "2025-03-01T09:30:00Z"
    assert offers["privacy_notices"][0]["text"].startswith("We use")
    canon = json.dumps(offers["events"], sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False)
    import hashlib

    assert offers["integrity"]["events_sha256"] == hashlib.sha256(canon.encode()).hexdigest()
    assert by_purpose["newsletter"]["consent_status"] == "given"
    with pytest.raises(ConsentError, match="unknown subject"):
        subject_record(ledger, "CUST-404")


def test_ledger_as_json_lines(ledger: Ledger, tmp_path: Path) -> None:
    import_csv(ledger, write(tmp_path, GOOD))
    n = export_ledger(ledger, tmp_path / "ledger.jsonl")
    lines = (tmp_path / "ledger.jsonl").read_text("utf-8").splitlines()
    assert n == len(lines) == 4
    rows = [json.loads(x) for x in lines]
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)
    assert rows[1]["time"] == "2025-03-02T09:00:00Z"  # +01:00 normalized to UTC
    assert rows[1]["expires"] == "2025-09-01T00:00:00Z"
    assert rows[1]["evidence"] == "sha256:" + "cd" * 32
    assert {r["event"] for r in rows} == {"granted", "withdrawn"}


def test_sample_consents_are_deterministic_and_importable(ledger: Ledger,
                                                          tmp_path: Path) -> None:
    ids = [f"CUST-{i:07d}" for i in range(400)]
    rows = sample_consents(ids, seed=3, purpose="offers")
    assert rows == sample_consents(ids, seed=3, purpose="offers")
    assert rows != sample_consents(ids, seed=4, purpose="offers")
    kinds = {r["event"] for r in rows}
    assert kinds == {"granted", "withdrawn", "renewed"}
    write_csv(rows, tmp_path / "sample.csv")
    events = read_csv(tmp_path / "sample.csv")
    assert len(events) == len(rows)
    rep = import_csv(ledger, tmp_path / "sample.csv")
    assert rep.events == len(rows)
    res = ledger.check_many(ids, "offers")
    counts = res.counts()
    assert res.valid > 150 and counts["no consent"] > 60
    assert counts["consent withdrawn"] > 10 and counts["consent expired"] > 5
    assert all(datetime.fromisoformat(r["time"].replace("Z", "+00:00")) <
               datetime(2026, 1, 1, tzinfo=UTC) for r in rows)
