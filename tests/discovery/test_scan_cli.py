"""`veil scan` end to end, as a user runs it: masked output only, JSON, policy drafts, bad input."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from veil.cli import scan as scan_cli
from veil.cli.main import app, main
from veil.discovery.policy_draft import fill_controller
from veil.errors import PolicyError
from veil.pipeline.plan import check_treatments
from veil.policy import parse_policy
from veil.sample import write_sample

if not any(c.name == "scan" for c in app.registered_commands):
    scan_cli.register(app)  # what the lead's main.py does


def veil(*args: str) -> int:
    return main([str(a) for a in args])


@pytest.fixture(autouse=True)
def _wide(monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")  # no wrapped cells in captured output


@pytest.fixture(scope="module")
def sample_csv(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("cli") / "tx.csv"
    write_sample(p, 2000, seed=9)
    return p


IDENTIFIER_COLUMNS = (
    "iban",
    "card_number",
    "email",
    "phone",
    "national_id",
    "vat_number",
    "full_name",
    "ip_address",
    "street_address",
)


def _identifiers(path: Path) -> set[str]:
    t = pacsv.read_csv(path)
    out: set[str] = set()
    for c in IDENTIFIER_COLUMNS:
        for v in t.column(c).to_pylist():
            if v:
                v = str(v)
                out.add(v)
                out.add(re.sub(r"[\s\-.]", "", v))
    return {v for v in out if len(v) >= 6}


def _leaks(text: str, identifiers: set[str]) -> list[str]:
    compact = re.sub(r"[\s\-.]", "", text)
    return sorted(
        v
        for v in identifiers
        if v in text or re.sub(r"[\s\-.]", "", v) in compact and any(ch.isdigit() for ch in v)
    )


def test_scan_table_output_is_masked(sample_csv: Path, capsys) -> None:
    assert veil("scan", sample_csv) == 0
    out = capsys.readouterr().out
    for column, found in [
        ("full_name", "person"),
        ("iban", "iban 100%"),
        ("card_number", "card 100%"),
        ("email", "email 100%"),
        ("memo", "free text: person"),
    ]:
        line = next(ln for ln in out.splitlines() if f" {column} " in ln)
        assert found in line, line
    assert "15 of 29 columns hold personal data" in out  # the town column too
    assert re.search(r" [A-Z]{2}\*{10,}\d\d ", out)  # a masked IBAN example
    assert _leaks(out, _identifiers(sample_csv)) == []


def test_scan_json_schema(sample_csv: Path, capsys) -> None:
    assert veil("scan", sample_csv, "--json") == 0
    raw = capsys.readouterr().out
    doc = json.loads(raw)
    assert doc["veil_scan"] == 1 and doc["kind"] == "table" and doc["mode"] == "full"
    assert doc["source"]["format"] == "csv" and len(doc["source"]["sha256"]) == 64
    assert doc["rows_scanned"] == 2000 and doc["skipped"] == {"count": 0, "listed": 0, "rows": []}
    assert set(doc["pii_columns"]) >= {"iban", "card_number", "email", "memo"}
    assert doc["suggested_rules"]["card_number"] == "mask"
    cols = {c["name"]: c for c in doc["columns"]}
    assert len(cols) == 29
    for c in cols.values():
        assert {
            "name",
            "arrow_type",
            "rows",
            "non_null",
            "blank",
            "pii",
            "top_type",
            "types",
            "category",
            "rule",
            "confidence",
            "free_text",
            "embedded",
            "embedded_examples",
            "field_type",
            "notes",
        } <= set(c)
    iban = cols["iban"]["types"][0]
    assert iban["type"] == "iban" and iban["share"] == 1.0 and len(iban["examples"]) == 2
    assert {
        "share",
        "rows",
        "confidence",
        "recognizers",
        "validators",
        "examples",
        "name_support",
    } <= set(iban)
    assert cols["amount"]["field_type"] == "float" and not cols["amount"]["pii"]
    assert cols["memo"]["free_text"] and cols["memo"]["embedded"]["person"] > 0
    assert _leaks(raw, _identifiers(sample_csv)) == []


def test_policy_draft_loads_once_the_controller_is_filled(
    sample_csv: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "draft.yaml"
    assert veil("scan", sample_csv, "--sample", "1000", "--policy-draft", out) == 0
    assert "Wrote a starter policy" in capsys.readouterr().err
    draft = out.read_text()
    with pytest.raises(PolicyError, match="controller"):
        parse_policy(draft, source=str(out))
    pol = parse_policy(fill_controller(draft, "Example Bank SE", "dpo@example.eu"))
    check_treatments(pol)  # every uncommented treatment exists
    ds = pol.datasets["tx"]
    assert ds.subject_id == "customer_id"
    f = ds.fields
    assert f["iban"].category == "account" and f["card_number"].category == "card"
    assert f["full_name"].category == "direct_identifier" and f["memo"].category == "free_text"
    assert f["birth_date"].type == "date" and f["birth_date"].quasi_identifier
    assert f["postcode"].quasi_identifier and not f["iban"].quasi_identifier
    assert f["amount"].type == "float" and f["transaction_time"].type == "timestamp"
    kept = set(pol.purposes["todo_purpose"].datasets["tx"].fields)
    assert "amount" in kept and not kept & {"iban", "full_name", "card_number", "memo"}
    assert "# iban: pseudonymize" in draft and "# card_number: mask" in draft
    # never over an existing file
    assert veil("scan", sample_csv, "--policy-draft", out) == 4
    assert "already exists" in capsys.readouterr().err


def test_policy_recognizers_are_used(tmp_path: Path, capsys) -> None:
    pol = tmp_path / "policy.yaml"
    pol.write_text(
        "version: 1\ncontroller: {name: B, contact: c@b.example}\n"
        "recognizers:\n  - {name: loyalty_no, pattern: 'LOY\\d{8}', category: direct_identifier}\n"
        "datasets: {d: {fields: {a: non_personal}}}\n"
        "purposes: {p: {description: x, legal_basis: contract, retention: 1 year, "
        "datasets: {d: {fields: {a: keep}}}}}\n"
    )
    data = tmp_path / "cards.csv"
    data.write_text("member,points\n" + "".join(f"LOY{10000000 + i * 7},{i}\n" for i in range(50)))
    assert veil("scan", data, "--policy", pol, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    member = next(c for c in doc["columns"] if c["name"] == "member")
    assert member["top_type"] == "loyalty_no" and doc["user_recognizers"] == ["loyalty_no"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(pol.read_text().replace("'LOY\\d{8}'", "'LOY(\\d{8}'"))
    assert veil("scan", data, "--policy", bad) == 3
    assert "bad.yaml:4" in capsys.readouterr().err


def test_text_file_prints_line_col_type_masked(tmp_path: Path, capsys) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("Call Dr. Anna Schmidt on +49 30 901820\nIBAN DE89370400440532013000 paid\n")
    assert veil("scan", p) == 0
    out = capsys.readouterr().out
    assert re.search(r"^1:10\s+person\s+A\*\*\* S\*{6}$", out, re.M), out
    assert re.search(r"^1:26\s+phone\s+\+\*\*", out, re.M)
    assert re.search(r"^2:6\s+iban\s+DE\*+00$", out, re.M)
    assert "DE89370400440532013000" not in out and "Schmidt" not in out
    assert veil("scan", p, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "text" and doc["counts"] == {"person": 1, "phone": 1, "iban": 1}
    assert {"line", "col", "length", "type", "score", "masked"} <= set(doc["spans"][0])


# -- bad input: a message naming the place, the scan goes on where it can ----------------------


def _rows(n: int) -> list[list[str]]:
    return [["name", "email", "iban"]] + [
        [f"Person {i}", f"p{i}@example.org", "GB82WEST12345698765432"] for i in range(n)
    ]


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def test_binary_file(tmp_path: Path, capsys) -> None:
    p = tmp_path / "dump.csv"
    p.write_bytes(bytes(range(256)) * 100)
    assert veil("scan", p) == 4
    err = capsys.readouterr().err
    assert f"{p}: binary data, not text" in err and "Traceback" not in err


def test_empty_file(tmp_path: Path, capsys) -> None:
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    assert veil("scan", p) == 4
    assert f"{p}: empty file (0 bytes): nothing to scan" in capsys.readouterr().err


def test_latin1_file_read_as_utf8(tmp_path: Path, capsys) -> None:
    rows = _rows(30)
    rows[3][0] = "Zoë Ångström"
    p = tmp_path / "latin1.csv"
    p.write_bytes(_csv_text(rows).encode("latin-1"))
    assert veil("scan", p) == 0
    out = capsys.readouterr().out
    assert "skipped 1 unreadable row(s); the scan went on" in out
    assert f"{p}:4: not valid utf-8 text" in out and "--encoding" in out
    assert re.search(r" email .*email 100%", out)


def test_ragged_rows(tmp_path: Path, capsys) -> None:
    rows = _rows(30)
    rows[7] = ["just", "two"]
    rows[12] = rows[12] + ["x"]
    p = tmp_path / "ragged.csv"
    p.write_text(_csv_text(rows))
    assert veil("scan", p, "--json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["rows_scanned"] == 28
    assert [(r["line"], r["reason"]) for r in doc["skipped"]["rows"]] == [
        (8, "expected 3 fields, found 2"),
        (13, "expected 3 fields, found 4"),
    ]
    assert veil("scan", p) == 0
    out = capsys.readouterr().out
    assert f"{p}:8: expected 3 fields, found 2" in out


def test_ten_megabyte_cell(tmp_path: Path, capsys) -> None:
    rows = _rows(20)
    rows[5][0] = "word " * 2_000_000
    p = tmp_path / "huge.csv"
    p.write_text(_csv_text(rows))
    assert veil("scan", p) == 0
    out = capsys.readouterr().out
    assert f"{p}:6, column 'name'" in out and "longer than 10,000 characters" in out
    assert re.search(r" iban .*iban 100%", out)


def test_usage_errors(sample_csv: Path, capsys) -> None:
    assert veil("scan", sample_csv, "--text-column", "nope") == 4
    assert "--text-column nope: no such column" in capsys.readouterr().err
    assert veil("scan", sample_csv, "--format", "xls") == 4
    assert veil("scan", sample_csv, "--encoding", "klingon") == 4
    assert "unknown encoding" in capsys.readouterr().err
    assert veil("scan", sample_csv, "--sample", "0") == 2


def test_scan_inside_a_workspace_is_audited(workspace, tmp_path) -> None:
    from veil.audit.log import AuditLog
    from veil.cli.main import main
    from veil.sample import write_sample

    write_sample("tx.csv", 300, seed=2)
    assert main(["scan", "tx.csv", "--json"]) == 0
    log = AuditLog(workspace)
    event = log.get(log.head().size - 1).event
    assert event.action == "discovery.scan" and event.counts["rows"] == 300
    assert event.legal_basis == "Art. 5(2), 30 and 35 accountability"
    assert event.counts["pii_columns"] >= 10 and "account" in event.data_categories
    assert event.digests["input"].startswith("sha256:")
