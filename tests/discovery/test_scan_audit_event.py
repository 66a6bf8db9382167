"""A scan leaves one audit event, written by the library: the same from Python as from the CLI."""

from __future__ import annotations

from veil.audit.log import AuditLog
from veil.cli.main import main
from veil.discovery.scan import SCAN_ACTION, SCAN_LEGAL_BASIS, record_scan, scan_source
from veil.sample import write_sample

_SAME = ("action", "purpose", "legal_basis", "outcome", "data_categories", "counts", "digests")


def _last(workspace):
    log = AuditLog(workspace)
    return log.get(log.head().size - 1).event


def test_python_scan_writes_the_cli_event(workspace) -> None:
    from veil.cli import scan as scan_cli
    from veil.cli.main import app

    if not any(c.name == "scan" for c in app.registered_commands):
        scan_cli.register(app)
    write_sample("tx.csv", 300, seed=2)
    assert main(["scan", "tx.csv", "--json"]) == 0
    from_cli = _last(workspace)
    size = AuditLog(workspace).head().size
    result = scan_source("tx.csv", workspace=workspace)
    assert AuditLog(workspace).head().size == size + 1  # one event per scan
    from_python = _last(workspace)
    for name in _SAME:
        assert getattr(from_python, name) == getattr(from_cli, name), name
    assert from_python.details == from_cli.details
    assert from_python.action == SCAN_ACTION == "discovery.scan"
    assert from_python.legal_basis == SCAN_LEGAL_BASIS
    assert from_python.counts["rows"] == result.rows == 300
    assert from_python.counts["bytes"] == result.size
    assert from_python.details["source"] == "tx.csv" and from_python.details["kind"] == "table"


def test_event_holds_counts_not_values(workspace) -> None:
    write_sample("tx.csv", 200, seed=3)
    before = AuditLog(workspace).head().size
    result = scan_source("tx.csv")
    assert AuditLog(workspace).head().size == before  # no workspace given: nothing recorded
    index = record_scan(workspace, result, actor="dpo", source_name="upload.csv", size_bytes=7)
    event = AuditLog(workspace).get(index).event
    assert event.actor == "dpo" and event.details["source"] == "upload.csv"
    assert event.counts["bytes"] == 7 and event.counts["pii_columns"] >= 10
    assert "account" in event.data_categories and not event.subjects
    text = str(event)
    for column in result.report.columns:
        for hit in column.types:
            for example in hit.examples:
                assert example not in text  # not even the masked examples


def test_text_file_scan_is_recorded_with_lines_and_spans(workspace, tmp_path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("Call Anna Schmidt on +49 30 901820\nnothing here\n", "utf-8")
    result = scan_source(notes)
    record_scan(str(workspace.root), result)  # a workspace folder works too
    event = _last(workspace)
    assert event.details["kind"] == "text" and event.counts["rows"] == 2
    assert event.counts["spans"] == result.spans_total >= 1
    assert "Schmidt" not in str(event)
