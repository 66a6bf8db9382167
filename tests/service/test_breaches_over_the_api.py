"""Breaches over the API do what ``veil breach`` does (open with windows and exposed keys, update,
assess with the Art. 34(3) exceptions, notify with the content digest, draft in every format,
close, 409 once closed, only the DPO writes), and their errors name the body field the caller
sent, never the CLI flag."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

BREACH = {"title": "Laptop lost", "occurred_at": "2026-01-01T08:00:00Z",
          "aware_at": "2026-01-01T10:00:00Z", "nature": ["confidentiality"],
          "other": ["printed customer list"], "estimate_subjects": 10}


def _open(svc: Any, **extra: Any) -> str:
    r = svc.client.post("/v1/breaches", headers=svc.h("dpo"), json={**BREACH, **extra})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_breach_api_does_what_the_cli_does(svc) -> None:
    """open with windows / key_exposed / encrypted_datasets, update, assess with the Art. 34(3)
    exceptions, notify with the content digest, draft in every format, close."""
    from veil.audit.log import AuditLog

    c, h = svc.client, svc.h("dpo")
    r = c.post("/v1/breaches", headers=h, json={
        **BREACH, "windows": [{"start": "2026-01-01T00:00:00Z", "end": "2026-01-01T06:00:00Z"}],
        "encrypted_datasets": True, "key_exposed": []})
    assert r.status_code == 201, r.text
    ref = r.json()["id"]
    r = c.post(f"/v1/breaches/{ref}/update", headers=h, json={
        "add_measures": ["Remote wipe of the laptop"], "add_consequences": ["phishing"],
        "malicious": True, "estimate_subjects": 12})
    assert r.status_code == 200, r.text
    b = r.json()
    assert "Remote wipe of the laptop" in b["measures"] and b["circumstances"]["malicious"]
    r = c.post(f"/v1/breaches/{ref}/update", headers=h, json={})
    assert r.status_code == 422 and r.json()["error"]["where"] == "body"
    r = c.post(f"/v1/breaches/{ref}/assess", headers=h, json={
        "exception_c": "No current address for most subjects"})
    assert r.status_code == 200, r.text
    a = r.json()["assessment"]  # applied when the risk is high, else a factor says so
    assert [e for e in a["exceptions"] if e["exception"].endswith("c")] or \
        [f for f in a["factors"] if f["factor"] == "Art. 34(3) exceptions"
         and "c" in f["value"]], a
    opts = {"tz": "Europe/Berlin", "subjects_notice": True}
    r = c.post(f"/v1/breaches/{ref}/draft", headers=h, json=opts)
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["authority"]["breach"] == ref and d["authority_markdown"].strip()
    assert d["authority_html"].startswith("<!DOCTYPE html>") and d["subjects_markdown"]
    assert isinstance(d["missing"], list)
    r = c.post(f"/v1/breaches/{ref}/draft", headers=h, params={"format": "markdown"},
               json=opts)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/markdown")
    assert r.text == d["authority_markdown"]
    r = c.post(f"/v1/breaches/{ref}/draft", headers=h,
               params={"format": "html", "notice": "subjects"}, json=opts)
    assert r.headers["content-type"].startswith("text/html") and r.text == d["subjects_html"]
    # what is sent has its gaps filled: a text that still reads MISSING: is refused (422)
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h, json={
        "recipient": "authority", "delay_reason": "x", "content": d["authority_markdown"]})
    assert r.status_code == 422 and "MISSING item" in r.text, r.text
    sent = d["authority_markdown"].replace("MISSING:", "to follow (Art. 33(4)):")
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h, json={
        "recipient": "authority", "delay_reason": "found the list only today",
        "content": sent, "reference": "HBDI-2026-17"})
    assert r.status_code == 200, r.text
    pdf = b"%PDF-1.7 letter to subjects"
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h, json={
        "recipient": "public", "content_base64": base64.b64encode(pdf).decode()})
    assert r.status_code == 200, r.text
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h, json={
        "recipient": "public", "content": "x", "content_base64": "eA=="})
    assert r.status_code == 422
    digests = [e.event.digests for e in AuditLog(svc.ws).events(action="breach.notify")]
    assert {"content": "sha256:" + hashlib.sha256(sent.encode()).hexdigest()} in digests
    assert {"content": "sha256:" + hashlib.sha256(pdf).hexdigest()} in digests
    assert len(list(AuditLog(svc.ws).events(action="breach.draft"))) == 3
    r = c.post(f"/v1/breaches/{ref}/close", headers=h, json={"reason": "done", "force": True})
    assert r.status_code == 200, r.text
    # a closed breach is a state conflict: 409, for every write
    for path, body in (("update", {"add_measures": ["more"]}), ("assess", {}),
                       ("notify", {"recipient": "authority"}), ("close", {"reason": "again"})):
        r = c.post(f"/v1/breaches/{ref}/{path}", headers=h, json=body)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["where"] == "path.ref" and "closed" in r.text
    # the matrix: only the DPO writes
    for role in ("engineer", "service", "auditor"):
        r = c.post(f"/v1/breaches/{ref}/draft", headers=svc.h(role))
        assert r.status_code == 403
        r = c.post(f"/v1/breaches/{ref}/update", headers=svc.h(role), json={})
        assert r.status_code == 403


@pytest.mark.parametrize(("body", "where", "not_in"), [
    ({"tz": "Mars/Olympus"}, "body.tz", "--tz"),
    ({"aware_at": "2025-12-31T00:00:00Z"}, "body.aware_at", "--aware"),
    ({"other": [], "outputs": ["no-such.parquet"]}, "body.outputs", "--output"),
    ({"occurred_at": "2026-01-01T08:00:00"}, "body.occurred_at", "--tz"),
    ({"other": []}, "body", "--other"),
], ids=["tz", "aware", "output", "no offset", "nothing exposed"])
def test_breach_errors_name_body_fields(svc, body, where, not_in) -> None:
    r = svc.client.post("/v1/breaches", headers=svc.h("dpo"), json={**BREACH, **body})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["where"] == where, err
    assert not_in not in err["message"], err


def test_notify_and_assess_errors_name_body_fields(svc) -> None:
    ref = _open(svc)
    c, h = svc.client, svc.h("dpo")
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h, json={"recipient": "authority"})
    err = r.json()["error"]
    assert r.status_code == 422 and err["where"] == "body.delay_reason", err
    assert "--delay-reason" not in err["message"] and "delay_reason" in err["message"]
    r = c.post(f"/v1/breaches/{ref}/notify", headers=h,
               json={"sent_at": "2025-01-01T00:00:00Z", "delay_reason": "x"})
    assert r.json()["error"]["where"] == "body.sent_at"
    r = c.post(f"/v1/breaches/{ref}/assess", headers=h, json={"override": "none"})
    assert r.status_code == 422 and r.json()["error"]["where"] == "body.reason"
    r = c.post(f"/v1/breaches/{ref}/assess", headers=h, json={"exception_c": "   "})
    assert r.status_code == 422 and r.json()["error"]["where"] == "body.exception_c"
    r = c.post("/v1/breaches/BR-0999/update", headers=h, json={"add_measures": ["x"]})
    assert r.status_code == 404
