"""The model registry: versions per name, the artifact's digest checked before loading, the
training-data gate (stale subjects refused unless accepted with a reason; another purpose's
output, a missing consent filter or missing risk figures refused), and bad input."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import joblib
import numpy as np
import pytest
import sqlalchemy as sa

from tests.decisions.registry_fixtures import FEATURES
from veil.consent.models import SubjectRef
from veil.decisions.registry import ModelRegistry
from veil.errors import CryptoError, InputError, RunRefused
from veil.lineage import Lineage
from veil.rights.exclusions import add_exclusions
from veil.store.schema import decision_models, runs


def _register(t, name: str = "credit-pd", **kw):  # type: ignore[no-untyped-def]
    args = {"purpose": "credit_scoring", "features": FEATURES, "trained_on": [t.run_id],
            "estimator": t.estimator, "threshold": 0.5, "actor": "ml-team"}
    args.update(kw)
    return ModelRegistry(t.ws, t.policy).register(name, **args)


def _events(ws, action: str) -> list[dict]:  # type: ignore[no-untyped-def]
    with ws.engine.connect() as conn:
        rows = conn.execute(sa.text("select event from audit_leaves where action = :a"),
                            {"a": action}).scalars().all()
    return [json.loads(bytes(r)) for r in rows]


def test_versions_count_per_name_and_lineage_knows_each(trained) -> None:  # noqa: F811
    m1 = _register(trained)
    m2 = _register(trained, threshold=0.6)
    other = _register(trained, "fraud-free")
    assert (m1.version, m2.version, other.version) == (1, 2, 1)
    reg = ModelRegistry(trained.ws)
    assert reg.get("credit-pd").version == 2 and reg.get("credit-pd").threshold == 0.6
    assert reg.get("credit-pd", 1) == m1 and reg.get("credit-pd.v1") == m1
    assert [m.id for m in reg.list()] == ["credit-pd.v1", "credit-pd.v2", "fraud-free.v1"]
    assert m1.trained_on == [trained.run_id] and m1.kind == "linear"
    assert {m.name for m in Lineage(trained.ws).models()} >= {"credit-pd.v1", "credit-pd.v2"}
    path = trained.ws.root / m1.artifact
    assert m1.artifact == "models/credit-pd.v1.pkl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with pytest.raises(InputError, match="no registered model 'credit-pd' version 9"):
        reg.get("credit-pd", 9)


def test_artifact_digest_checked_before_loading(trained) -> None:  # noqa: F811
    m = _register(trained)
    reg = ModelRegistry(trained.ws)
    est = reg.load_estimator(reg.get("credit-pd"))
    assert np.allclose(est.predict_proba(trained.X), trained.estimator.predict_proba(trained.X))
    path = trained.ws.root / m.artifact
    swapped = trained.estimator.__class__(C=0.01, max_iter=1000).fit(trained.X, trained.y)
    joblib.dump(swapped, path)  # a different, perfectly valid pickle
    with pytest.raises(CryptoError, match="does not match the digest recorded"):
        reg.load_estimator(m)
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CryptoError):
        reg.load_estimator(m)
    path.unlink()
    with pytest.raises(InputError, match="missing"):
        reg.load_estimator(m)


def test_stale_training_data_refused_then_accepted_with_reason(trained, capsys) -> None:  # noqa: F811
    from veil.cli.main import main

    subject = sorted(_customer_ids())[0]
    with trained.ws.engine.begin() as conn:
        add_exclusions(conn, SubjectRef(trained.ws.root).token(subject), "erased", ["*"], "r1")
    with pytest.raises(RunRefused, match=r"holds 1 subject\(s\) who are 1 erased now"):
        _register(trained)
    joblib.dump(trained.estimator, "pd.pkl")
    cmd = ["decisions", "model", "register", "credit-pd", "--purpose", "credit_scoring",
           "--trained-on", trained.run_id, "--estimator", "pd.pkl", "-p", "sample"]
    for f in FEATURES:
        cmd += ["-f", f]
    assert main(cmd) == 6
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "1 erased" in err and subject not in err
    assert main([*cmd, "--accept-stale"]) == 4  # the reason is required
    assert "needs --reason" in capsys.readouterr().err
    with trained.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(decision_models)).scalar() == 0
    assert not list((trained.ws.root / "models").glob("*.pkl"))
    assert main([*cmd, "--accept-stale", "--reason", "challenger model, retrain due in May",
                 "--json"]) == 0
    m = ModelRegistry(trained.ws).get("credit-pd")
    gate = m.card["training_data_gate"]
    assert gate["outcome"] == "accepted_stale" and gate["stale_subjects"] == 1
    assert gate["reason"] == "challenger model, retrain due in May"
    assert any("Retrain without them" in x for x in m.card["limitations"])
    *refused, ok = _events(trained.ws, "decisions.model.register")
    assert [e["outcome"] for e in refused] == ["refused", "refused"]  # the API's and the CLI's
    refused = refused[0]
    assert refused["outcome"] == "refused" and refused["counts"]["stale_subjects"] == 1
    assert ok["details"]["accepted_stale_reason"] == "challenger model, retrain due in May"
    assert Lineage(trained.ws).model("credit-pd.v1").accepted_stale == gate["reason"]


def _customer_ids() -> set[str]:
    import csv

    with open("tx.csv", newline="") as f:
        return {r["customer_id"] for r in csv.DictReader(f)}


def test_gate_refuses_another_purpose_missing_consent_filter_and_risk(trained, tmp_path) -> None:  # noqa: F811
    import veil

    fraud = veil.run(trained.policy, "fraud_detection", "tx.csv", "fraud.parquet",
                     workspace=trained.ws)
    with pytest.raises(RunRefused, match="made for purpose 'fraud_detection'"):
        _register(trained, trained_on=[fraud.run_id])
    # a receipt that says the purpose needed consent, without the consent stage
    with trained.ws.engine.begin() as conn:
        rec = conn.execute(sa.select(runs.c.receipt).where(runs.c.id == trained.run_id)).scalar()
        bad = dict(rec, purpose=dict(rec["purpose"], consent_required=True))
        conn.execute(runs.update().where(runs.c.id == trained.run_id).values(receipt=bad))
    with pytest.raises(RunRefused, match="needs consent but the run shows no consent filter"):
        _register(trained)
    with trained.ws.engine.begin() as conn:
        conn.execute(runs.update().where(runs.c.id == trained.run_id).values(receipt=rec))
    # the policy's dataset now declares a risk gate the run did not have
    from veil.sample import SAMPLE_POLICY

    text = Path(SAMPLE_POLICY).read_text().replace(
        "    on_bad_rows: fail\n",
        "    on_bad_rows: fail\n    risk: {quasi_identifiers: [country]}\n", 1)
    (tmp_path / "risk.yaml").write_text(text)
    risky = veil.load_policy(tmp_path / "risk.yaml")
    with pytest.raises(RunRefused, match="declares a risk gate but the run has no risk figures"):
        ModelRegistry(trained.ws, risky).register(
            "credit-pd", purpose="credit_scoring", features=FEATURES,
            trained_on=[trained.run_id], estimator=trained.estimator, accept_stale=True,
            reason="not a stale problem: refused anyway")
    r = veil.run(risky, "credit_scoring", "tx.csv", "credit_risk.parquet", workspace=trained.ws)
    m = ModelRegistry(trained.ws, risky).register(
        "credit-pd", purpose="credit_scoring", features=FEATURES, trained_on=[r.run_id],
        estimator=trained.estimator)
    risk = m.card["training_data"][0]["risk"]
    assert risk["outcome"] == "passed" and risk["k"] >= 1 and risk["suppressed_records"] == 0
    assert ModelRegistry(trained.ws).list() == [m]


BAD_INPUT = [
    ({"purpose": "nope"}, "unknown purpose 'nope'"),
    ({"purpose": "fraud_detection"}, "declares no automated_decisions"),
    ({"features": ["annual_income", "account_balance", "postcode"]},
     "feature 'postcode' is not declared"),
    ({"features": ["annual_income", "account_balance"], "numpy": True},
     "estimator takes 3 features"),
    ({"features": ["amount", "annual_income", "account_balance"]}, "not the features given"),
    ({"features": ["amount", "amount", "annual_income"]}, "listed twice"),
    ({"trained_on": []}, "needs at least one run"),
    ({"trained_on": ["missing.parquet"]}, "no recorded run output"),
    ({"kind": "neural"}, "kind 'neural' is not one of"),
    ({"threshold": float("nan")}, "threshold is not a finite number"),
    ({"metrics": {"auc": float("inf")}}, "metric 'auc' is not finite"),
    ({"holdout": ([[1.0]], [1]), "estimator": None}, "a holdout needs the estimator"),
    ({"accept_stale": True, "reason": "  "}, "needs --reason"),
]


def test_bad_input_stores_nothing(trained) -> None:  # noqa: F811
    for change, message in BAD_INPUT:
        change = dict(change)
        est = trained.estimator  # fitted on a DataFrame: it knows its column names
        if change.pop("numpy", False):
            est = est.__class__(max_iter=1000).fit(trained.X.to_numpy(), trained.y)
        with pytest.raises(InputError, match=message):
            _register(trained, **{"estimator": est, **change})
    with trained.ws.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(decision_models)).scalar() == 0
    assert not list((trained.ws.root / "models").glob("*"))
    assert _events(trained.ws, "decisions.model.register") == []


def test_bad_name_and_registry_without_policy(trained) -> None:  # noqa: F811
    with pytest.raises(InputError, match="is not a name"):
        _register(trained, "credit pd")
    from veil.errors import PolicyError

    with pytest.raises(PolicyError, match="needs the policy"):
        ModelRegistry(trained.ws).register("x", purpose="credit_scoring", features=FEATURES,
                                           trained_on=[trained.run_id])


def test_external_model_has_no_artifact(trained) -> None:  # noqa: F811
    m = _register(trained, estimator=None)
    assert m.kind == "external" and m.artifact is None and m.artifact_sha256 is None
    with pytest.raises(InputError, match="has no saved estimator"):
        ModelRegistry(trained.ws).load_estimator(m)
    os.chdir(trained.ws.root)
