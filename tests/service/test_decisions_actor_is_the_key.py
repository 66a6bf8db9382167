"""A review or contest over the API is recorded under the calling key: the audit event's actor
is ``key:<id>``; a name given in the body is a screened detail, never the actor."""

from __future__ import annotations

from tests.service.conftest import MODEL, SUBJECT
from tests.service.test_decisions_api import api  # noqa: F401  (the fixture)
from veil.audit.log import AuditLog
from veil.store.workspace import Workspace


def test_the_calling_key_is_the_actor(api, tmp_path) -> None:  # noqa: F811
    client, h = api
    body = {"model": MODEL, "subject": SUBJECT, "features": {"balance": 12.5}, "score": 0.8,
            "reasons": {"balance": -0.4}}
    did = client.post("/v1/decisions", headers=h["service"], json=body).json()["id"]
    r = client.post(f"/v1/decisions/{did}/contest", headers=h["service"],
                    json={"statement": "My balance is higher", "by": "dpo"})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/decisions/{did}/review", headers=h["reviewer"],
                    json={"outcome": "refuse", "rationale": "checked",
                          "reviewer": "Head of credit risk"})
    assert r.status_code == 200, r.text
    r = client.post(f"/v1/decisions/{did}/review", headers=h["reviewer"],
                    json={"outcome": "maybe", "rationale": "checked"})
    assert r.status_code in (409, 422)
    ws = Workspace.open(tmp_path / "ws")
    try:
        evs = {e.event.action: e.event for e in AuditLog(ws).events(action="decision.*")}
    finally:
        ws.close()
    contest, review = evs["decision.contest"], evs["decision.review"]
    assert contest.actor.startswith("key:") and contest.details["by"] == "dpo"
    assert review.actor.startswith("key:") and review.actor != contest.actor
    assert review.details["reviewer"] == "Head of credit risk"
