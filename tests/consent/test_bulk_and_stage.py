"""The vectorized bulk check and the run's consent stage (ConsentFilter)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from veil.consent import ConsentEvent, Ledger
from veil.consent import bulk as bulk_mod
from veil.errors import ConsentError, RunRefused
from veil.pipeline.context import RunContext
from veil.pipeline.plan import make_plan
from veil.pipeline.stages.consent import ConsentFilter

WEB = {"channel": "web_form", "action": "clicked 'I agree'", "collector": "web-consent"}


def ago(days: float = 0, **kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, **kw)


def populate(ledger: Ledger, n: int, seed: int = 1) -> dict[str, str]:
    """n subjects in mixed states; returns subject -> expected reason now."""
    rng = random.Random(seed)
    events, expected = [], {}
    for i in range(n):
        s = f"C{i:05d}"
        r = rng.random()
        t = ago(30, minutes=i % 1000)
        if r < 0.5:
            events.append(ConsentEvent(s, "offers", "granted", time=t, notice_version="1", **WEB))
            expected[s] = "ok"
        elif r < 0.7:
            events.append(ConsentEvent(s, "offers", "granted", time=t, notice_version="1", **WEB))
            events.append(ConsentEvent(s, "offers", "withdrawn", "app", "app", t + timedelta(1)))
            expected[s] = "consent withdrawn"
        elif r < 0.85:
            events.append(ConsentEvent(s, "offers", "granted", time=t, notice_version="1",
                                       expires=t + timedelta(days=2), **WEB))
            expected[s] = "consent expired"
        else:
            expected[s] = "no consent"
    ledger.append(events)
    return expected


@pytest.mark.parametrize("force_search", [False, True])
def test_bulk_equals_single_checks(ledger: Ledger, monkeypatch, force_search: bool) -> None:
    expected = populate(ledger, 1200)
    if force_search:  # the binary-search path that long runs of short batches take
        monkeypatch.setattr(bulk_mod, "_SMALL", 0)
    rng = random.Random(7)
    ids = [rng.choice(list(expected)) for _ in range(300)] + ["unknown-1", None, ""]
    snap = ledger.snapshot("offers")
    assert len(snap) == sum(1 for v in expected.values() if v != "no consent")
    res = snap.check(pa.array(ids))
    want = [expected.get(s, "no consent") if s is not None else "no subject id" for s in ids]
    assert res.reasons.to_pylist() == want
    assert res.mask.to_pylist() == [w == "ok" for w in want]
    assert res.counts() == Counter(w for w in want if w != "ok")
    for s in ids[:40]:
        if s:
            assert ledger.check(s, "offers").reason == expected[s]
    # the same answers for every input shape a batch may have
    chunked = pa.chunked_array([pa.array(ids[:100]), pa.array(ids[100:])])
    assert snap.check(chunked).reasons.to_pylist() == want
    assert snap.check(pa.array(ids).dictionary_encode()).reasons.to_pylist() == want
    assert snap.check(pa.array(ids, pa.large_string())).reasons.to_pylist() == want
    assert snap.check(ids).reasons.to_pylist() == want
    assert len(snap.check(pa.array([], pa.string()))) == 0


def test_integer_subject_ids_and_bad_types(ledger: Ledger) -> None:
    ledger.grant("42", "offers", **WEB, notice_version="1")
    res = ledger.check_many(pa.array([42, 7, None], pa.int64()), "offers")
    assert res.reasons.to_pylist() == ["ok", "no consent", "no subject id"]
    with pytest.raises(ConsentError, match="text or whole numbers"):
        ledger.check_many(pa.array([1.5]), "offers")


def _plan(policy, purpose: str, header: list[str]):
    return make_plan(policy, purpose, header)


def _batch(ids: list[str | None]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({
        "customer_id": pa.array(ids, pa.string()),
        "email": pa.array([f"u{i}@example.org" for i in range(len(ids))]),
        "balance": pa.array([float(i) for i in range(len(ids))]),
    })


def test_consent_filter_drops_rows_with_reasons(workspace, ledger: Ledger, policy) -> None:
    ledger.grant("ok-1", "offers", **WEB, notice_version="1", time=ago(10))
    ledger.grant("ok-2", "offers", **WEB, notice_version="1", time=ago(10))
    ledger.grant("wd", "offers", **WEB, notice_version="1", time=ago(10))
    ledger.withdraw("wd", "offers", channel="app", collector="app", time=ago(5))
    ledger.grant("exp", "offers", **WEB, notice_version="1", time=ago(10), expires=ago(1))
    ledger.grant("nl-only", "newsletter", **WEB, notice_version="1", time=ago(10))
    plan = _plan(policy, "offers", ["customer_id", "email", "balance"])
    stage = ConsentFilter(plan, workspace, datetime.now(UTC))
    ctx = RunContext(run_id="r1", plan=plan)
    out = stage.process(_batch(["ok-1", "wd", "exp", "nl-only", None, "ok-2", "ok-1"]), ctx)
    assert out.column("customer_id").to_pylist() == ["ok-1", "ok-2", "ok-1"]
    assert out.column("balance").to_pylist() == [0.0, 5.0, 6.0]  # rows stay whole
    assert ctx.dropped_rows == Counter({"consent withdrawn": 1, "consent expired": 1,
                                        "no consent": 1, "no subject id": 1})
    out2 = stage.process(_batch(["ok-2"]), ctx)  # a second batch uses the same snapshot
    assert out2.num_rows == 1
    d = stage.describe()["consent"]
    assert d["rows_checked"] == 8 and d["rows_kept"] == 4 and d["ledger_subjects"] == 4
    # a run as of before the withdrawal and the expiry would have kept those rows
    early = ConsentFilter(plan, workspace, ago(7))
    ctx2 = RunContext(run_id="r0", plan=plan)
    kept = early.process(_batch(["wd", "exp"]), ctx2)
    assert kept.num_rows == 2 and not ctx2.dropped_rows


def test_withdrawal_takes_effect_for_runs_after_it(workspace, ledger: Ledger, policy) -> None:
    ledger.grant("C-7", "offers", **WEB, notice_version="1", time=ago(3))
    plan = _plan(policy, "offers", ["customer_id", "balance"])
    run_before = ConsentFilter(plan, workspace, datetime.now(UTC))
    run_before.process(_batch(["C-7"]).select(["customer_id", "balance"]),
                       RunContext("r1", plan))  # its snapshot is taken at its start
    ledger.withdraw("C-7", "offers", channel="app", collector="app")
    ctx = RunContext("r1", plan)
    batch = _batch(["C-7"]).select(["customer_id", "balance"])
    assert run_before.process(batch, ctx).num_rows == 1  # a started run keeps its state
    run_after = ConsentFilter(plan, workspace, datetime.now(UTC))
    ctx2 = RunContext("r2", plan)
    assert run_after.process(batch, ctx2).num_rows == 0
    assert ctx2.dropped_rows == Counter({"consent withdrawn": 1})


def test_stage_for_other_purposes_and_missing_subject_id(workspace, policy) -> None:
    plan = _plan(policy, "scoring", ["customer_id", "balance"])
    stage = ConsentFilter(plan, workspace, datetime.now(UTC))
    batch = _batch(["a", "b"]).select(["customer_id", "balance"])
    assert stage.process(batch, RunContext("r", plan)) is batch
    assert stage.describe() == {"consent": {"purpose": "scoring", "required": False}}
    with pytest.raises(RunRefused, match="declares no subject_id"):
        ConsentFilter(_plan(policy, "account_mail", ["iban"]), workspace, datetime.now(UTC))


def test_full_run_with_the_stage_wired_in(workspace, ledger: Ledger, policy_file, tmp_path,
                                          monkeypatch) -> None:
    """build_stages puts ConsentFilter first for consent purposes;
    the receipt counts the dropped rows by reason; minimization still drops the subject id."""
    import importlib

    import pyarrow.csv as pacsv

    run_mod = importlib.import_module("veil.pipeline.run")

    ledger.grant("c1", "newsletter", **WEB, notice_version="1", time=ago(2))
    ledger.grant("c2", "newsletter", **WEB, notice_version="1", time=ago(2))
    ledger.withdraw("c2", "newsletter", channel="email", collector="mail", time=ago(1))
    src = tmp_path / "customers.csv"
    pacsv.write_csv(pa.table({"customer_id": ["c1", "c2", "c3", "c1"],
                              "email": ["a@x.org", "b@x.org", "c@x.org", "d@x.org"],
                              "balance": [1.0, 2.0, 3.0, 4.0]}), src)
    result = run_mod.run(policy_file, "newsletter", src, tmp_path / "out.parquet",
                         workspace=workspace)
    assert result.receipt["rows"]["in"] == 4 and result.receipt["rows"]["out"] == 2
    assert result.receipt["rows"]["dropped"] == {"consent withdrawn": 1, "no consent": 1}
    assert result.receipt["output"]["columns"] == ["email"]  # the subject id is minimized away
