"""What goes wrong says so in one line: a schema change between micro-batches names the stream
and the sequence and publishes nothing of its micro-batch; an unreachable broker or an unknown
stream is one line; a subject without consent is dropped as in a batch run."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
from tests.stream.conftest import NATS, POLICY, event, read_folder, sorted_rows, write_jsonl
from veil.cli.main import main
from veil.errors import InputError
from veil.store.schema import runs
from veil.stream import consume


def _veil(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veil", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize(("bad", "says"), [
    (event(7, amount=None) | {"amount": "twelve"}, "column 'amount': not a number"),
    ({k: v for k, v in event(7).items() if k != "when"},
     "column 'when': field missing from the event (a schema change?)"),
])
def test_a_schema_change_names_stream_and_sequence_and_publishes_nothing(
        bad: dict, says: str, streams, policy_file: Path, workspace, tmp_path: Path,
        capsys) -> None:
    stream, subject = streams.create()
    out_stream, out_subject = streams.create("OUT")
    streams.publish(subject, [event(i) for i in range(5)] + [event(5), event(6), bad,
                                                            event(8), event(9)])
    src = f"{NATS}/{stream}/{subject}"
    args = (src, policy_file, "fraud", tmp_path / "out")
    with pytest.raises(InputError) as err:
        consume(*args, batch_size=5, idle_exit=0.2, publish=out_subject, ack_wait=1)
    assert str(err.value).startswith(f"{NATS}/{stream}: sequence 8, {says}")
    _, files = read_folder(tmp_path / "out")
    assert [f.name for f in files] == ["batch-000000000001-000000000005.parquet"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        files[0].name, files[0].name + ".receipt.json"]  # nothing of the 2nd batch
    assert len(streams.messages(out_stream)) == 5
    with workspace.engine.connect() as c:
        states = sorted(c.execute(sa.select(runs.c.status).where(
            runs.c.input_ref == f"{NATS}/{stream}")).scalars())
    assert states == ["failed", "succeeded"]

    # the CLI (its entry point, in this process): one line, the input-error exit code; the
    # events wait, unacknowledged
    code = main(["stream", src, "-p", str(policy_file), "--purpose", "fraud", "-o",
                 str(tmp_path / "out"), "--batch-size", "5", "--idle-exit", "0.2"])
    assert code == 4
    assert capsys.readouterr().err.strip().splitlines() == [
        f"veil: input error: {NATS}/{stream}: sequence 8, {says} (the policy says "
        "on_bad_rows: fail; set quarantine to set such rows aside)"]


def test_quarantine_sets_the_bad_event_aside_and_goes_on(streams, workspace,
                                                        tmp_path: Path) -> None:
    policy = tmp_path / "q.yaml"
    policy.write_text(POLICY % "quarantine", "utf-8")
    stream, subject = streams.create()
    streams.publish(subject, [event(0), event(1, amount="n/a"), event(2)])
    result = consume(f"{NATS}/{stream}/{subject}", policy, "fraud", tmp_path / "out",
                     idle_exit=0.2)
    assert (result.rows_in, result.rows_out) == (3, 2)
    rejects = (tmp_path / "out" / "batch-000000000001-000000000003.parquet.rejects.jsonl")
    row = json.loads(rejects.read_text())
    assert (row["record"], row["column"]) == (2, "amount")  # the record is the sequence


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no run, no store write
def test_unreachable_broker_and_unknown_stream_are_one_line(streams, policy_file: Path,
                                                           workspace, tmp_path: Path,
                                                           capsys) -> None:
    base = ["-p", str(policy_file), "--purpose", "fraud", "-o", str(tmp_path / "out")]
    # a fresh `python -m veil` process: the console script's exit code and its one line
    down = _veil("stream", "nats://127.0.0.1:1/ORDERS", *base)
    assert down.returncode == 4
    assert down.stderr.strip().splitlines() == [
        "veil: input error: nats://127.0.0.1:1: cannot reach the NATS server "
        "(NoServersError)"]
    assert main(["stream", f"{NATS}/NO_SUCH_STREAM_{tmp_path.name[-8:]}", *base]) == 4
    missing = capsys.readouterr().err
    assert len(missing.strip().splitlines()) == 1
    assert "no JetStream stream 'NO_SUCH_STREAM_" in missing
    assert main(["stream", "kafka://127.0.0.1/ORDERS", *base]) == 4
    assert "nats://HOST:PORT/STREAM" in capsys.readouterr().err
    with pytest.raises(InputError, match="no JetStream stream captures this subject"):
        stream, subject = streams.create()
        consume(f"{NATS}/{stream}", policy_file, "fraud", tmp_path / "out",
                publish="nobody.listens.here", idle_exit=0.1)


def test_events_of_subjects_without_consent_are_dropped_as_in_a_run(
        streams, policy_file: Path, workspace, tmp_path: Path) -> None:
    from veil.consent import Ledger
    from veil.policy import load_policy

    ledger = Ledger(workspace, load_policy(policy_file))
    when = datetime.now(UTC) - timedelta(days=1)
    for i in range(0, 37, 3):  # C0, C3, C6 ... consented; the others never did
        ledger.grant(f"C{i}", "offers", channel="web_form", action="clicked 'I agree'",
                     collector="web-consent", time=when, notice_version="1")
    stream, subject = streams.create()
    events = [event(i) for i in range(80)]
    streams.publish(subject, events)
    result = consume(f"{NATS}/{stream}/{subject}", policy_file, "offers", tmp_path / "out",
                     batch_size=30, idle_exit=0.2)
    batch = veil.run(policy_file, "offers", write_jsonl(tmp_path / "tx.jsonl", events),
                     tmp_path / "batch.parquet")
    table, _ = read_folder(tmp_path / "out")
    assert 0 < table.num_rows == batch.rows_out < 80
    assert sorted_rows(table) == sorted_rows(veil.read(batch.output))
    assert result.rows_out == batch.rows_out
    dropped = sum(json.loads(b.output.with_name(b.output.name + ".receipt.json").read_text())
                  ["rows"]["dropped"].get("no consent", 0) for b in result.batches)
    assert dropped == 80 - batch.rows_out == batch.receipt["rows"]["dropped"]["no consent"]
