"""The run end to end through the library: minimization, receipt, store, failure modes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import veil
from veil.errors import InputError, PolicyError
from veil.store.schema import runs

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: cid
    on_bad_rows: %s
    fields:
      cid: direct_identifier
      name: direct_identifier
      amount: {category: transaction, type: float}
      when: {category: transaction, type: timestamp}
purposes:
  scoring:
    description: d
    legal_basis: contract
    retention: 2 years
    datasets:
      tx:
        fields:
          amount: keep
          when: keep
          name: drop
"""

CSV = "cid,name,amount,when,undeclared\n" + "".join(
    f"C{i},Person {i},{i}.5,2024-01-0{1 + i % 9}T10:00:00Z,x{i}\n" for i in range(50))


@pytest.fixture
def files(workspace, tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "fail.yaml").write_text(POLICY % "fail")
    (tmp_path / "quarantine.yaml").write_text(POLICY % "quarantine")
    (tmp_path / "in.csv").write_text(CSV)
    return tmp_path


def test_minimization_receipt_and_store(files: Path, workspace) -> None:
    out = files / "out.parquet"
    result = veil.run(files / "fail.yaml", "scoring", files / "in.csv", out)
    table = veil.read(out)
    assert table.column_names == ["amount", "when"]  # deny by default: nothing else leaves
    assert table.num_rows == 50
    assert table.schema.field("amount").type == pa.float64()
    r = json.loads(result.receipt_path.read_text())
    assert r == result.receipt
    assert r["rows"] == {"in": 50, "out": 50, "dropped": {}}
    assert r["fields"]["kept"] == ["amount", "when"]
    dropped = {d["field"]: d["reason"] for d in r["fields"]["dropped"]}
    assert dropped == {
        "cid": "not needed for purpose 'scoring' (minimization)",
        "name": "dropped by purpose 'scoring' (treatment: drop)",
        "undeclared": "not declared in dataset 'tx' of the policy",
    }
    assert r["input"]["sha256"] == hashlib.sha256((files / "in.csv").read_bytes()).hexdigest()
    assert r["output"]["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert r["policy"]["sha256"] == hashlib.sha256((files / "fail.yaml").read_bytes()).hexdigest()
    assert r["purpose"]["legal_basis"] == "contract"
    with workspace.engine.connect() as c:
        row = c.execute(sa.select(runs).where(runs.c.id == result.run_id)).one()
    assert row.status == "succeeded" and row.rows_out == 50
    assert row.output_digest == r["output"]["sha256"]


def _published(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith("out")
            or p.name.startswith(".out")}


def test_bad_row_fails_the_run_names_the_line_and_publishes_nothing(files: Path,
                                                                   workspace) -> None:
    (files / "in.csv").write_text(CSV + "C99,Someone,lots,2024-01-01T00:00:00Z,x\n")
    with pytest.raises(InputError) as e:
        veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "out.parquet")
    assert str(e.value).startswith(f"{files / 'in.csv'}:52, column 'amount': not a number")
    assert "Someone" not in str(e.value) and "lots" not in str(e.value)
    assert _published(files) == set()
    with workspace.engine.connect() as c:
        row = c.execute(sa.select(runs)).one()
    assert row.status == "failed" and "not a number" in row.error


def test_quarantine_sets_rows_aside(files: Path) -> None:
    (files / "in.csv").write_text(CSV + "C99,Someone,lots,2024-01-01T00:00:00Z,x\nC100,short\n")
    result = veil.run(files / "quarantine.yaml", "scoring", files / "in.csv",
                      files / "out.parquet")
    assert result.rows_out == 50 and result.rows_in == 52
    assert result.receipt["rows"]["dropped"] == {"rejected: bad input": 2}
    lines = [json.loads(x) for x in result.rejects_path.read_text().splitlines()]
    assert {(x["line"], x["column"]) for x in lines} == {(52, "amount"), (53, None)}


def test_unknown_purpose(files: Path) -> None:
    with pytest.raises(PolicyError) as e:
        veil.run(files / "fail.yaml", "nope", files / "in.csv", files / "out.parquet")
    assert str(e.value).endswith("unknown purpose 'nope' (known: scoring)")
    assert _published(files) == set()


def test_policy_field_missing_from_data(files: Path) -> None:
    (files / "in.csv").write_text("cid,name,amount\nC1,A,1\n")
    with pytest.raises(InputError, match="field when required by purpose 'scoring'"):
        veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "out.parquet")


def test_other_sources_give_the_same_output(files: Path) -> None:
    pd = pytest.importorskip("pandas")
    base = veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "a.parquet")
    expected = veil.read(base.output)
    frame = pd.read_csv(files / "in.csv")
    for i, src in enumerate([frame, expected.to_pandas()]):
        if i == 1:
            src = pd.concat([src, frame[["cid", "name"]]], axis=1)
        r = veil.run(files / "fail.yaml", "scoring", src, files / f"df{i}.parquet")
        assert veil.read(r.output).equals(expected)
    jl = files / "in.jsonl"
    jl.write_text("".join(json.dumps(row) + "\n" for row in frame.astype(str).to_dict("records")))
    r = veil.run(files / "fail.yaml", "scoring", jl, files / "j.parquet")
    assert veil.read(r.output).equals(expected)
    pq.write_table(pa.Table.from_pandas(frame), files / "in.parquet")
    r = veil.run(files / "fail.yaml", "scoring", files / "in.parquet", files / "p.parquet")
    assert veil.read(r.output).equals(expected)


def test_database_table_input(files: Path) -> None:
    url = f"sqlite:///{files / 'src.db'}"
    eng = sa.create_engine(url)
    with eng.begin() as c:
        c.execute(sa.text('CREATE TABLE tx (cid TEXT PRIMARY KEY, name TEXT, amount REAL, '
                          '"when" TEXT)'))
        c.execute(sa.text("INSERT INTO tx VALUES ('C1', 'A', 1.5, '2024-01-01T00:00:00Z')"))
    eng.dispose()
    r = veil.run(files / "fail.yaml", "scoring", url, files / "db.parquet", table="tx")
    assert veil.read(r.output).to_pylist()[0]["amount"] == 1.5


def test_run_is_in_the_audit_log_and_the_receipt_quotes_the_head(files: Path, workspace) -> None:
    from veil.audit.log import AuditLog

    result = veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "out.parquet")
    a = result.receipt["audit"]
    log = AuditLog(workspace)
    assert log.verify().size == a["tree_size"] == a["last_index"] + 1
    events = [log.get(i).event for i in range(a["first_index"], a["last_index"] + 1)]
    assert [e.action for e in events] == ["policy.version", "run.stage.minimize",
                                          "run.stage.transform", "run"]
    again = veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "o2.parquet")
    assert again.receipt["audit"]["last_index"] - again.receipt["audit"]["first_index"] == 2
    run_event = events[-1]
    assert run_event.outcome == "success" and run_event.purpose == "scoring"
    assert run_event.counts["rows_out"] == 50
    assert run_event.digests["output"] == "sha256:" + result.receipt["output"]["sha256"]
    assert run_event.details["run_id"] == result.run_id
    assert log.signed_head(a["tree_size"]).root.hex() == a["root"]
    assert "Person" not in repr([e.to_json_obj() for e in events])  # no values in events

    (files / "in.csv").write_text(CSV + "C99,Someone,lots,2024-01-01T00:00:00Z,x\n")
    with pytest.raises(InputError):
        veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "out2.parquet")
    failed = log.get(log.head().size - 1).event
    assert failed.action == "run" and failed.outcome == "failure"
    assert failed.details["error"] == "input error"


def test_output_is_encrypted_at_rest_unless_the_purpose_says_otherwise(files: Path) -> None:
    result = veil.run(files / "fail.yaml", "scoring", files / "in.csv", files / "enc.parquet")
    enc = result.receipt["output"]["encryption"]
    assert enc["format"] == "tink-aes-gcm-hkdf-streaming"
    assert enc["associated_data"] == f"veil:run-output:v1:{result.run_id}"
    with pytest.raises(pa.ArrowInvalid):
        pq.read_table(files / "enc.parquet")  # ciphertext, not Parquet
    assert veil.read(files / "enc.parquet").num_rows == 50
    plain = (POLICY % "fail").replace("    retention: 2 years\n",
                                      "    retention: 2 years\n    encryption: {at_rest: false}\n")
    (files / "plain.yaml").write_text(plain)
    result = veil.run(files / "plain.yaml", "scoring", files / "in.csv", files / "p.parquet")
    assert result.receipt["output"]["encryption"] is None
    assert pq.read_table(files / "p.parquet").num_rows == 50
