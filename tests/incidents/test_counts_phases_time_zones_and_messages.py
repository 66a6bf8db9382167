"""Subject and record counts and their sources, phased notifications, the breach's time zone,
draft phases, the notice to the people affected, messages, the cost of evidence look-ups and the
'known recipients' rule. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import veil
from tests.incidents.conftest import SUBJECTS
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.errors import InputError
from veil.incidents import Breaches
from veil.incidents.scope import Evidence


def _ago(**kw: float) -> str:
    return (datetime.now(UTC) - timedelta(**kw)).isoformat()


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def _open(reg: Breaches, **kw):
    args = dict(title="Leak", occurred_at=_ago(hours=3), aware_at=_ago(hours=2),
                nature="confidentiality")
    args.update(kw)
    return reg.open(**args)


# -- 1. subjects and records describe exactly what was exposed --------------------------------

def test_a_dataset_counts_the_file_that_leaked_once(bank) -> None:
    ws, pol, _, _ = bank
    root = Path(ws.root)
    (root / "cards2.csv").write_text("cid,name,card,amount\nC-7,Gus Example,4111111111111111,1\n"
                                     "C-8,Hal Example,5500005555555559,2\n")
    veil.run(pol, "export", root / "cards2.csv", root / "export2.parquet", workspace=ws)
    reg = Breaches(ws, policy=pol)
    # two files were read under the name "cards": which one leaked must be said
    with pytest.raises(InputError, match="read from 2 different files") as exc:
        _open(reg, datasets=["cards"])
    assert exc.value.where == "datasets"
    b = _open(reg, datasets=["cards=cards.csv"])
    subj, recs = b.scope["subjects"], b.scope["records"]
    assert (subj["count"], subj["exact"], subj["upper_bound"], subj["source"]) == \
        (SUBJECTS, True, SUBJECTS, "lineage")  # not lineage + rows on top, not the other file
    assert (recs["count"], recs["exact"], recs["source"]) == (10, True, "receipts")
    assert len(reg.subjects(b.ref)) == SUBJECTS
    # the export made from that very file adds neither subjects nor records
    b = reg.update(b.ref, add_outputs=["export.parquet"])
    assert (b.scope["subjects"]["count"], b.scope["records"]["count"]) == (SUBJECTS, 10)
    b2 = _open(reg, datasets=["cards=cards2.csv"])
    assert (b2.scope["subjects"]["count"], b2.scope["records"]["count"]) == (2, 2)
    # both files: the union of their subjects, the sum of their records
    b3 = _open(reg, datasets=["cards=cards.csv", "cards=cards2.csv"])
    assert (b3.scope["subjects"]["count"], b3.scope["records"]["count"]) == (SUBJECTS + 2, 12)


def test_without_lineage_the_records_bound_the_subjects_and_the_scope_says_why(
        bank, capsys) -> None:
    from veil.lineage import discard_output

    ws, pol, export, _ = bank
    discard_output(ws.engine, export.run_id)  # as for a run from before lineage existed
    b = _open(Breaches(ws, policy=pol), outputs=["export.parquet"])
    subj = b.scope["subjects"]
    assert (subj["count"], subj["exact"], subj["upper_bound"]) == (0, False, 10)
    assert subj["source"] == "receipts (upper bound)"
    assert "no lineage for the run: at most one subject per record" in subj["basis"][0]
    code, out, _ = _cli(capsys, "breach", "show", b.ref)
    assert code == 0 and "at least 0, at most 10 (receipts (upper bound))" in out
    assert "from lineage" not in out


# -- 2. each figure says where it comes from ---------------------------------------------------

def test_dpo_estimates_are_labelled_as_estimates(bank, capsys, tmp_path) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, other=["backup tapes"], estimate_subjects=10, estimate_records=40,
              categories=["contact"])
    subj, recs = b.scope["subjects"], b.scope["records"]
    assert (subj["count"], subj["exact"], subj["source"]) == (10, False, "DPO estimate")
    assert (recs["count"], recs["source"]) == (40, "DPO estimate")
    code, out, _ = _cli(capsys, "breach", "show", b.ref)
    assert "10 (approximate: DPO estimate)" in out and "lineage" not in out
    n = json.loads(reg.draft(b.ref, tmp_path)["authority.json"].read_text())
    assert n["subjects"]["source"] == "DPO estimate" and n["subjects"]["estimated_by_dpo"] == 10
    assert n["records"]["source"] == "DPO estimate"
    b = reg.update(b.ref, add_outputs=["export.parquet"])
    subj, recs = b.scope["subjects"], b.scope["records"]
    assert (subj["count"], subj["from_lineage"], subj["estimated"]) == (SUBJECTS + 10, SUBJECTS,
                                                                        10)
    assert subj["source"] == "lineage + DPO estimate"
    assert (recs["count"], recs["source"]) == (50, "receipts + DPO estimate")


# -- 3. a phased notification is complete only with its final phase ----------------------------

def test_close_needs_the_final_phase(bank, capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, outputs=["export.parquet"], recipients="known")
    assert reg.assess(b.ref).decision == "authority"
    reg.notify(b.ref, phase="initial")
    code, _, err = _cli(capsys, "breach", "close", b.ref, "--reason", "done")
    assert code == 4 and "only its initial phase: record the final one" in err
    reg.notify(b.ref, phase="follow_up")
    with pytest.raises(InputError, match="initial and follow-up phase"):
        reg.close(b.ref, reason="done")
    assert reg.get(b.ref).status == "open"
    reg.notify(b.ref, phase="final")
    assert reg.close(b.ref, reason="done").status == "closed"


# -- 4. the breach's time zone is kept and used everywhere ---------------------------------------

def test_the_time_zone_given_at_open_is_kept(bank, capsys, tmp_path) -> None:
    ws, pol, *_ = bank  # the policy's controller.timezone is Europe/Berlin
    reg = Breaches(ws, policy=pol)
    b = _open(reg, occurred_at="2025-01-10T08:00", aware_at="2025-01-10T09:00",
              tz="America/New_York", outputs=["export.parquet"], recipients="public")
    b = reg.update(b.ref, add_measures=["Bucket closed"])
    assert b.timezone == "America/New_York"
    j = b.to_json()
    assert j["occurred_at_local"] == "2025-01-10 08:00 -05:00 (America/New_York)"
    assert j["clock"]["deadline_local"] == "2025-01-13 09:00 -05:00 (America/New_York)"
    for cmd in (["show", b.ref], ["list"], ["assess", b.ref]):
        code, out, err = _cli(capsys, "breach", *cmd)
        assert code == 0, err
        assert "(America/New_York)" in out and "(Europe/Berlin)" not in out and "(UTC)" not in out
    paths = reg.draft(b.ref, tmp_path)
    n = json.loads(paths["authority.json"].read_text())
    assert n["timeline"]["deadline_local"].endswith("(America/New_York)")
    assert n["timeline"]["aware_at_local"] == "2025-01-10 09:00 -05:00 (America/New_York)"
    page = paths["authority.html"].read_text()
    assert "2025-01-10 08:00 -05:00 (America/New_York)" in page and "(UTC)" not in page
    # a local --sent is read in the breach's zone; update --tz moves the zone
    b = reg.notify(b.ref, sent_at="2025-01-11T10:00", phase="initial")
    assert b.notifications[0]["sent_at"] == "2025-01-11T15:00:00Z"
    assert reg.update(b.ref, tz="Asia/Tokyo").timezone == "Asia/Tokyo"


def test_the_notice_dates_are_days_in_the_breachs_zone(bank, tmp_path) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)  # Europe/Berlin from the policy
    b = _open(reg, occurred_at="2025-01-09T23:30:00Z", aware_at="2025-01-10T07:00:00Z",
              outputs=["export.parquet"], recipients="public", measures=["Cards blocked"])
    assert b.timezone == "Europe/Berlin"
    reg.assess(b.ref)
    text = reg.draft(b.ref, tmp_path)["subjects.md"].read_text()
    assert "10 January 2025" in text and "9 January" not in text


# -- 5. the draft follows the notification's phase ---------------------------------------------

def test_draft_phase(bank, capsys, tmp_path) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, outputs=["export.parquet"], recipients="public", measures=["Closed"])
    reg.assess(b.ref)
    paths = reg.draft(b.ref, tmp_path / "a")
    n = json.loads(paths["authority.json"].read_text())
    assert (n["phase"], n["further_information_to_follow"]) == ("single", False)
    assert "further information will follow" not in paths["authority.md"].read_text()
    with pytest.raises(InputError, match="no notification to the authority yet") as exc:
        reg.draft(b.ref, tmp_path / "b", phase="final")
    assert exc.value.where == "phase"
    n = json.loads(reg.draft(b.ref, tmp_path / "c", phase="initial")["authority.json"]
                   .read_text())
    assert n["phase"] == "initial" and n["further_information_to_follow"] is True
    assert "further information will follow" in n["phase_text"]
    reg.notify(b.ref, phase="initial")
    n = json.loads(reg.draft(b.ref, tmp_path / "d")["authority.json"].read_text())
    assert n["phase"] == "follow_up"
    code, out, err = _cli(capsys, "breach", "draft", b.ref, "--phase", "final", "-o",
                          str(tmp_path / "e"))
    assert code == 0, err
    n = json.loads((tmp_path / "e" / f"{b.ref}.authority.json").read_text())
    assert n["phase"] == "final" and n["further_information_to_follow"] is False
    assert "completing the notification of" in n["phase_text"]
    code, out, err = _cli(capsys, "breach", "draft", b.ref, "--phase", "later")
    assert code == 4 and "--phase" in err


# -- 6. the notice to the people affected ------------------------------------------------------

def test_subject_notice_is_plain_and_only_when_they_are_told(bank, tmp_path) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, outputs=["export.parquet"], recipients="known", measures=["Recalled"])
    assert reg.assess(b.ref).decision == "authority"
    paths = reg.draft(b.ref, tmp_path / "a")
    assert sorted(paths) == ["authority.html", "authority.json", "authority.md"]
    assert not list((tmp_path / "a").glob("*.subjects.*"))
    ev = list(AuditLog(ws).events(action="breach.draft"))[-1].event
    assert ev.details["kind"] == "authority (single)"
    assert "subjects.md" in reg.draft(b.ref, tmp_path / "b", subjects_notice=True)
    b = _open(reg, outputs=["export.parquet"], recipients="public",
              measures=["Cards blocked and reissued"])
    reg.assess(b.ref)
    text = reg.draft(b.ref, tmp_path / "c")["subjects.md"].read_text()
    for phrase in ("What happened", "What information was involved", "your payment card number",
                   "Someone could try to pay with your card.", "What we have done",
                   "Cards blocked and reissued", "What you can do", "dpo@bank.example"):
        assert phrase in text, phrase
    for jargon in ("identified directly", "Art.", "data subject", "intelligible"):
        assert jargon not in text, jargon
    assert reg.draft(b.ref, tmp_path / "d", subjects_notice=False).keys() == \
        {"authority.json", "authority.md", "authority.html"}


# -- 7. messages -------------------------------------------------------------------------------

def test_window_items_are_named_by_their_output(bank, capsys) -> None:
    ws, pol, export, scoring = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, windows=[(_ago(hours=1), datetime.now(UTC).isoformat())])
    refs = [(i.ref, i.run_id) for i in b.items]
    assert refs == [(str(export.output), export.run_id), (str(scoring.output), scoring.run_id)]
    code, out, _ = _cli(capsys, "breach", "show", b.ref)
    assert f"output {export.output} (run {export.run_id[:12]})" in re.sub(r"\s+", " ", out)


def test_closed_message_names_the_breach_once(bank, capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, outputs=["export.parquet"])
    reg.close(b.ref, reason="false alarm", force=True)
    code, _, err = _cli(capsys, "breach", "notify", b.ref)
    assert code == 4 and err.count(b.ref) == 1 and "closed since" in err


# -- 8. evidence look-ups do not scan history ----------------------------------------------------

def test_lookups_query_by_key_and_read_only_the_runs_own_event(bank, monkeypatch) -> None:
    ws, pol, export, _ = bank
    queries: list[tuple] = []
    real = Evidence._runs

    def runs_spy(self, *conds):  # type: ignore[no-untyped-def]
        queries.append(conds)
        return real(self, *conds)

    def no_scan(*a, **kw):  # type: ignore[no-untyped-def]
        raise AssertionError("the audit log was scanned")

    monkeypatch.setattr(Evidence, "_runs", runs_spy)
    monkeypatch.setattr(AuditLog, "events", no_scan)
    b = _open(Breaches(ws, policy=pol), outputs=["export.parquet", export.run_id[:10]])
    assert queries and all(queries), "a query loaded every run"
    assert b.scope["categories"] == ["card", "direct_identifier", "transaction"]
    assert not any("no audit event" in w for w in b.scope["warnings"])


# -- 9. what "known recipients" implies is said and recorded -------------------------------------

def test_known_recipients_are_explained_and_recorded(bank, capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = reg.assess(_open(reg, outputs=["export.parquet"], recipients="known").ref)
    a = b.assessment
    assert (a["severity"], a["likelihood"], b.decision) == ("high", "low", "authority")
    assert "trusted recipient" in a["likelihood_reason"]
    f = next(f for f in a["factors"] if f["factor"] == "likelihood")
    assert "lowers the decision by one step" in f["effect"]
    assert "trusted recipient" in b.steps[-1]["summary"]
    code, out, _ = _cli(capsys, "breach", "open", "--help")
    text = re.sub(r"[\s│]+", " ", out)
    assert "lowers the decision one step" in text and "authority only" in text


# -- errors of the Python API name the parameter ----------------------------------------------

def test_api_errors_name_parameters_and_cli_errors_options(bank, capsys) -> None:
    ws, pol, *_ = bank
    reg = Breaches(ws, policy=pol)
    b = _open(reg, outputs=["export.parquet"])
    with pytest.raises(InputError) as exc:
        reg.update(b.ref, add_outputs=["nope.parquet"])
    assert exc.value.where == "add_outputs"
    with pytest.raises(InputError) as exc:
        reg.notify(b.ref, sent_at="soon")
    assert exc.value.where == "sent_at"
    code, _, err = _cli(capsys, "breach", "update", b.ref, "--output", "nope.parquet")
    assert code == 4 and "--output: unknown output" in err
