"""The consent check's hot path (issue 11 performance): on SQLite the service answers from its
own read-only connection with precompiled statements; it must give the library's answer in
every state, see every commit at once, and a revoked key must fail at the next request."""

from __future__ import annotations

from typing import Any

from tests.service.conftest import GRANT, SUBJECT, SUBJECT2


def _check(svc: Any, **body: Any) -> dict[str, Any]:
    r = svc.client.post("/v1/consent/check", headers=svc.h("service"),
                        json={"purpose": "offers", **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


def _library(svc: Any, subject: str, **kw: Any) -> dict[str, Any]:
    from veil.consent import Ledger
    from veil.policy import load_policy

    st = Ledger(svc.ws, load_policy(svc.ws.root / "policy.yaml")).check(subject, "offers", **kw)
    d = st.to_json()
    d["subject_ref"] = d.pop("subject")
    return d


def _same(svc: Any, subject: str, **kw: Any) -> dict[str, Any]:
    got = _check(svc, subject=subject, **kw)
    want = _library(svc, subject, at=kw.get("at"), notice_version=kw.get("notice_version"))
    if kw.get("at") is None:  # "now" differs by the microseconds between the two calls
        got.pop("at", None)
        want.pop("at", None)
    assert got == want
    return got


def test_the_service_answers_as_the_library_does(svc) -> None:
    c, h = svc.client, svc.h("service")
    assert not _same(svc, SUBJECT)["valid"]  # unknown subject
    assert c.post("/v1/consent/grant", headers=h, json={
        "subject": SUBJECT, **GRANT, "time": "2025-01-01T00:00:00Z"}).status_code == 201
    assert _same(svc, SUBJECT)["valid"]  # the commit is seen by the next check
    assert _same(svc, SUBJECT, notice_version="1")["valid"]
    assert not _same(svc, SUBJECT, at="2024-06-01T00:00:00Z")["valid"]  # before the grant
    assert _same(svc, SUBJECT, at="2025-06-01T00:00:00Z")["valid"]
    assert c.post("/v1/consent/withdraw", headers=h, json={
        "subject": SUBJECT, "purpose": "offers", "channel": "web_form",
        "action": "clicked withdraw", "time": "2025-03-01T00:00:00Z"}).status_code == 201
    assert not _same(svc, SUBJECT)["valid"]
    assert _same(svc, SUBJECT, at="2025-02-01T00:00:00Z")["valid"]  # as of a past time
    assert not _same(svc, SUBJECT2)["valid"]


def test_a_revoked_key_fails_at_the_next_request(svc) -> None:
    from veil.service import ApiKeyStore

    assert _check(svc, subject=SUBJECT)["valid"] is False
    ApiKeyStore(svc.ws).revoke(svc.key_id("service"), by="tests")
    r = svc.client.post("/v1/consent/check", headers=svc.h("service"),
                        json={"subject": SUBJECT, "purpose": "offers"})
    assert r.status_code == 401 and "revoked" in r.text
