"""A stream fed N events yields the rows a batch `veil run` over the same events yields, one
receipt and audit trail per micro-batch, and the same rows on the output subject."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

import veil
from tests.stream.conftest import NATS, event, read_folder, sorted_rows, write_jsonl
from veil.store.schema import runs
from veil.stream import consume


def test_stream_rows_equal_a_batch_run(streams, policy_file: Path, workspace,
                                       tmp_path: Path) -> None:
    stream, subject = streams.create()
    out_stream, out_subject = streams.create("OUT")
    events = [event(i) for i in range(130)]
    streams.publish(subject, events)

    seen = []
    result = consume(f"{NATS}/{stream}/{subject}", policy_file, "fraud", tmp_path / "out",
                     batch_size=25, idle_exit=0.2, publish=out_subject, on_batch=seen.append)

    batch = veil.run(policy_file, "fraud", write_jsonl(tmp_path / "tx.jsonl", events),
                     tmp_path / "batch.parquet")
    table, files = read_folder(tmp_path / "out")
    assert table.column_names == ["cid", "amount", "when"]  # name and channel never leave
    assert sorted_rows(table) == sorted_rows(veil.read(batch.output))
    assert result.rows_in == result.rows_out == 130 and result.duplicates == 0
    assert seen == result.batches and len(files) == len(result.batches) >= 6
    # files are named by their first and last stream sequence; together they cover 1..130
    covered = [(b.first, b.last) for b in result.batches]
    assert covered[0][0] == 1 and covered[-1][1] == 130
    assert files[0].name == "batch-000000000001-000000000025.parquet"

    # one receipt per micro-batch: its sequences, its rows, its audit events; one run each
    ids = set()
    for b in result.batches:
        r = json.loads(b.output.with_name(b.output.name + ".receipt.json").read_text())
        assert r["input"]["ref"] == f"{NATS}/{stream}" and r["input"]["format"] == "nats-jetstream"
        assert r["input"]["snapshot"]["sequences"] == [[b.first, b.last]]
        assert r["rows"]["in"] == b.last - b.first + 1 == b.rows_in
        assert r["audit"], "each micro-batch writes its audit events"
        ids.add(r["run_id"])
    with workspace.engine.connect() as c:
        done = set(c.execute(sa.select(runs.c.id).where(
            runs.c.input_ref == f"{NATS}/{stream}", runs.c.status == "succeeded")).scalars())
    assert done == ids and len(ids) == len(result.batches)

    # the output subject carries each minimized event once, as the folder holds it
    sent = streams.messages(out_stream)
    assert len(sent) == 130
    assert sorted(m["amount"] for m, _ in sent) == sorted(table.column("amount").to_pylist())
    assert len({h["Nats-Msg-Id"] for _, h in sent}) == 130


def test_a_second_consumer_run_resumes_and_writes_nothing_twice(streams, policy_file: Path,
                                                               workspace, tmp_path: Path) -> None:
    stream, subject = streams.create()
    streams.publish(subject, [event(i) for i in range(30)])
    src = f"{NATS}/{stream}/{subject}"
    first = consume(src, policy_file, "fraud", tmp_path / "out", batch_size=10, max_batches=2)
    assert [(b.first, b.last) for b in first.batches] == [(1, 10), (11, 20)]
    streams.publish(subject, [event(i) for i in range(30, 40)])
    second = consume(src, policy_file, "fraud", tmp_path / "out", batch_size=50, idle_exit=0.2)
    assert [(b.first, b.last) for b in second.batches] == [(21, 40)]
    table, _ = read_folder(tmp_path / "out")
    assert sorted(table.column("amount").to_pylist()) == [i + 0.25 for i in range(40)]
