"""The model card written at registration: intended use from the policy, the training data's
lineage and receipts, features with their reason texts, metrics on the holdout, fairness by the
protected attributes, the gate's result and the limitations; Markdown and JSON, owner-only; the
`veil decisions model card|show|list` commands print it."""

from __future__ import annotations

import json
import stat

import pytest
from sklearn.metrics import roc_auc_score

from tests.decisions.registry_fixtures import FEATURES
from veil.decisions.registry import ModelRegistry


@pytest.fixture
def registered(trained):  # type: ignore[no-untyped-def]
    m = ModelRegistry(trained.ws, trained.policy).register(
        "credit-pd", purpose="credit_scoring", features=FEATURES, trained_on=[trained.run_id],
        estimator=trained.estimator, threshold=0.5, holdout=(trained.X, trained.y),
        protected=trained.protected, metrics={"gini_validation": 0.41}, actor="ml-team",
        description="Retail PD scorecard")
    return trained, m


def test_card_contents(registered) -> None:
    t, m = registered
    c = m.card
    use = c["intended_use"]
    assert use["decision"] == "Approve or refuse a retail loan application"
    assert use["legal_effect"] is True and use["art22_basis"] == "contract"
    assert "Head of credit risk" in use["overseers"] and use["log_retention"]
    (out,) = c["training_data"]
    lin = t.ws  # the run's lineage and receipt figures
    assert out["run_id"] == t.run_id and out["consent"] == "not required"
    from veil.lineage import Lineage

    rec = Lineage(lin).output(t.run_id)
    assert (out["rows"], out["subjects"], out["sha256"]) == (rec.rows, rec.subject_count,
                                                              rec.digest)
    assert out["policy_sha256"] == t.policy.digest and out["stale_subjects"] == {}
    reasons = {f["name"]: f["reason"] for f in c["features"]}
    assert reasons["account_balance"] == "Your account balance is low"
    assert list(reasons) == FEATURES
    auc = roc_auc_score(t.y, t.estimator.predict_proba(t.X)[:, 1])
    assert c["metrics"]["auc"] == pytest.approx(auc, abs=1e-6)
    assert c["metrics"]["gini_validation"] == 0.41
    assert c["metrics"]["holdout_rows"] == len(t.y)
    fair = c["fairness"]
    assert [a["attribute"] for a in fair["attributes"]] == ["gender", "age_band"]
    assert fair["matched"] == len(t.y) and "holdout" in fair["source"]
    assert c["training_data_gate"]["outcome"] == "passed"
    assert any("registrant's statement" in x for x in c["limitations"])
    assert c["model"]["description"] == "Retail PD scorecard"
    md = (t.ws.root / "models" / "credit-pd.v1.card.md")
    js = (t.ws.root / "models" / "credit-pd.v1.card.json")
    assert json.loads(js.read_text()) == c
    text = md.read_text()
    for heading in ("# Model card: credit-pd v1", "## Intended use", "## Training data",
                    "## Features", "## Metrics at registration", "## Fairness at registration",
                    "## Limitations"):
        assert heading in text
    assert "Your account balance is low" in text and t.run_id[:12] in text
    assert stat.S_IMODE(md.stat().st_mode) == 0o600 == stat.S_IMODE(js.stat().st_mode)
    assert ModelRegistry(t.ws).get("credit-pd").card == c  # stored with the model


def test_card_show_list_commands(registered, capsys) -> None:
    from veil.cli.main import main

    t, m = registered
    assert main(["decisions", "model", "card", "credit-pd"]) == 0
    assert capsys.readouterr().out.startswith("# Model card: credit-pd v1")
    assert main(["decisions", "model", "card", "credit-pd.v1", "-o", "card.json"]) == 0
    capsys.readouterr()
    assert json.loads((t.ws.root / "card.json").read_text())["model"]["id"] == "credit-pd.v1"
    assert main(["decisions", "model", "show", "credit-pd", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["id"] == "credit-pd.v1" and d["artifact_sha256"] == m.artifact_sha256
    assert main(["decisions", "model", "list"]) == 0
    assert "credit-pd.v1" in capsys.readouterr().out
    assert main(["decisions", "model", "show", "nope"]) == 4
    err = capsys.readouterr().err
    assert "no registered model 'nope'" in err and len(err.strip().splitlines()) == 1
    assert main(["decisions", "model", "register", "--help"]) == 0
    assert "Example:" in capsys.readouterr().out


def test_holdout_and_protected_from_the_cli(trained, capsys) -> None:  # noqa: F811
    import joblib

    from veil.cli.main import main

    joblib.dump(trained.estimator, "pd.pkl")
    hold = trained.X.assign(repaid=trained.y.to_numpy(),
                            gender=trained.protected["gender"].to_numpy(),
                            age_band=trained.protected["age_band"].to_numpy())
    hold.to_csv("holdout.csv", index=False)
    cmd = ["decisions", "model", "register", "credit-pd", "--purpose", "credit_scoring",
           "--trained-on", trained.run_id, "--estimator", "pd.pkl", "--metric", "ks=0.3",
           "--holdout", "holdout.csv", "--label", "repaid", "--protected", "gender",
           "--protected", "age_band"]
    for f in FEATURES:
        cmd += ["-f", f]
    assert main(cmd) == 0, capsys.readouterr().err
    assert "Registered credit-pd.v1" in capsys.readouterr().out
    c = ModelRegistry(trained.ws).get("credit-pd").card
    assert c["metrics"]["ks"] == 0.3 and "auc" in c["metrics"]
    assert len(c["fairness"]["attributes"]) == 2
    assert main([*cmd[:-4], "--label", "nope"]) == 4
    assert "lacks column(s) nope" in capsys.readouterr().err
    assert main([*cmd, "--metric", "auc"]) == 4
    assert "is not NAME=VALUE" in capsys.readouterr().err
