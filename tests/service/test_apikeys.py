"""API keys and bearer tokens, on SQLite and PostgreSQL: hashed at rest, shown once, expiry,
revocation (effective at the next request), malformed and unknown credentials."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.service.conftest import GRANT, SUBJECT, client_for


def test_keys_are_stored_hashed_and_listed_without_secrets(workspace) -> None:
    from veil.service import ApiKeyStore
    from veil.store.schema import api_keys

    store = ApiKeyStore(workspace)
    key, secret = store.create("service", "web-app", created_by="ops",
                               expires=timedelta(days=90))
    assert secret.startswith(f"veil_{key.key_id}_") and len(secret) == 5 + 12 + 1 + 43
    with workspace.engine.connect() as conn:
        row = conn.execute(sa.select(api_keys)).one()
    assert secret.split("_", 2)[2] not in str(tuple(row))
    assert row.secret_hash == store.hasher.hash(key.key_id, secret.split("_", 2)[2])
    listed = store.list()
    assert [k.key_id for k in listed] == [key.key_id]
    assert listed[0].status() == "active" and listed[0].expires is not None
    assert "secret" not in listed[0].to_json()
    assert store.authenticate(secret).role == "service"


def test_bad_key_requests_are_refused_clearly(workspace) -> None:
    from veil.errors import InputError
    from veil.service import ApiKeyStore

    store = ApiKeyStore(workspace)
    with pytest.raises(InputError, match="unknown role 'root'"):
        store.create("root", "x", created_by="ops")
    with pytest.raises(InputError, match="key name"):
        store.create("dpo", "two\nlines", created_by="ops")
    with pytest.raises(InputError, match="not in the future"):
        store.create("dpo", "x", created_by="ops", expires=datetime(2020, 1, 1, tzinfo=UTC))
    with pytest.raises(InputError, match="no API key 0123456789ab"):
        store.revoke("0123456789ab", by="ops")
    assert store.list() == []


def test_revoked_expired_malformed_and_unknown_credentials_get_401(workspace) -> None:
    from veil.audit.log import AuditLog
    from veil.service import ApiKeyStore
    from veil.store.schema import api_keys

    store = ApiKeyStore(workspace)
    good, secret = store.create("dpo", "ops", created_by="ops")
    gone, gone_secret = store.create("dpo", "old", created_by="ops")
    short, short_secret = store.create("auditor", "short", created_by="ops",
                                       expires=timedelta(seconds=30))
    with client_for(workspace.root, rate_limit=0) as client:
        def whoami(cred: str, header: str = "X-API-Key") -> tuple[int, str]:
            value = cred if header == "X-API-Key" else f"Bearer {cred}"
            r = client.get("/v1/auth/whoami", headers={header: value})
            return r.status_code, (r.json().get("error") or {}).get("message", "")

        assert whoami(secret)[0] == 200
        assert whoami(gone_secret, "Authorization")[0] == 200
        store.revoke(gone.key_id, by="ops")  # from another connection: next request refused
        assert whoami(gone_secret) == (401, f"API key {gone.key_id} is revoked")
        with workspace.engine.begin() as conn:  # let the short key run out
            conn.execute(api_keys.update().where(api_keys.c.key_id == short.key_id)
                         .values(expires_us=int(time.time() * 1e6) - 1))
        assert whoami(short_secret) == (401, f"API key {short.key_id} has expired")
        wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
        assert whoami(wrong) == (401, "invalid API key or token")
        assert whoami("veil_0123456789ab_" + "A" * 43) == (401, "invalid API key or token")
        status, msg = whoami("hunter2")
        assert status == 401 and "malformed credentials" in msg and "hunter2" not in msg
        r = client.get("/v1/auth/whoami")
        assert r.status_code == 401 and "credentials required" in r.json()["error"]["message"]
    actions = [e.action for e in AuditLog(workspace).events(action="apikey.*")]
    assert actions == ["apikey.created"] * 3 + ["apikey.revoked"]


def test_bearer_tokens_carry_the_role_and_die_with_the_key(workspace) -> None:
    from veil.audit.log import AuditLog
    from veil.service import ApiKeyStore

    store = ApiKeyStore(workspace)
    key, secret = store.create("service", "web-app", created_by="ops")
    with client_for(workspace.root, rate_limit=0) as client:
        r = client.post("/v1/auth/token", headers={"X-API-Key": secret}, json={"minutes": 5})
        assert r.status_code == 200, r.text
        tok = r.json()
        assert tok["token_type"] == "bearer" and tok["role"] == "service"
        assert 0 < tok["expires_in"] <= 300 and tok["access_token"].startswith("vt_")
        bearer = {"Authorization": f"Bearer {tok['access_token']}"}
        who = client.get("/v1/auth/whoami", headers=bearer).json()
        assert who["via"] == "bearer-token" and who["key_id"] == key.key_id
        # a token cannot mint tokens; a service token cannot read the audit log
        assert client.post("/v1/auth/token", headers=bearer).status_code == 403
        assert client.get("/v1/audit/head", headers=bearer).status_code == 403
        r = client.post("/v1/auth/token", headers={"X-API-Key": secret}, json={"minutes": 0})
        assert r.status_code == 422 and r.json()["error"]["where"] == "body.minutes"
        store.revoke(key.key_id, by="ops")
        r = client.get("/v1/auth/whoami", headers=bearer)
        assert r.status_code == 401
    issued = list(AuditLog(workspace).events(action="apikey.token_issued"))
    assert len(issued) == 1 and issued[0].actor == f"key:{key.key_id}"
    assert tok["access_token"].split("_", 2)[2] not in issued[0].data.decode()


def test_consent_flow_over_the_api(svc) -> None:
    """Grant, check, bulk check, history, receipt, withdraw; audit events name the key."""
    from veil.audit.log import AuditLog
    from veil.consent import Ledger

    c, svc_h = svc.client, svc.h("service")
    r = c.post("/v1/consent/grant", headers=svc_h, json={"subject": SUBJECT, **GRANT})
    assert r.status_code == 201, r.text
    ev = r.json()
    assert ev["event"] == "granted" and ev["collector"] == f"key:{svc.key_id('service')}"
    assert "subject" not in ev and ev["subject_ref"].startswith("subject #")
    assert ev["notice_version"] == "1"
    r = c.post("/v1/consent/check", headers=svc_h, json={"subject": SUBJECT, "purpose": "offers"})
    assert r.json()["valid"] is True and r.json()["reason"] == "ok"
    r = c.post("/v1/consent/check-bulk", headers=svc.h("engineer"),
               json={"purpose": "offers", "subjects": [SUBJECT, "someone-else", None]})
    assert r.json()["mask"] == [True, False, False]
    assert r.json()["reasons"] == ["ok", "no consent", "no subject id"]
    r = c.post("/v1/consent/receipt", headers=svc_h, json={"subject": SUBJECT})
    assert r.status_code == 200 and r.json()["records"][0]["consent_status"] == "given"
    r = c.post("/v1/consent/withdraw", headers=svc_h,
               json={"subject": SUBJECT, "purpose": "offers", "channel": "app",
                     "action": "clicked Withdraw"})
    assert r.status_code == 201
    r = c.post("/v1/consent/check", headers=svc_h, json={"subject": SUBJECT, "purpose": "offers"})
    assert r.json()["valid"] is False and r.json()["reason"] == "consent withdrawn"
    r = c.post("/v1/consent/history", headers=svc.h("dpo"), json={"subject": SUBJECT})
    assert [e["event"] for e in r.json()["events"]] == ["granted", "withdrawn"]
    r = c.post("/v1/consent/history", headers=svc.h("dpo"), json={"subject": "never-seen"})
    assert r.status_code == 404 and "never-seen" not in r.text
    assert Ledger(svc.ws).count() == 2
    audit = list(AuditLog(svc.ws).events(action="consent.*"))
    assert [e.action for e in audit] == ["consent.granted", "consent.withdrawn"]
    assert {e.actor for e in audit} == {f"key:{svc.key_id('service')}"}
    assert all(SUBJECT not in e.data.decode() for e in audit)
