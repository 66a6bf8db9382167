"""GET /v1/decisions/{id}/explanation and POST /v1/decisions/fairness over a real service."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.service.conftest import (
    MODEL,
    SERVICE_KEK_VAR,
    SUBJECT,
    SUBJECT2,
    client_for,
    make_keys,
    make_workspace,
)


@pytest.fixture
def api(tmp_path, monkeypatch) -> Iterator[tuple[Any, dict[str, dict[str, str]]]]:
    from veil.kek.providers import EnvKEK

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    monkeypatch.setenv(SERVICE_KEK_VAR, EnvKEK.new_secret())
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    with client_for(root) as client:
        yield client, {role: {"X-API-Key": k} for role, k in keys.items()}


def _record(client: Any, h: dict[str, str], subject: str, score: float) -> str:
    r = client.post("/v1/decisions", headers=h, json={
        "model": MODEL, "subject": subject, "features": {"balance": 12.5}, "score": score,
        "reasons": {"balance": -0.7}})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_the_explanation_in_three_formats(api) -> None:
    client, h = api
    did = _record(client, h["service"], SUBJECT, 0.2)
    r = client.get(f"/v1/decisions/{did}/explanation", headers=h["reviewer"])
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["main_factors"][0]["text"] == "Your account balance is low"
    assert d["outcome"] == "refuse" and SUBJECT not in r.text
    r = client.get(f"/v1/decisions/{did}/explanation", headers=h["dpo"],
                   params={"format": "html"})
    assert r.headers["content-type"].startswith("text/html") and "<h2>Your rights</h2>" in r.text
    r = client.get(f"/v1/decisions/{did}/explanation", headers=h["dpo"], params={"format": "md"})
    assert r.text.startswith(f"# Explanation of decision {did}")
    assert client.get(f"/v1/decisions/{'0' * 32}/explanation",
                      headers=h["dpo"]).status_code == 404
    assert client.get(f"/v1/decisions/{did}/explanation",
                      headers=h["service"]).status_code == 403


def test_a_fairness_check_returns_figures_only_the_dpo_may_run_it(api) -> None:
    client, h = api
    _record(client, h["service"], SUBJECT, 0.8)
    _record(client, h["service"], SUBJECT2, 0.2)
    body = {"protected": [{"subject_id": SUBJECT, "gender": "f", "age_band": "30-44"},
                          {"subject_id": SUBJECT2, "gender": "m", "age_band": "30-44"}],
            "resamples": 20}
    r = client.post("/v1/decisions/fairness", headers=h["dpo"], json=body)
    assert r.status_code == 200, r.text
    report = r.json()
    gender = report["attributes"][0]
    assert gender["attribute"] == "gender" and gender["demographic_parity_difference"] == 1.0
    assert SUBJECT not in r.text and report["matched"] == 2
    assert client.post("/v1/decisions/fairness", headers=h["reviewer"],
                       json=body).status_code == 403
    bad = {"protected": [{"subject_id": SUBJECT}]}
    r = client.post("/v1/decisions/fairness", headers=h["dpo"], json=bad)
    assert r.status_code == 422 and "missing protected attribute" in r.text
