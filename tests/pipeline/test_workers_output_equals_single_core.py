"""`veil.run(..., workers=N)` makes what the single-core run makes: the same table, row for row
and byte for byte once decrypted, and the same receipt but for timings and the worker count."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import veil
import veil.io.readers
from veil.keys.files import decrypt_to_buffer, find_encryption
from veil.keys.manager import KeyManager
from veil.sample import SAMPLE_POLICY, write_sample
from veil.store.schema import lineage_subjects

#: receipt entries two runs of the same input do not share (ids, clocks, the run's own output
#: key) and the worker count
VARYING = {"run_id", "started_at", "finished_at", "expires_at", "timings_seconds", "audit",
           "engine", "seconds", "keyset", "key_id", "associated_data", "replaces"}


def normalized(receipt: dict[str, Any], folder: Path) -> dict[str, Any]:
    def strip(x: Any) -> Any:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items()
                    if k not in VARYING and not k.endswith("_seconds")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        return x

    r = strip(json.loads(json.dumps(receipt).replace(str(folder), "<folder>")))
    del r["output"]["sha256"], r["output"]["bytes"]  # the ciphertext's (plaintext's compared)
    return r


def plaintext(out: Path, ws: Any) -> bytes:
    """The decrypted Parquet file, byte for byte."""
    enc = find_encryption(out, ws)
    assert enc is not None
    return decrypt_to_buffer(out, KeyManager(ws).keyset(enc["keyset"]),
                             enc["associated_data"].encode()).to_pybytes()


def run_twice(policy: Any, purpose: str, source: Path, root: Path, **kw: Any
              ) -> tuple[Any, Any]:
    """The run with one worker (in process), then with two, each in a folder of its own."""
    results = []
    for n in (1, 2):
        folder = root / f"w{n}"
        folder.mkdir(exist_ok=True)
        results.append(veil.run(policy, purpose, source, folder / "out.parquet", workers=n,
                                overwrite=True, **kw))
    return results[0], results[1]


def lineage(ws: Any, run_id: str) -> list[Any]:
    """The stored subject pseudonyms of a run's output, bucket by bucket."""
    t = lineage_subjects.c
    with ws.engine.connect() as c:
        return [tuple(r) for r in c.execute(sa.select(t.bucket, t.subjects).where(
            t.run_id == run_id).order_by(t.bucket))]


def assert_same(one: Any, two: Any, ws: Any, *, random: tuple[str, ...] = ()) -> pa.Table:
    """Same table and receipt; ``random`` columns (fresh nonces) are compared apart."""
    t1, t2 = veil.read(one.output, ws), veil.read(two.output, ws)
    r1, r2 = normalized(one.receipt, one.output.parent), normalized(two.receipt,
                                                                    two.output.parent)
    if random:
        t1, t2 = t1.drop_columns(list(random)), t2.drop_columns(list(random))
        for r in (r1, r2):
            del r["output"]["encryption"]["plaintext_sha256"]
            del r["output"]["encryption"]["plaintext_bytes"]
    else:
        assert plaintext(one.output, ws) == plaintext(two.output, ws)
    assert t1.equals(t2)
    assert r1 == r2
    assert lineage(ws, one.run_id) == lineage(ws, two.run_id) != []  # the same subjects
    assert two.receipt["engine"] == {"name": "local", "workers": 2}
    assert "engine" not in one.receipt
    return t1


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "tx.csv"
    write_sample(path, 400, seed=3)  # made once: the generator takes seconds
    return path


@pytest.fixture
def sample(sample_file: Path, workspace, monkeypatch) -> Path:
    """400 sample rows, read in batches of about 20 rows (a small CSV block)."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 8 << 10)
    return sample_file


def head(src: Path, rows: int) -> list[str]:
    """The header and first ``rows`` lines of ``src``."""
    return src.read_text().splitlines()[: rows + 1]


@settings(max_examples=2, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(block=st.integers(min_value=2 << 10, max_value=64 << 10))
def test_credit_scoring_whatever_the_batch_size(block: int, sample: Path, workspace,
                                                tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", block)
    one, two = run_twice(SAMPLE_POLICY, "credit_scoring", sample, tmp_path)
    t = assert_same(one, two, workspace)
    assert t.num_rows == 400 and two.receipt["lineage"]["subjects"] > 1


def test_fraud_detection(sample: Path, workspace, tmp_path: Path) -> None:
    one, two = run_twice(SAMPLE_POLICY, "fraud_detection", sample, tmp_path)
    t = assert_same(one, two, workspace)
    assert t.num_rows == 400 and "memo" in two.receipt["fields"]["transformed"]


def test_personalised_offers_consent_and_subject_keys(sample: Path, workspace,
                                                      tmp_path: Path) -> None:
    """Consent drops rows in every batch; ``email`` is encrypted under each subject's own key
    (fresh nonces: compared decrypted); the keys the workers made are the subjects' keys."""
    from veil.consent.ledger import Ledger
    from veil.rights.values import decrypt_values

    ids = pacsv.read_csv(sample).column("customer_id").to_pylist()
    subjects = sorted(set(ids))
    chosen = subjects[::3]
    led = Ledger(workspace, veil.load_policy(SAMPLE_POLICY))
    led.add_notice("personalised_offers", "1", "Offers.", created_by="test",
                   effective="2024-01-01T00:00:00Z")
    for s in chosen:
        led.grant(s, "personalised_offers", channel="web_form", action="ticked the box",
                  collector="test", notice_version="1")
    one, two = run_twice(SAMPLE_POLICY, "personalised_offers", sample, tmp_path)
    assert_same(one, two, workspace, random=("email",))
    kept = [s for s in ids if s in set(chosen)]
    assert two.rows_out == len(kept) < 400
    assert two.receipt["rows"]["dropped"] == one.receipt["rows"]["dropped"] != {}
    emails = pacsv.read_csv(sample).column("email").to_pylist()
    want = [e for s, e in zip(ids, emails, strict=True) if s in set(chosen)]
    for result in (one, two):
        got = veil.read(result.output, workspace).column("email").to_pylist()
        for s in chosen[:3]:
            rows = [i for i, k in enumerate(kept) if k == s]
            plain = decrypt_values(workspace, s, [got[i] for i in rows],
                                   dataset="transactions", field="email", actor="test",
                                   reason="test")
            assert plain == [want[i] for i in rows]


def test_quarantined_rows(sample: Path, workspace, tmp_path: Path, monkeypatch) -> None:
    """Bad rows set aside by the reader (the parent) come out the same; so do the rows after."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 1 << 10)
    policy = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                     "on_bad_rows: quarantine")
    (tmp_path / "policy.yaml").write_text(policy)
    lines = head(sample, 200)
    for i in (7, 60, 150):
        lines[i] = lines[i].replace(",", ",oops,", 1)  # one field too many
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    one, two = run_twice(tmp_path / "policy.yaml", "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    assert two.receipt["rows"]["out"] == 197
    assert (one.rejects_path.read_text() == two.rejects_path.read_text()
            and one.rejects_path.read_text().count("\n") == 3)


def _spoil(lines: list[str], rows: dict[int, tuple[str, str]]) -> list[str]:
    """``lines`` with the given data lines' column set to a value of the wrong type."""
    import csv
    import io

    names = next(csv.reader([lines[0]]))
    out = list(lines)
    for i, (column, value) in rows.items():
        row = next(csv.reader([lines[i]]))
        row[names.index(column)] = value
        buf = io.StringIO()
        csv.writer(buf, lineterminator="").writerow(row)
        out[i] = buf.getvalue()
    return out


BAD_VALUES = {5: ("annual_income", "lots"), 6: ("amount", "1e999"), 61: ("amount", "x"),
              62: ("annual_income", "?"), 149: ("birth_date", "yesterday"),
              199: ("amount", "--")}


def test_quarantined_bad_values_spread_over_batches(sample: Path, workspace, tmp_path: Path,
                                                    monkeypatch) -> None:
    """Values the workers find of the wrong type (conform runs there) are set aside with the
    same records, lines, columns and reasons, in the same order as one worker's, interleaved
    with the malformed rows the parent's reader finds."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 1 << 10)
    policy = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                     "on_bad_rows: quarantine")
    (tmp_path / "policy.yaml").write_text(policy)
    lines = _spoil(head(sample, 200), BAD_VALUES)
    for i in (7, 60, 150):
        lines[i] = lines[i].replace(",", ",oops,", 1)  # one field too many
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(lines) + "\n")
    one, two = run_twice(tmp_path / "policy.yaml", "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    rejects = [json.loads(x) for x in two.rejects_path.read_text().splitlines()]
    assert one.rejects_path.read_text() == two.rejects_path.read_text()
    # per batch, the reader's malformed rows come first, then the values conform rejects
    assert [r["line"] for r in rejects][:3] == [8, 6, 7]
    assert {r["line"] for r in rejects} >= {8, 61, 151} | {i + 1 for i in BAD_VALUES
                                                        if BAD_VALUES[i][0] != "birth_date"}
    assert {r["column"] for r in rejects} >= {None, "amount", "annual_income"}
    assert two.receipt["rows"]["out"] == 200 - len({r["record"] for r in rejects})


def test_a_bad_value_fails_the_run_as_one_worker_does(sample: Path, workspace, tmp_path: Path,
                                                      monkeypatch) -> None:
    """on_bad_rows: fail: the first bad value, found by a worker, stops the run with the error
    one worker gives (its line and column), and nothing is published."""
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 1 << 10)
    src = tmp_path / "bad.csv"
    src.write_text("\n".join(_spoil(head(sample, 200), {120: ("amount", "x"),
                                                         180: ("amount", "y")})) + "\n")
    errors = []
    for n in (1, 2):
        out = tmp_path / f"w{n}.parquet"
        with pytest.raises(veil.InputError) as info:
            veil.run(SAMPLE_POLICY, "credit_scoring", src, out, workers=n)
        errors.append(str(info.value))
        assert not out.exists()
    assert errors[0] == errors[1] and ":121" in errors[0] and "amount" in errors[0]


def test_parquet_source_bad_values(sample: Path, workspace, tmp_path: Path) -> None:
    """A Parquet source read in several batches: the workers conform it; the rejects' records
    are the single-core run's."""
    table = pacsv.read_csv(sample, convert_options=pacsv.ConvertOptions(
        column_types={"amount": pa.string()}))
    amount = table.column("amount").to_pylist()
    for i in (3, 70, 71, 399):
        amount[i] = "n/a"
    table = table.set_column(table.schema.get_field_index("amount"), "amount",
                             pa.array(amount, pa.string()))
    src = tmp_path / "tx.parquet"
    import pyarrow.parquet as pq

    pq.write_table(table, src, row_group_size=64)
    policy = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                     "on_bad_rows: quarantine")
    (tmp_path / "policy.yaml").write_text(policy)
    one, two = run_twice(tmp_path / "policy.yaml", "credit_scoring", src, tmp_path)
    assert_same(one, two, workspace)
    assert one.rejects_path.read_text() == two.rejects_path.read_text()
    assert [json.loads(x)["record"] for x in two.rejects_path.read_text().splitlines()
            ] == [4, 71, 72, 400]


def test_risk_gate_and_noise(sample: Path, workspace, tmp_path: Path, monkeypatch) -> None:
    """A dataset under a k-anonymity gate that suppresses, and noise seeded by batch number: two
    workspaces with the same transform keys and the same run id (noise is seeded by run id)
    make the same table with one worker and with two."""
    from veil.store.workspace import init_workspace
    from veil.transforms.keys import InMemoryTransformKeys

    if not workspace.database_url.startswith("sqlite"):
        pytest.skip("the second workspace would share the first one's database")
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 4 << 10)
    text = Path(SAMPLE_POLICY).read_text()
    text = text.replace("    subject_id: customer_id\n", "    subject_id: customer_id\n"
                        "    risk: {min_k: 4, auto_generalize: true}\n", 1)
    text = text.replace("          amount: keep\n          merchant_category: keep\n"
                        "          loan_default: keep\n",
                        "          amount: {transform: noise, mechanism: laplace, "
                        "epsilon: 1.0, sensitivity: 10}\n          merchant_category: keep\n"
                        "          loan_default: keep\n", 1)
    (tmp_path / "policy.yaml").write_text(text)
    src = tmp_path / "head.csv"
    src.write_text("\n".join(head(sample, 300)) + "\n")
    keys = InMemoryTransformKeys()
    import veil.pipeline.runner as runner_module

    fixed = types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex="f" * 32))
    monkeypatch.setattr(runner_module, "uuid", fixed)
    other, _ = init_workspace(tmp_path / "ws2")
    tables = []
    for n, ws in ((1, workspace), (2, other)):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        r = veil.run(tmp_path / "policy.yaml", "credit_scoring", src, folder / "out.parquet",
                     workspace=ws, keys=keys, workers=n)
        assert r.receipt["risk"]["outcome"] == "generalized"
        tables.append((veil.read(r.output, ws), normalized(r.receipt, folder)))
    other.close()
    (t1, r1), (t2, r2) = tables
    assert t1.equals(t2)
    assert r1 == r2
    assert t1.column("amount").to_pylist() != pacsv.read_csv(src).column("amount").to_pylist()



def test_noise_after_a_batch_whose_rows_were_all_rejected(sample: Path, workspace,
                                                          tmp_path: Path, monkeypatch) -> None:
    """The single-core run numbers (seeds noise for) only the batches that reached the
    stages; a batch whose rows were all set aside does not count, with two workers either."""
    from veil.store.workspace import init_workspace
    from veil.transforms.keys import InMemoryTransformKeys

    if not workspace.database_url.startswith("sqlite"):
        pytest.skip("the second workspace would share the first one's database")
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 2 << 10)
    text = Path(SAMPLE_POLICY).read_text().replace("on_bad_rows: fail",
                                                   "on_bad_rows: quarantine")
    text = text.replace("          amount: keep\n", "          amount: {transform: noise, "
                        "mechanism: laplace, epsilon: 1.0, sensitivity: 10}\n", 1)
    (tmp_path / "policy.yaml").write_text(text)
    src = tmp_path / "bad.csv"  # rows 30-55: more than a block (~10 rows) of bad amounts
    src.write_text("\n".join(_spoil(head(sample, 200),
                                    {i: ("amount", "bad") for i in range(30, 56)})) + "\n")
    keys = InMemoryTransformKeys()
    import veil.pipeline.runner as runner_module

    fixed = types.SimpleNamespace(uuid4=lambda: types.SimpleNamespace(hex="e" * 32))
    monkeypatch.setattr(runner_module, "uuid", fixed)
    other, _ = init_workspace(tmp_path / "ws2")
    tables = []
    for n, ws in ((1, workspace), (2, other)):
        r = veil.run(tmp_path / "policy.yaml", "credit_scoring", src,
                     tmp_path / f"o{n}.parquet", workspace=ws, keys=keys, workers=n)
        tables.append(veil.read(r.output, ws))
    other.close()
    assert tables[0].num_rows == 174
    assert tables[0].equals(tables[1])
