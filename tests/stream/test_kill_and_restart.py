"""The consumer killed (SIGKILL) mid-stream and started again: no event lost, none written or
sent twice — whether it died while writing a micro-batch or after publishing it but before
acknowledging it (the redelivered events are then recognised and skipped)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.stream.conftest import NATS, event, read_folder
from veil.cli.main import main

#: The consumer, stopped (it sleeps until killed) at a chosen point of its 3rd micro-batch.
CHILD = """
import sys, time
from pathlib import Path
import veil.stream.consumer as consumer
from veil.pipeline.runner import Runner
when, marker = sys.argv[1], Path(sys.argv[2])
calls = {"run": 0, "publish": 0}
real_run, real_publish = consumer.run, Runner.publish

def stop():
    marker.write_text("stopped")
    time.sleep(600)

def publish(self, *a, **k):
    calls["publish"] += 1
    if when == "writing" and calls["publish"] == 3:
        stop()  # output written to its temporary file, run not committed
    return real_publish(self, *a, **k)

def run(*a, **k):
    calls["run"] += 1
    result = real_run(*a, **k)
    if when == "published" and calls["run"] == 3:
        stop()  # published and recorded, not acknowledged
    return result

consumer.run, Runner.publish = run, publish
from veil.cli.main import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("when", ["writing", "published"])
def test_killed_consumer_restarts_without_loss_or_duplicates(when: str, streams, policy_file,
                                                            workspace, tmp_path: Path,
                                                            capsys) -> None:
    stream, subject = streams.create()
    out_stream, out_subject = streams.create("OUT")
    streams.publish(subject, [event(i) for i in range(100)])
    args = [f"{NATS}/{stream}/{subject}", "-p", str(policy_file), "--purpose", "fraud",
            "-o", str(tmp_path / "out"), "--batch-size", "10", "--ack-wait", "1",
            "--publish", out_subject]
    marker = tmp_path / "stopped"
    child = subprocess.Popen([sys.executable, "-c", CHILD, when, str(marker), "stream", *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the consumer never reached its 3rd batch"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate()
    published = sorted(p.name for p in (tmp_path / "out").glob("batch-*.parquet"))
    assert len(published) == (2 if when == "writing" else 3)

    # started again through the entry point, in this process (the killed one was a process)
    code = main(["stream", *args, "--idle-exit", "0.3", "--json"])
    again = capsys.readouterr()
    assert code == 0, again.err
    totals = json.loads(again.out.splitlines()[-1])
    if when == "published":  # at least those 10; more if a redelivery overtook an ack
        assert totals["duplicates"] >= 10

    table, files = read_folder(tmp_path / "out")
    assert sorted(table.column("amount").to_pylist()) == [i + 0.25 for i in range(100)]
    assert not [p for p in (tmp_path / "out").iterdir() if ".tmp" in p.name or
                p.name.startswith(".")], "no temporary file is left behind"
    sent = streams.messages(out_stream)
    assert sorted(m["amount"] for m, _ in sent) == [i + 0.25 for i in range(100)]
