"""POST /v1/decisions/actuals over a real service: a batch recorded (counts back, the outcomes
on the decisions), an unknown id a 422 naming its row with nothing written, and the role rule
(the bank's scoring system records outcomes; a reviewer may not)."""

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


def test_outcomes_in_a_batch_over_rest(api) -> None:
    client, h = api
    ids = []
    for subject, score in ((SUBJECT, 0.2), (SUBJECT2, 0.9)):
        r = client.post("/v1/decisions", headers=h["service"], json={
            "model": MODEL, "subject": subject, "features": {"balance": 1.0}, "score": score})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    body = {"actuals": [{"decision_id": ids[0], "actual": 0}, {"decision_id": "a" * 32,
                                                               "actual": 1}]}
    r = client.post("/v1/decisions/actuals", headers=h["service"], json=body)
    assert r.status_code == 422 and "body.actuals row 2" in r.text, r.text
    assert client.get(f"/v1/decisions/{ids[0]}", headers=h["dpo"]).json()["actual"] is None
    body = {"actuals": [{"decision_id": i, "actual": a} for i, a in zip(ids, [0, 1], strict=True)]}
    assert client.post("/v1/decisions/actuals", headers=h["reviewer"],
                       json=body).status_code == 403
    r = client.post("/v1/decisions/actuals", headers=h["service"], json=body)
    assert r.status_code == 200 and r.json() == {"recorded": 2, "positive": 1, "replaced": 0}
    got = [client.get(f"/v1/decisions/{i}", headers=h["dpo"]).json()["actual"] for i in ids]
    assert got == [0, 1]
    r = client.post("/v1/decisions/actuals", headers=h["service"],
                    json={"actuals": [{"decision_id": ids[0], "actual": 2}]})
    assert r.status_code == 422
