"""Refusals and error answers of the service: no server paths in answers, 409 for a closed
request, authentication (and authorization) before the JSON body is parsed, coalesced denials in
the audit log, revoked tokens, rate-limit bursts, future consent checks refused, and the CLI's
messages naming the value and the file."""

from __future__ import annotations

import time
from typing import Any

from tests.service.conftest import GRANT, SUBJECT, client_for


def test_no_server_paths_in_answers(svc) -> None:
    c = svc.client
    root = str(svc.ws.root)
    r = c.post("/v1/consent/check", headers=svc.h("service"),
               json={"subject": SUBJECT, "purpose": "spam"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert "unknown purpose '…'" in err["message"]
    assert "policy.yaml" not in r.text and root not in r.text and err["where"] == "policy"
    r = c.post("/v1/dsr", headers=svc.h("dpo"),
               json={"kind": "access", "subject": SUBJECT, "verification": "ID checked"})
    assert r.status_code == 201, r.text
    rec = r.json()
    assert rec["policy"] == "Service test bank" and root not in r.text
    assert "policy.yaml" not in r.text
    r = c.post(f"/v1/dsr/{rec['id']}/close", headers=svc.h("dpo"), json={"note": "told"})
    assert r.status_code == 200
    r = c.post(f"/v1/dsr/{rec['id']}/close", headers=svc.h("dpo"), json={"note": "again"})
    assert r.status_code == 409 and "already closed" in r.json()["error"]["message"]
    listed = c.get("/v1/dsr", headers=svc.h("dpo"), params={"include_closed": True})
    assert root not in listed.text and "policy.yaml" not in listed.text


def test_malformed_json_authenticates_first(svc) -> None:
    c = svc.client
    bad = b'{"subject": "a",\n  "purpose": }'
    ct = {"Content-Type": "application/json"}
    r = c.post("/v1/consent/check", headers=ct, content=bad)
    assert r.status_code == 401 and "credentials required" in r.text
    r = c.post("/v1/consent/check", headers={**ct, "X-API-Key": "veil_0123456789ab_" + "A" * 43},
               content=bad)
    assert r.status_code == 401 and "invalid API key" in r.text
    r = c.post("/v1/consent/grant", headers={**ct, **svc.h("auditor")}, content=bad)
    assert r.status_code == 403  # authorization too comes before the body
    r = c.post("/v1/consent/check", headers={**ct, **svc.h("service")}, content=bad)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["message"].startswith("malformed JSON at line 2 column 14"), err
    assert err["where"] == "body"
    token = c.post("/v1/auth/token", headers=svc.h("service")).json()["access_token"]
    r = c.post("/v1/consent/check", headers={**ct, "Authorization": f"Bearer {token}"},
               content=b"{")
    assert r.status_code == 400 and "line 1 column 2" in r.text


def test_denials_are_coalesced(svc, monkeypatch) -> None:
    from veil.audit.log import AuditLog
    from veil.service import auth

    c, h = svc.client, svc.h("engineer")
    actor = f"key:{svc.key_id('engineer')}"
    for _ in range(30):
        assert c.get("/v1/audit/head", headers=h).status_code == 403
    assert c.get("/v1/breaches", headers=h).status_code == 403  # another permission

    def denied() -> list[Any]:
        return list(AuditLog(svc.ws).events(action="service.denied", actor=actor))

    got = denied()
    assert [e.event.details["permission"] for e in got] == ["audit.read", "breach.read"]
    assert got[0].event.counts == {"suppressed": 0}
    # the window ends: the next refusal is recorded with the 29 counted meanwhile
    service = c.app.state.service
    for slot, (start, n) in list(service.denials.windows.items()):
        service.denials.windows[slot] = (start - auth.DENIED_WINDOW, n)
    assert c.get("/v1/audit/head", headers=h).status_code == 403
    got = denied()
    assert len(got) == 3 and got[-1].event.counts == {"suppressed": 29}
    # refusals counted when the service stops are recorded in a summary
    for _ in range(4):
        c.get("/v1/audit/head", headers=h)
    service.flush_denied()
    summary = list(AuditLog(svc.ws).events(action="service.denied_summary", actor=actor))
    assert len(summary) == 1 and summary[0].event.counts == {"suppressed": 4}


def test_revoked_token_says_revoked(workspace) -> None:
    from veil.service import ApiKeyStore

    store = ApiKeyStore(workspace)
    key, secret = store.create("service", "web-app", created_by="ops")
    with client_for(workspace.root, rate_limit=0) as c:
        tok = c.post("/v1/auth/token", headers={"X-API-Key": secret}).json()["access_token"]
        store.revoke(key.key_id, by="ops")
        r = c.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {tok}"})
        assert r.status_code == 401
        token_id = tok.split("_")[1]
        assert r.json()["error"]["message"] == \
            f"bearer token (or its API key) {token_id} is revoked"
        wrong = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
        r = c.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {wrong}"})
        assert r.json()["error"]["message"] == "invalid API key or token"  # no secret: no news


def test_burst_defaults_to_one_second_of_rate(workspace, monkeypatch) -> None:
    from veil.service import ServiceConfig
    from veil.service.middleware import RateLimiter

    monkeypatch.setattr(RateLimiter, "clock", staticmethod(lambda: 1000.0))  # no refill
    assert ServiceConfig.load(workspace.root, rate_limit=5).burst == 5
    assert ServiceConfig.load(workspace.root, rate_limit=0.5).burst == 1
    assert ServiceConfig.load(workspace.root, rate_limit=5, rate_burst=12).burst == 12
    keys = {"X-API-Key": ApiKeyStoreKey(workspace)}
    with client_for(workspace.root, rate_limit=5) as c:
        codes = [c.get("/v1/auth/whoami", headers=keys).status_code for _ in range(8)]
    assert codes == [200] * 5 + [429] * 3, codes


def ApiKeyStoreKey(workspace: Any) -> str:  # noqa: N802 - reads as the value it gives
    from veil.service import ApiKeyStore

    return ApiKeyStore(workspace).create("dpo", "burst", created_by="tests")[1]


def test_consent_check_refuses_a_future_at(svc) -> None:
    c, h = svc.client, svc.h("service")
    assert c.post("/v1/consent/grant", headers=h,
                  json={"subject": SUBJECT, **GRANT}).status_code == 201
    for path, body in (("/v1/consent/check", {"subject": SUBJECT, "purpose": "offers"}),
                       ("/v1/consent/check-bulk", {"subjects": [SUBJECT], "purpose": "offers"})):
        r = c.post(path, headers=h, json={**body, "at": "2099-01-01T00:00:00Z"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["where"] == "body.at" and "future" in r.text
        soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 120))
        r = c.post(path, headers=h, json={**body, "at": soon})  # clock skew is tolerated
        assert r.status_code == 200, r.text


def test_cli_messages_name_the_value_and_the_file(workspace, capsys) -> None:
    from veil.cli import main as cli_main

    assert cli_main.main(["apikey", "create", "--role", "dpo", "--name", "x",
                          "--expires-in", "-3 days"]) == 4
    err = capsys.readouterr().err
    assert "--expires-in '-3 days' is not a duration" in err and "retention" not in err
    assert cli_main.main(["serve", "--certfile", "nope.pem", "--keyfile", "nope.key"]) == 4
    assert "--certfile nope.pem: file not found" in capsys.readouterr().err


def test_serve_has_a_burst_option() -> None:
    from typer.testing import CliRunner

    from veil.cli import main as cli_main

    out = CliRunner().invoke(cli_main.app, ["serve", "--help"]).output
    assert "--burst" in out
