"""A retention sweep with a fake clock: the expired output is deleted and a copy made earlier
can no longer be decrypted (its own keyset is destroyed), a held output is kept until released,
and every disposal is an audit event and a certificate entry."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.crypto.errors import KeyMissingError
from veil.errors import InputError
from veil.keys.manager import KeyManager
from veil.lifecycle import dispose_output, hold, release, retention_status, sweep
from veil.policy.duration import Duration
from veil.store.schema import lineage_subjects

LATER = "2040-01-01T00:00:00Z"  # past every sample retention


def veil_cli(*args: str) -> int:
    return main(list(args))


def test_expiry_is_recorded_calendar_correct_and_shown_in_the_receipt(workspace, publish):
    r = publish("a.parquet")
    started = datetime.fromisoformat(r.receipt["started_at"].replace("Z", "+00:00"))
    want = Duration.parse("2 years").after(started)
    assert r.receipt["purpose"]["expires_at"] == want.isoformat().replace("+00:00", "Z")
    (st,) = retention_status(workspace)
    assert st.expires_at.replace(microsecond=0) == want.replace(microsecond=0)
    assert st.keyset == f"output.{r.run_id}" and st.own_key and st.state == "live"
    assert r.receipt["output"]["encryption"]["keyset"] == st.keyset
    assert veil.read("a.parquet", workspace).num_rows == r.rows_out  # read finds its own key
    assert retention_status(workspace, due=True) == []
    assert [s.run_id for s in retention_status(workspace, LATER, due=True)] == [r.run_id]


def test_sweep_deletes_shreds_keeps_held_and_records(workspace, publish, capsys, clock_at):
    clock_at(LATER)
    a, b = publish("a.parquet"), publish("b.parquet")
    shutil.copy("a.parquet", "copy-of-a.parquet")  # e.g. a backup made before the sweep
    assert veil.read("copy-of-a.parquet", workspace).num_rows == a.rows_out
    assert veil_cli("retention", "hold", b.run_id[:8], "--reason", "litigation 2026-17") == 0
    assert veil_cli("retention", "sweep", "--dry-run", "--now", LATER) == 0
    assert "would dispose of 1 output" in capsys.readouterr().out
    assert Path("a.parquet").exists()

    assert veil_cli("retention", "sweep", "--now", LATER, "--json") == 0
    rep = json.loads(capsys.readouterr().out)
    assert [d["run_id"] for d in rep["disposed"]] == [a.run_id]
    assert [h["run_id"] for h in rep["held"]] == [b.run_id]
    assert not Path("a.parquet").exists() and Path("b.parquet").exists()
    with pytest.raises(KeyMissingError, match="destroyed when its run output was disposed"):
        veil.read("copy-of-a.parquet", workspace)
    assert veil_cli("decrypt", "copy-of-a.parquet", "plain.parquet") == 7
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "disposed of" in err and not Path("plain.parquet").exists()
    assert KeyManager(workspace).info(f"output.{a.run_id}").status == "DESTROYED"

    cert = json.loads(Path(rep["certificate"]).read_text())
    (entry,) = cert["outputs"]
    assert entry["run_id"] == a.run_id and entry["key"] == "destroyed"
    assert entry["file"] == "deleted" and entry["retention_rule"] == "2 years"
    assert entry["sha256"] == a.receipt["output"]["sha256"] and cert["as_of"] == LATER[:19] + "Z"
    events = list(AuditLog(workspace).events(action="retention.*"))
    assert [e.event.action for e in events] == ["retention.hold", "retention.dispose"]
    ev = events[1].event
    assert ev.details["run_id"] == a.run_id and ev.digests["output"] == \
        "sha256:" + a.receipt["output"]["sha256"]
    with workspace.engine.connect() as conn:
        left = set(conn.execute(sa.select(lineage_subjects.c.run_id)).scalars())
    assert a.run_id not in left and b.run_id in left

    # a second sweep has nothing more to do; releasing the hold lets the next one dispose of b
    assert sweep(workspace, now=LATER).disposed == []
    release(workspace, b.run_id)
    assert [d.run_id for d in sweep(workspace, now=LATER).disposed] == [b.run_id]
    assert not Path("b.parquet").exists()
    assert [e.event.action for e in AuditLog(workspace).events(action="retention.*")] == [
        "retention.hold", "retention.dispose", "retention.release", "retention.dispose"]


def test_nothing_goes_before_its_expiry(workspace, publish, clock_at):
    clock_at("2027-01-01T00:00:00Z")
    publish("a.parquet")
    rep = sweep(workspace, now="2027-01-01T00:00:00Z")
    assert rep.disposed == [] and Path("a.parquet").exists()


@pytest.mark.parametrize("step", ["intent", "file_deleted", "key_destroyed", "audited", "done"])
def test_a_sweep_killed_after_any_step_is_finished_by_the_next(workspace, publish, step,
                                                               clock_at):
    clock_at(LATER)
    (a,) = outs = [publish("a.parquet")]

    def crash(at: str) -> None:
        if at == step:
            raise KeyboardInterrupt(f"killed after {at}")  # what kill -9 leaves, as far as
            #                                                the store and files can tell

    with pytest.raises(KeyboardInterrupt):
        sweep(workspace, now=LATER, hook=crash)
    mid = {s.run_id: s.state for s in retention_status(workspace, LATER, due=True)}
    if step == "done":
        assert mid == {}  # finished before the crash: nothing left to do
    else:
        assert mid[a.run_id] != "live"  # the intent came first
    rep = sweep(workspace, now=LATER)
    assert [d.run_id for d in rep.disposed] == list(mid)
    assert retention_status(workspace, LATER, due=True) == []
    assert not Path("a.parquet").exists()
    km = KeyManager(workspace)
    assert {km.info(f"output.{r.run_id}").status for r in outs} == {"DESTROYED"}
    runs = [e.event.details["run_id"] for e in AuditLog(workspace).events(
        action="retention.dispose")]
    assert runs == [a.run_id]  # exactly one event, whatever step the first sweep died at


def test_dispose_output_one_clear_error_each(workspace, publish):
    from veil.errors import ConflictError, InputError, NotFoundError

    a = publish("a.parquet")
    with pytest.raises(NotFoundError, match="no output 'nope'"):
        dispose_output(workspace, "nope", reason="r", actor="dpo")
    with pytest.raises(InputError, match="needs a reason"):
        dispose_output(workspace, a.run_id, reason=" ", actor="dpo")
    hold(workspace, "a.parquet", reason="audit by the authority")
    with pytest.raises(ConflictError, match="legal hold"):
        dispose_output(workspace, a.run_id, reason="erasure purge", actor="dpo")
    release(workspace, a.run_id)
    d = dispose_output(workspace, a.run_id[:10], reason="erasure 3f2a: purge", actor="dpo")
    assert d.key == "destroyed" and d.file == "deleted" and Path(d.certificate or "").is_file()
    again = dispose_output(workspace, a.run_id, reason="again", actor="dpo")
    assert again.disposed_at == d.disposed_at  # done once; the record is returned
    with pytest.raises(ConflictError, match="disposed of"):
        hold(workspace, a.run_id, reason="too late")


def test_cli_bad_input_is_one_line(workspace, publish, capsys, tmp_path):
    publish("a.parquet")
    assert veil_cli("retention", "hold", "nope", "--reason", "x") == 4
    assert veil_cli("retention", "sweep", "--now", "next tuesday") == 4
    assert veil_cli("retention", "release", "a.parquet") == 4  # not held
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and "no output 'nope'" in err[0] and "ISO 8601" in err[1]
    assert "not under a legal hold" in err[2]
    bad = Path(veil.sample.SAMPLE_POLICY).read_text().replace("retention: 2 years",
                                                               "retention: soon", 1)
    (tmp_path / "bad.yaml").write_text(bad)
    assert veil_cli("retention", "sweep", "-p", str(tmp_path / "bad.yaml")) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bad.yaml:" in err and "not a duration" in err


def test_a_sweep_as_of_the_future_disposes_of_nothing(workspace, publish, capsys):
    """--now later than this machine's clock would dispose of outputs before their retention
    ended: refused (the CLI and the API), and nothing goes; a dry run may look ahead."""
    a = publish("a.parquet")
    assert veil_cli("retention", "sweep", "--now", LATER) == 4
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is in the future" in err and "--dry-run" in err
    with pytest.raises(InputError, match="is in the future"):
        sweep(workspace, now=LATER)
    assert [d.run_id for d in sweep(workspace, now=LATER, dry_run=True).disposed] == [a.run_id]
    assert Path("a.parquet").exists()
    (st,) = retention_status(workspace)
    assert st.state == "live"


def test_status_lists_and_help_has_examples(workspace, publish, capsys):
    r = publish("a.parquet")
    assert veil_cli("retention", "status", "--json", "--now", LATER) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["run_id"] == r.run_id and row["due"] and row["urgency"] == "overdue"
    assert veil_cli("retention", "sweep", "--help") == 0
    assert "Example: veil retention sweep" in capsys.readouterr().out
    from veil.cli.retention import retention_app

    for c in retention_app.registered_commands:
        assert f"Example: veil retention {c.name}" in (c.callback.__doc__ or ""), c.name
