"""Decisions over the API: record, list, show, contest, review and the queue, with the roles
that may do each (a reviewer key reviews, the bank's service key records and contests), the
subject id only in the request body, and the library's refusals as 404 / 409 / 422."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.service.conftest import MODEL, SUBJECT, client_for, make_keys, make_workspace


@pytest.fixture
def api(tmp_path, monkeypatch) -> Iterator[tuple[Any, dict[str, str]]]:
    from veil.kek.providers import EnvKEK

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    with client_for(root) as client:
        yield client, {role: {"X-API-Key": k} for role, k in keys.items()}


def test_record_contest_review_over_the_api(api) -> None:
    client, h = api
    body = {"model": MODEL, "subject": SUBJECT, "features": {"balance": 12.5}, "score": 0.8,
            "reasons": {"balance": -0.4}}
    r = client.post("/v1/decisions", headers=h["service"], json=body)
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["outcome"] == "approve" and rec["status"] == "final"
    assert SUBJECT not in r.text and len(rec["subject"]) == 64
    did = rec["id"]
    r = client.post(f"/v1/decisions/{did}/contest", headers=h["service"],
                    json={"statement": "My balance is usually higher"})
    assert r.status_code == 200 and r.json()["status"] == "contested"
    q = client.get("/v1/decisions/queue", headers=h["reviewer"]).json()
    assert [(i["decision"], i["why"]) for i in q] == [(did, "contest")]
    r = client.post(f"/v1/decisions/{did}/review", headers=h["service"],
                    json={"outcome": "refuse", "rationale": "x"})
    assert r.status_code == 403  # the bank's app is not a reviewer
    r = client.post(f"/v1/decisions/{did}/review", headers=h["reviewer"],
                    json={"outcome": "refuse", "rationale": "Balance checked"})
    assert r.status_code == 200, r.text
    final = r.json()
    assert final["final_of"] == did and final["decided_by"] == "reviewer:test-reviewer"
    shown = client.get(f"/v1/decisions/{did}", headers=h["auditor"]).json()
    assert shown["status"] == "reviewed" and [x["kind"] for x in shown["history"]] == [
        "contest", "review"]
    listed = client.get("/v1/decisions", headers=h["dpo"],
                        params={"status": "reviewed"}).json()
    assert [x["id"] for x in listed] == [did]
    r = client.post(f"/v1/decisions/{did}/contest", headers=h["dpo"],
                    json={"statement": "again"})
    assert r.status_code == 409 and "already final and reviewed" in r.text


def test_refusals_over_the_api(api) -> None:
    client, h = api
    base = {"model": MODEL, "subject": SUBJECT, "score": 0.5}
    r = client.post("/v1/decisions", headers=h["dpo"],
                    json={**base, "features": {"religion": "x"}})
    assert r.status_code == 422 and "not declared" in r.text
    r = client.post("/v1/decisions", headers=h["dpo"],
                    json={**base, "model": "nope", "features": {"balance": 1}})
    assert r.status_code == 404  # no such model: a named record that does not exist
    r = client.post(f"/v1/decisions/{'0' * 32}/contest", headers=h["dpo"],
                    json={"statement": "x"})
    assert r.status_code == 404
    assert client.get("/v1/decisions/not-an-id", headers=h["dpo"]).status_code == 422
    r = client.post("/v1/decisions", headers=h["engineer"],
                    json={**base, "features": {"balance": 1}})
    assert r.status_code == 403


def test_the_service_records_through_one_session_ended_at_shutdown(tmp_path, monkeypatch) -> None:
    """POST /v1/decisions reuses one scoring session per model version (no per-request setup);
    each decision has its own audit event; stopping the service ends the session."""
    from veil.audit.log import AuditLog
    from veil.decisions import DecisionLedger
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import Workspace

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    body = {"model": MODEL, "features": {"balance": 1.0}, "score": 0.8}
    with client_for(root) as client:
        got = [client.post("/v1/decisions", headers={"X-API-Key": keys["service"]},
                           json={**body, "subject": f"SVC-{i}"}).json() for i in range(3)]
    assert len({g["session"] for g in got}) == 1 and got[0]["session"] is not None
    with Workspace.open(root) as ws2:
        (s,) = [x for x in DecisionLedger(ws2, None).sessions() if x["id"] == got[0]["session"]]
        assert s["kind"] == "online" and s["decisions"] == 3 and s["ended_at"] is not None
        log = AuditLog(ws2)
        assert [e.event.details["decision"] for e in log.events(action="decision.record")] == [
            g["id"] for g in got]
        assert len(list(log.events(action="decision.session.end"))) == 1
