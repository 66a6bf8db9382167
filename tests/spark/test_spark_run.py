"""The Spark engine against the local engine on the same data: same rows (order aside), same
receipt figures, equivalent audit events; keys never in the closure or the plan."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("pyspark", reason="PySpark is not installed (pip install 'veil[spark]')")
if shutil.which("java") is None:
    pytest.skip("no Java runtime on PATH: Spark needs Java 17", allow_module_level=True)

import pyarrow.parquet as pq  # noqa: E402
import sqlalchemy as sa  # noqa: E402

import veil  # noqa: E402
from tests.spark.conftest import KEK_SECRET  # noqa: E402
from veil.errors import InputError  # noqa: E402

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: customer_id
    on_bad_rows: BAD
    fields:
      customer_id: direct_identifier
      full_name: direct_identifier
      iban: account
      country: {category: location, quasi_identifier: true}
      employment_status: {category: employment, quasi_identifier: true}
      amount: {category: transaction, type: float}
      transaction_time: {category: transaction, type: timestamp}
      merchant_category: transaction
      memo: free_text
purposes:
  offers:
    description: offers to customers who opted in
    legal_basis: consent
    retention: 1 year
    datasets:
      tx:
        fields:
          customer_id: {transform: pseudonymize, length: 16, prefix: o_}
          iban: tokenize
          memo: redact_text
          country: keep
          amount: keep
          transaction_time: {transform: generalize, method: month}
          merchant_category: keep
"""

RISK_POLICY = """\
version: 1
controller: {name: Test Bank, contact: dpo@example.com}
datasets:
  people:
    subject_id: id
    fields:
      id: {category: direct_identifier}
      sex: {category: demographic, quasi_identifier: true}
      age: {category: demographic, type: integer, quasi_identifier: true}
      race: {category: racial_ethnic_origin, quasi_identifier: true}
      education: {category: demographic, quasi_identifier: true}
      salary: {category: income_credit, sensitive: true}
    risk:
      min_k: 5
      l_diversity: {attribute: salary, l: 2}
      suppression_limit: 4%
      auto_generalize: true
      hierarchies:
        age: h/age.csv
        education: h/education.csv
purposes:
  research:
    description: statistics
    legal_basis: legitimate_interests
    legitimate_interest: research
    special_categories_condition: j   # Art. 9(2)(j): statistics (race is Art. 9 data)
    retention: 1 year
    datasets:
      people:
        fields: {sex: keep, age: keep, race: keep, education: keep, salary: keep}
"""


@pytest.fixture
def ws(tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    """A SQLite workspace with the session's environment KEK."""
    from veil.store.workspace import init_workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    monkeypatch.setenv("VEIL_KEK", KEK_SECRET)
    w, _ = init_workspace(tmp_path / "ws")
    monkeypatch.chdir(w.root)
    yield w
    w.close()


def _veil_sample(*args: str) -> None:
    """`veil sample` through the entry point, in this process (tests/sample covers it)."""
    from veil.cli.main import main

    assert main(["sample", *args]) == 0


def _sample(folder: Path, rows: int = 2500) -> Path:
    _veil_sample("--rows", str(rows), "--seed", "3", "-o", str(folder / "tx.parquet"),
                 "--consents", str(folder / "consents.csv"))
    return folder / "tx.parquet"


def _rows(path: Path) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, default=str) for r in veil.read(path).to_pylist())


def _audit(ws: Any, run_id: str) -> list[str]:
    """The run's audit events without what differs by nature (time, run id, digests)."""
    from veil.audit.log import AuditLog

    out = []
    for e in AuditLog(ws).events():
        ev = json.loads(e.data)
        details = ev.get("details") or {}
        if details.get("run_id") == run_id and ev["action"] != "policy.version":
            ev.pop("time", None)
            ev.pop("digests", None)
            details.pop("run_id")
            out.append(json.dumps(ev, sort_keys=True))
    return sorted(out)


def _same_receipt(local: dict[str, Any], remote: dict[str, Any]) -> None:
    assert remote["rows"] == local["rows"]
    assert remote["fields"] == local["fields"]  # includes each key's id: the same keys
    assert [(s["stage"], s["rows_in"], s["rows_out"]) for s in remote["stages"]] == [
        (s["stage"], s["rows_in"], s["rows_out"]) for s in local["stages"]]
    assert remote["lineage"] == local["lineage"]
    assert remote.get("exclusions") == local.get("exclusions")
    assert remote["output"]["columns"] == local["output"]["columns"]
    assert remote["output"]["encryption"]["format"] == local["output"]["encryption"]["format"]
    assert remote["engine"]["name"] == "spark"


def test_consent_rights_and_keyed_transforms_match_the_local_run(ws, tmp_path: Path,
                                                                 spark) -> None:
    from veil.consent.interchange import import_csv
    from veil.consent.ledger import Ledger
    from veil.consent.models import SubjectRef
    from veil.rights.exclusions import add_exclusions
    from veil.spark import run
    from veil.transforms.subject_encrypt import subject_tokens

    data = _sample(tmp_path)
    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail"))
    policy = veil.load_policy(tmp_path / "p.yaml")
    consents = (tmp_path / "consents.csv").read_text().replace("personalised_offers", "offers")
    (tmp_path / "consents.csv").write_text(consents)
    import_csv(Ledger(ws, policy), tmp_path / "consents.csv")
    granted = [line.split(",")[0] for line in consents.splitlines()[1:] if ",granted," in line]
    with ws.engine.begin() as conn:  # two customers erased: their rows must go too
        for sid in granted[:2]:
            tok = subject_tokens(SubjectRef(ws.root), [sid.encode()])[0]
            add_exclusions(conn, tok, "erased", ["offers"], None)

    local = veil.run(policy, "offers", data, tmp_path / "local.parquet")
    df = spark.read.parquet(str(data)).repartition(3)
    remote = run(df, policy, "offers", tmp_path / "spark.parquet", spark=spark)

    assert remote.rows_out == local.rows_out > 0
    assert local.receipt["rows"]["dropped"]["no consent"] > 0
    assert local.receipt["rows"]["dropped"]["excluded: subject erased (Art. 17)"] > 0
    assert _rows(remote.output) == _rows(local.output)
    _same_receipt(local.receipt, remote.receipt)
    assert remote.receipt["engine"]["partitions"] == 3
    with pytest.raises(Exception):  # noqa: B017 - encrypted at rest, like the local output
        pq.read_table(remote.output)
    assert _audit(ws, remote.run_id) == _audit(ws, local.run_id)
    from veil.lineage import Lineage

    lin = Lineage(ws)
    some = next(r for r in veil.read(tmp_path / "local.parquet").to_pylist())
    assert some  # lineage: a subject kept by both runs is found in both outputs
    kept = [s for s in granted[2:]][:50]
    found = {o.run_id for sid in kept for o in lin.subject(sid).outputs}
    assert {local.run_id, remote.run_id} <= found


def test_the_risk_gate_gives_the_same_figures(ws, tmp_path: Path, conformance_dir: Path,
                                              spark) -> None:
    from veil.spark import run

    adult = conformance_dir / "adult"
    (tmp_path / "h").mkdir()
    for q in ("age", "education"):
        (tmp_path / "h" / f"{q}.csv").write_text((adult / f"adult_hierarchy_{q}.csv").read_text())
    lines = (adult / "adult.csv").read_text().splitlines()[1:]
    rows = ["id,sex,age,race,education,salary"]
    for i, line in enumerate(lines, start=1):
        sex, age, race, _ms, edu, _nc, _wc, _occ, salary = line.split(";")
        rows.append(f"{i},{sex},{age},{race},{edu},{salary}")
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n")
    (tmp_path / "p.yaml").write_text(RISK_POLICY)

    local = veil.run(tmp_path / "p.yaml", "research", tmp_path / "people.csv",
                     tmp_path / "local.parquet")
    remote = run(tmp_path / "people.csv", tmp_path / "p.yaml", "research",
                 tmp_path / "spark.parquet", spark=spark)
    a, b = local.receipt["risk"], remote.receipt["risk"]
    assert a["outcome"] == "generalized"
    for key in ("outcome", "rows", "checks_before", "checks_after", "before", "after",
                "information_loss", "suppressed_records", "quasi_identifiers", "models"):
        assert b[key] == a[key], key
    assert b["transformation"]["levels"] == a["transformation"]["levels"]
    assert remote.receipt["rows"] == local.receipt["rows"]
    assert remote.receipt["input"]["sha256"] == local.receipt["input"]["sha256"]  # the file's
    assert _rows(remote.output) == _rows(local.output)


def test_no_key_in_the_closure_or_the_plan(ws, tmp_path: Path, spark, monkeypatch) -> None:
    from pyspark import cloudpickle

    import veil.spark.engine as engine
    from veil.keys.manager import KeyManager
    from veil.spark import run
    from veil.transforms.keys import workspace_keys

    data = _sample(tmp_path, 500)
    policy = POLICY.replace("BAD", "fail").replace("legal_basis: consent",
                                                   "legal_basis: contract")
    (tmp_path / "p.yaml").write_text(policy)
    jobs: list[Any] = []
    frames: list[Any] = []
    real_post_init = engine.PartitionJob.__post_init__
    real_batches = engine.arrow_batches

    def post_init(self) -> None:  # type: ignore[no-untyped-def]
        jobs.append(self)
        real_post_init(self)

    def batches(df):  # type: ignore[no-untyped-def]
        frames.append(df)
        return real_batches(df)

    monkeypatch.setattr(engine.PartitionJob, "__post_init__", post_init)
    monkeypatch.setattr(engine, "arrow_batches", batches)
    first = run(spark.read.parquet(str(data)), tmp_path / "p.yaml", "offers",
                tmp_path / "out.parquet", spark=spark)

    keys = workspace_keys(ws)
    cipher = keys.token_cipher("offers")
    secrets = [keys.hmac_key("offers"), base64.b64decode(__import__("os").environ["VEIL_KEK"])]
    for ks in (cipher.keyset, KeyManager(ws).keyset(f"output.{first.run_id}")):
        secrets.append(ks.primary.material.key_value)  # type: ignore[union-attr]
    pickled = cloudpickle.dumps(jobs[0])
    plan = frames[-1]._jdf.queryExecution().toString()
    assert len(pickled) > 1000 and "MapInArrow" in plan.replace(" ", "")
    for s in secrets:
        for form in (s, s.hex().encode(), base64.b64encode(s)):
            assert form not in pickled
            assert form.decode("latin-1") not in plan
    assert "wrapped" not in repr(jobs[0].keys) and "KeysetTransformKeys" not in repr(jobs[0])

    # parts mode: the executors encrypt their parts, yet the closure holds the output keyset
    # only wrapped under the KEK, and no key
    run(spark.read.parquet(str(data)), tmp_path / "p.yaml", "offers",
        tmp_path / "out.parts", spark=spark, parts=True)
    assert jobs[-1].parts is not None and jobs[-1].parts.keyset is not None
    pickled = cloudpickle.dumps(jobs[-1])
    plan = frames[-1]._jdf.queryExecution().toString()
    assert jobs[-1].parts.keyset.wrapped.wrapped in pickled  # what the executor unwraps
    for s in secrets:
        for form in (s, s.hex().encode(), base64.b64encode(s)):
            assert form not in pickled
            assert form.decode("latin-1") not in plan
    assert "wrapped" not in repr(jobs[-1].parts.keyset)


def test_a_bad_value_fails_the_run_names_the_place_and_publishes_nothing(ws, tmp_path: Path,
                                                                        spark) -> None:
    from veil.spark import run

    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail").replace(
        "legal_basis: consent", "legal_basis: contract"))
    rows = [("C1", "Ann", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food", "hi", "DE00")] * 3
    rows.append(("C2", "Bob", "DE", "x", "lots", "2024-01-01T00:00:00Z", "food", "hi", "DE00"))
    df = spark.createDataFrame(rows, ["customer_id", "full_name", "country",
                                      "employment_status", "amount", "transaction_time",
                                      "merchant_category", "memo", "iban"]).coalesce(1)
    with pytest.raises(InputError) as err:
        run(df, tmp_path / "p.yaml", "offers", tmp_path / "out.parquet", spark=spark)
    assert "row 4" in str(err.value) and "column 'amount'" in str(err.value)
    assert "lots" not in str(err.value) and "Bob" not in str(err.value)
    assert not (tmp_path / "out.parquet").exists()
    assert not list(tmp_path.glob(".out.parquet*"))
    from veil.store.schema import runs

    with ws.engine.connect() as conn:
        status = conn.execute(sa.select(runs.c.status)).scalars().all()
    assert status == ["failed"]


def test_quarantine_sets_bad_rows_aside(ws, tmp_path: Path, spark) -> None:
    from veil.spark import run

    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "quarantine").replace(
        "legal_basis: consent", "legal_basis: contract"))
    rows = [("C1", "Ann", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food", "hi", "DE00")] * 3
    rows.append(("C2", "Bob", "DE", "x", "lots", "2024-01-01T00:00:00Z", "food", "hi", "DE00"))
    df = spark.createDataFrame(rows, ["customer_id", "full_name", "country",
                                      "employment_status", "amount", "transaction_time",
                                      "merchant_category", "memo", "iban"])
    result = run(df, tmp_path / "p.yaml", "offers", tmp_path / "out.parquet", spark=spark)
    assert result.receipt["rows"] == {"in": 4, "out": 3, "dropped": {"rejected: bad input": 1}}
    assert result.rejects_path is not None
    assert "lots" in result.rejects_path.read_text()  # the raw row goes to the rejects file only


def test_scan_gives_the_local_report(tmp_path: Path, spark) -> None:
    from veil.discovery.scan import scan_source
    from veil.spark import scan

    data = _sample(tmp_path, 1500)
    local = scan_source(pq.read_table(data)).to_dict()
    remote = scan(spark.read.parquet(str(data))).to_dict()
    for key in ("source", "seconds", "rows_per_second", "notes"):
        local.pop(key, None)
        remote.pop(key, None)
    assert remote == local
    assert any(c.get("category") for c in remote["columns"])


def test_cli_engine_spark_matches_the_local_engine(ws, tmp_path: Path, spark) -> None:
    from typer.testing import CliRunner

    from veil.cli.main import app

    _veil_sample("--rows", "1000", "-o", str(tmp_path / "tx.csv"))
    out = {}
    for engine in ("local", "spark"):
        res = CliRunner().invoke(app, ["run", "--engine", engine, "--policy", "sample",
                                       "--purpose", "credit_scoring", str(tmp_path / "tx.csv"),
                                       "-o", str(tmp_path / f"{engine}.parquet"), "--json"])
        assert res.exit_code == 0, res.output
        out[engine] = json.loads(res.output[res.output.index("{"):])
    assert out["spark"]["engine"]["name"] == "spark"
    assert out["spark"]["input"]["sha256"] == out["local"]["input"]["sha256"]
    assert out["spark"]["rows"] == out["local"]["rows"]
    assert _rows(tmp_path / "spark.parquet") == _rows(tmp_path / "local.parquet")
    bad = CliRunner().invoke(app, ["run", "--engine", "flink", "--policy", "sample",
                                   "--purpose", "credit_scoring", str(tmp_path / "tx.csv"),
                                   "-o", str(tmp_path / "x.parquet")])
    assert bad.exit_code != 0 and "unknown --engine 'flink'" in str(bad.exception)


# ---------------------------------------------------------------------------------------------
# parts mode: every task writes (and encrypts) its own part; the driver writes the manifest


def _adult(tmp_path: Path, conformance_dir: Path) -> Path:
    adult = conformance_dir / "adult"
    (tmp_path / "h").mkdir(exist_ok=True)
    for q in ("age", "education"):
        (tmp_path / "h" / f"{q}.csv").write_text((adult / f"adult_hierarchy_{q}.csv").read_text())
    rows = ["id,sex,age,race,education,salary"]
    for i, line in enumerate((adult / "adult.csv").read_text().splitlines()[1:], start=1):
        sex, age, race, _ms, edu, _nc, _wc, _occ, salary = line.split(";")
        rows.append(f"{i},{sex},{age},{race},{edu},{salary}")
    (tmp_path / "people.csv").write_text("\n".join(rows) + "\n")
    return tmp_path / "people.csv"


def test_parts_mode_gives_the_local_and_single_file_rows_and_receipt(ws, tmp_path: Path,
                                                                    spark) -> None:
    import hashlib

    from typer.testing import CliRunner

    from veil.cli.main import app
    from veil.consent.interchange import import_csv
    from veil.consent.ledger import Ledger
    from veil.spark import run

    data = _sample(tmp_path, 2000)
    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail"))
    policy = veil.load_policy(tmp_path / "p.yaml")
    consents = (tmp_path / "consents.csv").read_text().replace("personalised_offers", "offers")
    (tmp_path / "consents.csv").write_text(consents)
    import_csv(Ledger(ws, policy), tmp_path / "consents.csv")

    local = veil.run(policy, "offers", data, tmp_path / "local.parquet")
    df = spark.read.parquet(str(data)).repartition(3)
    single = run(df, policy, "offers", tmp_path / "spark.parquet", spark=spark)
    parts = run(df, policy, "offers", str(tmp_path / "spark.parts") + "/", spark=spark)

    folder = tmp_path / "spark.parts"
    assert parts.output == folder and folder.is_dir()
    assert sorted(f.name for f in folder.iterdir()) == [
        "_manifest.json", "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    assert not list(tmp_path.glob(".spark.parts*"))  # the temporary folder was renamed
    assert local.receipt["rows"]["dropped"]["no consent"] > 0
    assert _rows(folder) == _rows(single.output) == _rows(local.output)
    _same_receipt(local.receipt, parts.receipt)
    _same_receipt(single.receipt, parts.receipt)
    rec = parts.receipt
    assert rec["engine"]["output"] == "parts" and rec["output"]["parts"] == 3
    manifest = (folder / "_manifest.json").read_bytes()
    assert rec["output"]["sha256"] == hashlib.sha256(manifest).hexdigest()
    doc = json.loads(manifest)
    assert doc["rows"] == rec["rows"]["out"] == sum(p["rows"] for p in doc["parts"])
    for p in doc["parts"]:  # each part encrypted at rest, with the digest on disk
        assert hashlib.sha256((folder / p["name"]).read_bytes()).hexdigest() == p["sha256"]
        with pytest.raises(Exception):  # noqa: B017 - not readable as plain Parquet
            pq.read_table(folder / p["name"])
    # each output under its own keyset (destroyed when the output is disposed of)
    assert rec["output"]["encryption"]["keyset"] == f"output.{parts.run_id}"
    assert single.receipt["output"]["encryption"]["keyset"] == f"output.{single.run_id}"
    assert parts.run_id in rec["output"]["encryption"]["associated_data"]
    assert _audit(ws, parts.run_id) == _audit(ws, single.run_id)
    from veil.lineage import Lineage

    granted = [line.split(",")[0] for line in consents.splitlines()[1:] if ",granted," in line]
    found = {o.run_id for sid in granted[:30] for o in Lineage(ws).subject(sid).outputs}
    assert {single.run_id, parts.run_id} <= found

    # `veil decrypt` on the folder: one plain Parquet file, the same rows
    res = CliRunner().invoke(app, ["decrypt", str(folder), str(tmp_path / "plain.parquet")])
    assert res.exit_code == 0, res.output
    assert sorted(json.dumps(r, sort_keys=True, default=str)
                  for r in pq.read_table(tmp_path / "plain.parquet").to_pylist()) == _rows(folder)


def test_a_tampered_missing_swapped_or_extra_part_is_detected(ws, tmp_path: Path,
                                                              spark) -> None:
    from typer.testing import CliRunner

    from veil.cli.main import app
    from veil.crypto.errors import CryptoError, TamperedError

    _veil_sample("--rows", "600", "-o", str(tmp_path / "tx.csv"))
    # (a CSV is spread over 2 x cores partitions: several parts)
    res = CliRunner().invoke(app, ["run", "--engine", "spark", "--parts", "--policy", "sample",
                                   "--purpose", "credit_scoring", str(tmp_path / "tx.csv"),
                                   "-o", str(tmp_path / "out.parts")])
    assert res.exit_code == 0, res.output
    good = tmp_path / "out.parts"
    receipt = tmp_path / "out.parts.receipt.json"
    rows = _rows(good)
    doc = json.loads((good / "_manifest.json").read_text())
    names = [p["name"] for p in doc["parts"]]
    assert len(names) >= 2 and len(rows) == doc["rows"] > 0

    def copy(tag: str) -> Path:
        dst = tmp_path / f"{tag}.parts"
        shutil.copytree(good, dst)
        shutil.copy(receipt, tmp_path / f"{tag}.parts.receipt.json")
        return dst

    flipped = copy("flipped")
    blob = bytearray((flipped / names[1]).read_bytes())
    blob[len(blob) // 2] ^= 1
    (flipped / names[1]).write_bytes(bytes(blob))
    with pytest.raises(TamperedError, match="part altered"):
        veil.read(flipped)

    missing = copy("missing")
    (missing / names[0]).unlink()
    with pytest.raises(TamperedError, match="part missing"):
        veil.read(missing)
    bad = CliRunner().invoke(app, ["decrypt", str(missing), str(tmp_path / "x.parquet")])
    assert isinstance(bad.exception, TamperedError) and bad.exception.exit_code == 7
    assert not (tmp_path / "x.parquet").exists()

    extra = copy("extra")
    shutil.copy(extra / names[0], extra / "part-00099.parquet")
    with pytest.raises(TamperedError, match="not in the manifest"):
        veil.read(extra)

    # swap two parts and rewrite manifest and receipt to match: the per-part associated data
    # (run id and part name) still refuses them
    swapped = copy("swapped")
    a, b = swapped / names[0], swapped / names[1]
    a.rename(swapped / "tmp")
    b.rename(a)
    (swapped / "tmp").rename(b)
    d = json.loads((swapped / "_manifest.json").read_text())
    d["parts"][0]["sha256"], d["parts"][1]["sha256"] = (d["parts"][1]["sha256"],
                                                        d["parts"][0]["sha256"])
    d["parts"][0]["rows"], d["parts"][1]["rows"] = d["parts"][1]["rows"], d["parts"][0]["rows"]
    data = json.dumps(d).encode()
    (swapped / "_manifest.json").write_bytes(data)
    r = json.loads((tmp_path / "swapped.parts.receipt.json").read_text())
    r["output"]["sha256"] = __import__("hashlib").sha256(data).hexdigest()
    (tmp_path / "swapped.parts.receipt.json").write_text(json.dumps(r))
    with pytest.raises(CryptoError):
        veil.read(swapped)

    edited = copy("edited")  # a manifest the receipt does not record
    d = json.loads((edited / "_manifest.json").read_text())
    d["parts"] = d["parts"][1:]
    (edited / "_manifest.json").write_text(json.dumps(d))
    (edited / names[0]).unlink()
    with pytest.raises(TamperedError, match="manifest is not the one"):
        veil.read(edited)
    assert _rows(good) == rows  # the original still reads


def test_a_failed_parts_job_publishes_nothing(ws, tmp_path: Path, spark) -> None:
    from veil.spark import run

    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail").replace(
        "legal_basis: consent", "legal_basis: contract"))
    rows = [("C1", "Ann", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food", "hi", "DE00")] * 6
    rows.append(("C2", "Bob", "DE", "x", "lots", "2024-01-01T00:00:00Z", "food", "hi", "DE00"))
    df = spark.createDataFrame(rows, ["customer_id", "full_name", "country",
                                      "employment_status", "amount", "transaction_time",
                                      "merchant_category", "memo", "iban"]).repartition(2)
    with pytest.raises(InputError, match="column 'amount'"):
        run(df, tmp_path / "p.yaml", "offers", tmp_path / "out.parts", spark=spark, parts=True)
    assert not (tmp_path / "out.parts").exists()
    assert not list(tmp_path.glob(".out.parts*"))  # the temporary folder and its parts: gone
    assert not (tmp_path / "out.parts.receipt.json").exists()
    from veil.store.schema import runs

    with ws.engine.connect() as conn:
        assert conn.execute(sa.select(runs.c.status)).scalars().all() == ["failed"]


def test_parts_mode_risk_gate(ws, tmp_path: Path, conformance_dir: Path, spark) -> None:
    """The same risk figures when the data passes (the generalizing case:
    tests/spark/test_parts_gate.py)."""
    from veil.spark import run

    people = _adult(tmp_path, conformance_dir)
    passing = RISK_POLICY.replace("demographic, type: integer, quasi_identifier: true",
                                  "demographic, type: integer").replace(
        "education: {category: demographic, quasi_identifier: true}",
        "education: {category: demographic}").replace(
        "      hierarchies:\n        age: h/age.csv\n        education: h/education.csv\n", "")
    (tmp_path / "pass.yaml").write_text(passing)
    local = veil.run(tmp_path / "pass.yaml", "research", people, tmp_path / "local.parquet")
    remote = run(people, tmp_path / "pass.yaml", "research", tmp_path / "pass.parts",
                 spark=spark, parts=True)
    a, b = local.receipt["risk"], remote.receipt["risk"]
    assert a["outcome"] == b["outcome"] == "passed"
    for key in ("rows", "checks_before", "before", "quasi_identifiers", "models"):
        assert b[key] == a[key], key
    assert remote.receipt["rows"] == local.receipt["rows"]
    assert _rows(remote.output) == _rows(local.output)


ENCRYPT_POLICY = POLICY.replace("BAD", "fail").replace(
    "legal_basis: consent", "legal_basis: contract").replace(
    "          iban: tokenize\n", "          iban: tokenize\n          full_name: encrypt\n")


def _opened(ws: Any, path: Path) -> list[str]:
    """The output's rows with ``full_name`` decrypted by the subject's own key (the row's
    pseudonymized customer is no way back, so each row is tried against its input subject)."""
    from veil.keys.manager import KeyManager
    from veil.transforms.subject_encrypt import associated_data, decode

    keys = KeyManager(ws).subject_keys()
    rows = veil.read(path).to_pylist()
    out = []
    for r in rows:
        r["full_name"] = _open_one(keys, r["full_name"], associated_data("tx", "full_name"),
                                   decode)
        out.append(json.dumps(r, sort_keys=True, default=str))
    return sorted(out)


_TOKENS: dict[str, list[str]] = {}


def _open_one(keys: Any, value: str, aad: bytes, decode: Any) -> str:
    for tok in _TOKENS["all"]:
        try:
            return keys.decrypt(tok, decode(value), aad).decode()  # type: ignore[no-any-return]
        except Exception:  # noqa: BLE001,S112 - another subject's key: try the next
            continue
    raise AssertionError("no subject key opens the value")


def test_encrypt_runs_on_executors_and_erasure_shreds_it(ws, tmp_path: Path, spark) -> None:
    """Per-subject keys on executors: the same rows as the local run once decrypted, the same
    receipt; after erasure the subject's values no longer open."""
    from veil.consent.models import SubjectRef
    from veil.crypto.errors import ErasedError
    from veil.keys.manager import KeyManager
    from veil.spark import run
    from veil.transforms.subject_encrypt import associated_data, decode, subject_tokens

    (tmp_path / "p.yaml").write_text(ENCRYPT_POLICY)
    rows = [(f"C{i % 5}", f"Name {i % 5}", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food",
             "hi", "DE00") for i in range(40)]
    cols = ["customer_id", "full_name", "country", "employment_status", "amount",
            "transaction_time", "merchant_category", "memo", "iban"]
    pq.write_table(__import__("pyarrow").Table.from_pylist(
        [dict(zip(cols, r, strict=True)) for r in rows]), tmp_path / "in.parquet")
    ids = sorted({r[0] for r in rows})
    _TOKENS["all"] = subject_tokens(SubjectRef(ws.root), [i.encode() for i in ids])
    local = veil.run(tmp_path / "p.yaml", "offers", tmp_path / "in.parquet",
                     tmp_path / "local.parquet")
    remote = run(spark.createDataFrame(rows, cols).repartition(2), tmp_path / "p.yaml",
                 "offers", tmp_path / "spark.parquet", spark=spark)
    assert _opened(ws, remote.output) == _opened(ws, local.output)
    _same_receipt(local.receipt, remote.receipt)

    KeyManager(ws).shred_subjects([_TOKENS["all"][0]])
    keys = KeyManager(ws).subject_keys()
    value = veil.read(remote.output).to_pylist()
    sealed = [decode(r["full_name"]) for r in value]
    aad = associated_data("tx", "full_name")
    erased = 0
    for c in sealed:
        try:
            keys.decrypt(_TOKENS["all"][0], c, aad)
        except ErasedError:
            erased += 1
            break
        except Exception:  # noqa: BLE001,S112 - another subject's value
            continue
    assert erased == 1


def test_an_executor_without_the_kek_fails_the_run_and_publishes_nothing(
        ws, tmp_path: Path, spark, monkeypatch) -> None:
    import dataclasses

    import veil.spark.subject_bundle as bundle
    from veil.crypto.errors import KeyMissingError
    from veil.spark import run

    real = bundle.KeysConfig.from_workspace

    class _Cfg:  # the executors' environment has no such variable
        @staticmethod
        def from_workspace(root: Path) -> Any:
            return dataclasses.replace(real(root), variable="VEIL_KEK_NOT_ON_EXECUTORS")

    monkeypatch.setattr(bundle, "KeysConfig", _Cfg)
    (tmp_path / "p.yaml").write_text(ENCRYPT_POLICY)
    rows = [("C1", "Ann", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food", "hi", "DE00")] * 4
    df = spark.createDataFrame(rows, ["customer_id", "full_name", "country",
                                      "employment_status", "amount", "transaction_time",
                                      "merchant_category", "memo", "iban"])
    with pytest.raises(KeyMissingError, match="VEIL_KEK_NOT_ON_EXECUTORS"):
        run(df, tmp_path / "p.yaml", "offers", tmp_path / "out.parquet", spark=spark)
    assert not (tmp_path / "out.parquet").exists()
    assert not (tmp_path / "out.parquet.receipt.json").exists()


def test_folders_uris_and_catalog_tables_give_the_file_s_rows(ws, tmp_path: Path,
                                                              spark) -> None:
    """A partitioned Parquet folder, a URI handed to Spark untouched (file:// stands in for
    s3a://, which goes the same way) and ``table=`` give the rows and figures of the file;
    a missing path or table is one clear error naming it."""
    from veil.spark import run

    data = _sample(tmp_path, rows=400)
    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail").replace(
        "legal_basis: consent", "legal_basis: contract"))
    policy = tmp_path / "p.yaml"
    pq.write_to_dataset(pq.read_table(data), tmp_path / "folder", partition_cols=["country"])
    spark.read.parquet(str(data)).createOrReplaceTempView("veil_test_tx")

    local = veil.run(policy, "offers", data, tmp_path / "local.parquet")
    runs = {"folder": run(tmp_path / "folder", policy, "offers", tmp_path / "f.parquet",
                          spark=spark),
            "uri": run((tmp_path / "folder").resolve().as_uri(), policy, "offers",
                       tmp_path / "u.parquet", spark=spark),
            "table": run("spark", policy, "offers", tmp_path / "t.parquet", spark=spark,
                         table="veil_test_tx")}
    for name, r in runs.items():
        assert _rows(r.output) == _rows(local.output), name
        _same_receipt(local.receipt, r.receipt)
        assert r.receipt["engine"]["input_digest"].startswith("sha256 of the sorted"), name
    assert runs["table"].receipt["input"]["ref"] == "table:veil_test_tx"

    with pytest.raises(InputError, match="not found") as e:
        run("file:///nowhere/at/all/tx.parquet", policy, "offers", tmp_path / "n.parquet",
            spark=spark)
    assert "nowhere" in str(e.value.where)
    with pytest.raises(InputError, match="no such table") as e:
        run("spark", policy, "offers", tmp_path / "n.parquet", spark=spark, table="no_such")
    assert not (tmp_path / "n.parquet").exists()


def test_overwrite_on_spark(ws, tmp_path: Path, spark) -> None:
    from veil.errors import VeilError
    from veil.spark import run

    (tmp_path / "p.yaml").write_text(POLICY.replace("BAD", "fail").replace(
        "legal_basis: consent", "legal_basis: contract"))
    rows = [("C1", "Ann", "DE", "x", "1.5", "2024-01-01T00:00:00Z", "food", "hi", "DE00")] * 3
    df = spark.createDataFrame(rows, ["customer_id", "full_name", "country",
                                      "employment_status", "amount", "transaction_time",
                                      "merchant_category", "memo", "iban"])
    out = tmp_path / "out.parquet"
    run(df, tmp_path / "p.yaml", "offers", out, spark=spark)
    with pytest.raises(VeilError, match="overwrite"):
        run(df, tmp_path / "p.yaml", "offers", out, spark=spark)
    again = run(df, tmp_path / "p.yaml", "offers", out, spark=spark, overwrite=True)
    assert again.rows_out == 3
