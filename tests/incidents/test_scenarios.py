"""The four breach scenarios end to end, through the Python API and the CLI, on SQLite and
PostgreSQL; plus the bad-input cases and the audit trail."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.incidents.conftest import SUBJECTS
from veil.audit.event import PSEUDONYM_PATTERN
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.errors import InputError
from veil.incidents import Breaches
from veil.lineage import Lineage


def _ago(**kw: float) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat()


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


# -- 1. an exposed encrypted output whose key is safe: documented, not notifiable ----------------

def test_encrypted_output_with_safe_key_is_documented_not_notified(bank, tmp_path) -> None:
    ws, pol, _, scoring = bank
    assert scoring.receipt["output"]["encryption"]  # the premise: encrypted at rest
    reg = Breaches(ws, policy=pol)
    b = reg.open(title="Laptop with the scoring extract stolen", occurred_at=_ago(hours=30),
                 aware_at=_ago(hours=20), nature="confidentiality",
                 outputs=[str(scoring.output)], malicious=True,
                 measures=["Laptop reported stolen to the police"])
    s = b.scope
    assert s["all_unintelligible"] is True
    assert {k: s["subjects"][k] for k in ("count", "exact", "upper_bound", "source")} == \
        {"count": SUBJECTS, "exact": True, "upper_bound": SUBJECTS, "source": "lineage"}
    assert s["records"]["count"] == 10
    # the output's own keyset (issue 18: one per output, destroyed when it is disposed of)
    assert s["items"][0]["key_safe"] is True
    assert s["items"][0]["keyset"] == f"output.{scoring.run_id}"
    b = reg.assess(b.ref)
    a = b.assessment
    assert (b.decision, a["likelihood"], a["ei"]) == ("none", "remote", 0.0)
    assert a["exceptions"][0]["exception"] == "34(3)(a)"
    assert b.clock().state == "not_required"
    # documented: in the register although never notified
    paths = reg.export_register(tmp_path / "reg")
    rows = list(csv.DictReader(paths["csv"].open()))
    assert [(r["id"], r["decision"], r["authority_notified_at"]) for r in rows] == \
        [(b.ref, "none", "")]
    closed = reg.close(b.ref, reason="Key never left the HSM; no notification needed")
    assert closed.status == "closed"


def test_a_recorded_key_export_makes_the_same_output_readable(bank) -> None:
    from veil.keys.manager import KeyManager

    ws, pol, _, scoring = bank
    KeyManager(ws).export(f"output.{scoring.run_id}")  # the output's key left in clear
    b = Breaches(ws, policy=pol).open(
        title="Laptop stolen", occurred_at=_ago(hours=3), aware_at=_ago(hours=2),
        nature="confidentiality", outputs=[scoring.run_id])
    item = b.scope["items"][0]
    assert item["key_safe"] is False and "exported in clear" in item["key_evidence"][0]
    assert b.scope["all_unintelligible"] is False
    b = Breaches(ws, policy=pol).assess(b.ref)
    assert b.decision != "none"  # readable transaction data with pseudonyms


# -- 2. an exposed plaintext export with card data: authority and subjects --------------------

def test_plaintext_card_export_needs_authority_and_subjects(bank, tmp_path) -> None:
    ws, pol, export, _ = bank
    assert export.receipt["output"]["encryption"] is None
    reg = Breaches(ws, policy=pol)
    b = reg.open(title="Collections export in a public bucket", occurred_at=_ago(hours=50),
                 occurred_until=_ago(hours=10), aware_at=_ago(hours=8),
                 nature=["confidentiality"], outputs=["export.parquet"], recipients="public",
                 measures=["Bucket made private", "Cards blocked and reissued"])
    s = b.scope
    assert s["subjects"]["count"] == SUBJECTS and s["subjects"]["exact"]
    assert s["records"]["count"] == 10
    assert s["categories"] == ["card", "direct_identifier", "transaction"]
    assert s["financial"] == ["card", "transaction"] and s["special"] == []
    assert s["items"][0]["identifying_in_clear"] == ["cid", "name", "card"]
    # the subjects in scope are exactly the output's lineage, as pseudonyms
    assert reg.subjects(b.ref) == sorted(Lineage(ws).subjects_of(export.run_id))
    assert all(PSEUDONYM_PATTERN.fullmatch(p) for p in reg.subjects(b.ref))
    b = reg.assess(b.ref)
    a = b.assessment
    assert (a["dpc"], a["ei"], a["likelihood"]) == (3.0, 1.0, "high")
    assert a["severity"] == "high" and b.decision == "authority_and_subjects"
    assert a["subjects_communication"] == "individual"
    assert b.clock().state == "running"
    paths = reg.draft(b.ref, tmp_path / "drafts")
    n = json.loads(paths["authority.json"].read_text())
    assert n["subjects"]["approximate_number"] == SUBJECTS
    assert n["records"]["approximate_number"] == 10
    assert n["contact_point"] == "Data Protection Officer, dpo@bank.example"
    assert n["addressed_to"]["name"] == "HBDI"
    assert "fraudulent card payments with the exposed card numbers" in n["likely_consequences"]
    assert n["measures"][:2] == ["Bucket made private", "Cards blocked and reissued"]
    assert n["missing"] == []
    assert "Check your card statements" in paths["subjects.md"].read_text()
    # close is refused until both notifications are recorded
    with pytest.raises(InputError, match="authority has not been notified"):
        reg.close(b.ref, reason="done")
    reg.notify(b.ref, recipient="authority", phase="initial", reference="HBDI-2026-17",
               content=paths["authority.json"])
    with pytest.raises(InputError, match="subjects have not been told"):
        reg.close(b.ref, reason="done")
    reg.notify(b.ref, recipient="subjects", channel="letter")
    with pytest.raises(InputError, match="authority has only its initial phase"):
        reg.close(b.ref, reason="done")
    reg.notify(b.ref, recipient="authority", phase="final")
    b = reg.close(b.ref, reason="Cards reissued; no misuse seen")
    assert b.clock().state == "notified"
    assert [n["recipient"] for n in b.notifications] == ["authority", "subjects", "authority"]


def test_exception_c_turns_the_communication_public(bank) -> None:
    ws, pol, export, _ = bank
    reg = Breaches(ws, policy=pol)
    b = reg.open(title="Export leaked", occurred_at=_ago(hours=5), aware_at=_ago(hours=4),
                 nature="confidentiality", outputs=[export.run_id[:10]])
    b = reg.assess(b.ref, exceptions={"c": "Most addresses are years out of date"})
    assert b.assessment["subjects_communication"] == "public"
    assert b.assessment["exceptions"][-1] == {
        "exception": "34(3)(c)", "applies_to": "all",
        "reason": "Most addresses are years out of date"}
    b = reg.assess(b.ref, override="authority", reason="Vendor confirmed deletion in 1 hour")
    assert b.decision == "authority" and b.assessment["computed_decision"] == \
        "authority_and_subjects"
    assert b.assessment["override"]["reason"] == "Vendor confirmed deletion in 1 hour"
    with pytest.raises(InputError, match="needs its reason"):
        reg.assess(b.ref, override="none")


# -- 3. a late notification: reasons required ---------------------------------------------------

def test_late_notification_requires_the_reasons(bank, tmp_path) -> None:
    ws, pol, export, _ = bank
    reg = Breaches(ws, policy=pol)
    b = reg.open(title="Vendor incident", occurred_at=_ago(days=6), aware_at=_ago(days=5),
                 nature="confidentiality", outputs=["export.parquet"])
    assert b.clock().state == "overdue"
    assert "OVERDUE by 1 d 23 h" in b.clock().text() or "OVERDUE by 2 d" in b.clock().text()
    with pytest.raises(InputError, match="requires the reasons for the delay") as exc:
        reg.notify(b.ref)
    assert exc.value.where == "delay_reason"
    assert reg.get(b.ref).notifications == []  # nothing recorded
    n = json.loads(reg.draft(b.ref, tmp_path / "d")["authority.json"].read_text())
    assert "reasons for the delay (Art. 33(1): notified after 72 hours)" in n["missing"]
    b = reg.notify(b.ref, phase="initial",
                   delay_reason="The vendor told us only after its own forensic review")
    assert b.notifications[0]["late"] is True and b.clock().state == "notified_late"
    # a follow-up (Art. 33(4)) is not late in itself and needs no reason
    b = reg.notify(b.ref, phase="final")
    assert [n["late"] for n in b.notifications] == [True, False]
    n = json.loads(reg.draft(b.ref, tmp_path / "d")["authority.json"].read_text())
    assert n["timeline"]["reasons_for_delay"] == [
        "The vendor told us only after its own forensic review"]
    assert n["further_information_to_follow"] is False


def test_late_notification_through_the_cli(bank, capsys) -> None:
    code, out, err = _cli(capsys, "breach", "open", "--title", "Vendor incident",
                          "--occurred", _ago(days=5), "--aware", _ago(days=4),
                          "--nature", "confidentiality", "--output", "export.parquet",
                          "--tz", "America/New_York", "--json")
    assert code == 0, err
    ref = json.loads(out)["id"]
    assert "America/New_York" in json.loads(out)["clock"]["deadline_local"]
    code, out, err = _cli(capsys, "breach", "notify", ref, "--to", "authority")
    assert code == 4 and "--delay-reason" in err and "Traceback" not in err
    code, out, err = _cli(capsys, "breach", "notify", ref, "--delay-reason", "Vendor was slow")
    assert code == 0 and "late" in out


# -- 4. UTC inside, the deadline in the DPO's time zone ----------------------------------------

def test_times_are_utc_and_the_deadline_is_shown_in_the_dpos_zone(bank, capsys) -> None:
    ws, pol, export, _ = bank
    reg = Breaches(ws, policy=pol)  # controller.timezone: Europe/Berlin
    b = reg.open(title="Winter breach", occurred_at="2025-01-10T09:00:00+01:00",
                 aware_at="2025-01-10T10:30", tz="Europe/Berlin", nature="availability",
                 outputs=["export.parquet"])
    assert b.aware_at == datetime(2025, 1, 10, 9, 30, tzinfo=UTC)
    assert b.clock().deadline == datetime(2025, 1, 13, 9, 30, tzinfo=UTC)
    j = b.to_json()
    assert j["clock"]["deadline"] == "2025-01-13T09:30:00Z"
    assert j["clock"]["deadline_local"] == "2025-01-13 10:30 +01:00 (Europe/Berlin)"
    assert b.to_json("Asia/Tokyo")["clock"]["deadline_local"] == \
        "2025-01-13 18:30 +09:00 (Asia/Tokyo)"
    # DST: aware on the Saturday before clocks go forward; 72 elapsed hours later is 1 h "later"
    b2 = reg.open(title="Spring breach", occurred_at="2025-03-29T08:00:00Z",
                  aware_at="2025-03-29T10:00:00+01:00", nature="integrity",
                  outputs=["export.parquet"])
    assert b2.to_json()["clock"]["deadline_local"] == "2025-04-01 11:00 +02:00 (Europe/Berlin)"
    code, out, _ = _cli(capsys, "breach", "show", b2.ref)
    assert code == 0 and "2025-04-01 11:00 +02:00 (Europe/Berlin)" in out
    assert "OVERDUE" in out
    with pytest.raises(InputError, match="does not exist in Europe/Berlin"):
        reg.open(title="x", occurred_at="2025-03-30T01:00:00Z", aware_at="2025-03-30T02:30",
                 tz="Europe/Berlin", nature="integrity", outputs=["export.parquet"])
    with pytest.raises(InputError, match="happens twice"):
        reg.open(title="x", occurred_at="2025-10-25T01:00:00Z", aware_at="2025-10-26T02:30",
                 tz="Europe/Berlin", nature="integrity", outputs=["export.parquet"])
    with pytest.raises(InputError, match="has no UTC offset"):
        Breaches(ws).open(title="x", occurred_at="2025-01-01T00:00:00Z",
                          aware_at="2025-01-02T00:00", nature="integrity",
                          outputs=["export.parquet"])


# -- bad input -----------------------------------------------------------------------------------

def test_awareness_before_the_breach_is_refused(bank, capsys) -> None:
    ws, *_ = bank
    code, out, err = _cli(capsys, "breach", "open", "--title", "x", "--occurred", _ago(hours=2),
                          "--aware", _ago(hours=3), "--nature", "confidentiality",
                          "--output", "export.parquet")
    assert code == 4 and "--aware: awareness" in err and "before the breach itself" in err
    assert Breaches(ws).list() == []


def test_unknown_output_is_refused(bank, capsys) -> None:
    ws, *_ = bank
    code, out, err = _cli(capsys, "breach", "open", "--title", "x", "--occurred", _ago(hours=3),
                          "--aware", _ago(hours=2), "--nature", "confidentiality",
                          "--output", "no-such.parquet")
    assert code == 4 and "unknown output 'no-such.parquet'" in err
    assert err.count("\n") == 1 and Breaches(ws).list() == []


def test_update_to_a_closed_breach_is_refused(bank, capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = reg.open(title="x", occurred_at=_ago(hours=3), aware_at=_ago(hours=2),
                 nature="integrity", outputs=["scoring.parquet"])
    reg.close(b.ref, reason="false alarm", force=True)
    code, out, err = _cli(capsys, "breach", "update", b.ref, "--measure", "more")
    assert code == 4 and f"{b.ref}: closed since" in err and err.count(b.ref) == 1
    with pytest.raises(InputError, match="closed since"):
        reg.notify(b.ref, recipient="authority")
    assert reg.get(b.ref).measures == []


@pytest.mark.parametrize("kw, where", [
    ({"nature": "secrecy"}, "nature"),
    ({"occurred_at": "yesterday"}, "occurred_at"),
    ({"aware_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, "aware_at"),
    ({"outputs": [], "keysets": ["nope"]}, "keysets"),
    ({"outputs": [], "datasets": ["nope"]}, "datasets"),
    ({"recipients": "everyone"}, "recipients"),
    ({"key_exposed": ["other.parquet"]}, "key_exposed"),
    ({"title": " "}, "title"),
])
def test_other_bad_input_names_the_field(bank, kw, where) -> None:
    """The Python API names the parameter (the REST body field), the CLI its option."""
    ws, pol, *_ = bank
    args = dict(title="x", occurred_at=_ago(hours=3), aware_at=_ago(hours=2),
                nature="confidentiality", outputs=["export.parquet"])
    args.update(kw)
    with pytest.raises(InputError) as exc:
        Breaches(ws, policy=pol).open(**args)
    assert exc.value.where == where
    assert Breaches(ws).list() == []


# -- the trail ---------------------------------------------------------------------------------

def test_every_step_is_an_audit_event_without_ids(bank, tmp_path) -> None:
    ws, pol, export, _ = bank
    reg = Breaches(ws, policy=pol, actor="dpo")
    b = reg.open(title="Export leaked", occurred_at=_ago(hours=5), aware_at=_ago(hours=4),
                 nature="confidentiality", outputs=["export.parquet"])
    reg.update(b.ref, add_measures=["Bucket closed"], recipients="known")
    reg.assess(b.ref)
    reg.draft(b.ref, tmp_path)
    reg.notify(b.ref)
    reg.close(b.ref, reason="done", force=True)
    reg.export_register(tmp_path)
    evs = [e.event for e in AuditLog(ws).events(action="breach.*")]
    assert [e.action for e in evs] == ["breach.open", "breach.update", "breach.assess",
                                       "breach.draft", "breach.notify", "breach.close",
                                       "breach.register_export"]
    assert all(e.actor == "dpo" for e in evs)
    assert sorted(evs[0].subjects) == reg.subjects(b.ref)
    blob = b"".join(e.canonical_bytes() for e in evs)
    for cid, name, card, _ in __import__("tests.incidents.conftest",
                                         fromlist=["ROWS"]).ROWS:
        assert cid.encode() not in blob and name.encode() not in blob
        assert card.encode() not in blob
    steps = [s["action"] for s in reg.get(b.ref).steps]
    assert steps == ["open", "update", "assess", "draft", "notify", "close"]


def test_drafts_escape_everything(bank, tmp_path) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    evil = "<script>alert(1)</script> [click](http://evil.example) | *x*"
    b = reg.open(title=evil, description=evil, occurred_at=_ago(hours=3),
                 aware_at=_ago(hours=2), nature="confidentiality", outputs=["export.parquet"],
                 measures=[evil])
    paths = reg.draft(b.ref, tmp_path, subjects_notice=True)
    for kind in ("authority.html", "subjects.html"):
        text = paths[kind].read_text()
        assert "<script>" not in text and "&lt;script&gt;" in text
    for kind in ("authority.md", "subjects.md"):
        text = paths[kind].read_text()
        assert "<script>" not in text and "[click](" not in text
    assert json.loads(paths["authority.json"].read_text())["title"] == evil


def test_register_covers_every_breach_and_neutralises_formulas(bank, tmp_path,
                                                              capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    reg.open(title="=HYPERLINK(\"http://x\")", occurred_at=_ago(hours=3),
             aware_at=_ago(hours=2), nature="availability", outputs=["scoring.parquet"])
    b2 = reg.open(title="second", occurred_at=_ago(hours=3), aware_at=_ago(hours=2),
                  nature="confidentiality", outputs=["export.parquet"])
    reg.assess(b2.ref)
    reg.notify(b2.ref)
    code, out, err = _cli(capsys, "breach", "register", "-o", str(tmp_path))
    assert code == 0, err
    rows = list(csv.DictReader((tmp_path / "breach-register.csv").open()))
    assert [r["id"] for r in rows] == ["BR-0001", "BR-0002"]
    assert rows[0]["title"].startswith("'=") and rows[0]["decision"] == "not assessed"
    assert rows[1]["authority_notified_at"] != ""
    data = json.loads((tmp_path / "breach-register.json").read_text())
    assert len(data["breaches"]) == 2


def test_cli_walk_through(bank, capsys, tmp_path) -> None:
    code, out, err = _cli(capsys, "breach", "open", "--title", "Bucket", "--occurred",
                          _ago(hours=6), "--aware", _ago(hours=1), "--nature",
                          "confidentiality,integrity", "--output", "export.parquet",
                          "--output", "scoring.parquet", "--recipients", "public",
                          "--policy", "policy.yaml")
    assert code == 0, err
    assert "BR-0001" in out and "left" in out and "financial: card, transaction" in out
    for args in (["update", "BR-0001", "--measure", "Bucket closed", "--key-exposed",
                  "scoring.parquet"],
                 ["assess", "BR-0001"], ["show", "BR-0001", "--subjects"],
                 ["draft", "BR-1", "-o", str(tmp_path)], ["list", "--status", "open"],
                 ["notify", "BR-0001", "--phase", "initial"],
                 ["notify", "BR-0001", "--to", "subjects"],
                 ["notify", "BR-0001", "--phase", "final"],
                 ["close", "BR-0001", "--reason", "done"]):
        code, out, err = _cli(capsys, "breach", *args)
        assert code == 0, (args, err)
    code, out, err = _cli(capsys, "breach", "show", "BR-0001", "--json")
    d = json.loads(out)
    assert d["status"] == "closed" and d["decision"] == "authority_and_subjects"
    assert d["scope"]["items"][1]["key_safe"] is False  # declared exposed by the update
    assert (tmp_path / "BR-0001.authority.html").is_file()
