"""Bad input gets the right 4xx with a clear message and stores nothing; headers, body limits,
rate limits, CORS, upload scans."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import GRANT, SUBJECT, client_for, make_keys, make_workspace


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Iterator[Any]:
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    yield root, ws, keys
    ws.close()


def _stored(ws: Any) -> tuple[int, int]:
    from veil.audit.log import AuditLog
    from veil.consent import Ledger

    return Ledger(ws).count(), len(list(AuditLog(ws).events(action="consent.*")))


BAD_GRANTS: list[tuple[str, Any, int, str]] = [
    ("unknown field", {"subject": SUBJECT, **GRANT, "admin": True}, 422, "body.admin: unknown"),
    ("wrong type", {**GRANT, "subject": 12345}, 422, "body.subject"),
    ("bool as age", {"subject": SUBJECT, **GRANT, "age": True}, 422, "body.age"),
    ("missing action", {"subject": SUBJECT, "purpose": "offers", "channel": "app"}, 422,
     "body.action"),
    ("long subject", {**GRANT, "subject": "x" * 257}, 422, "body.subject"),
    ("bad channel", {"subject": SUBJECT, **GRANT, "channel": "telepathy"}, 422, "body.channel"),
    ("system channel", {"subject": SUBJECT, **GRANT, "channel": "system"}, 422, "body.channel"),
    ("pre-ticked", {"subject": SUBJECT, **GRANT, "action": "pre-ticked box"}, 422,
     "not an explicit action"),
    ("unknown purpose", {"subject": SUBJECT, **GRANT, "purpose": "spam"}, 422,
     "unknown purpose '…'"),
    ("not consent-based", {"subject": SUBJECT, **GRANT, "purpose": "scoring"}, 422,
     "does not rely on consent"),
    ("future time", {"subject": SUBJECT, **GRANT, "time": "2999-01-01T00:00:00Z"}, 422,
     "in the future"),
    ("bad time", {"subject": SUBJECT, **GRANT, "time": "yesterday"}, 422, "not an ISO 8601"),
    ("bad evidence", {"subject": SUBJECT, **GRANT, "evidence": "sha1:abc"}, 422,
     "body.evidence"),
    ("a list", [SUBJECT], 422, "body"),
]


@pytest.mark.parametrize("case", BAD_GRANTS, ids=[c[0] for c in BAD_GRANTS])
def test_bad_grants_are_refused_and_store_nothing(env, case) -> None:
    root, ws, keys = env
    _, body, status, text = case
    with client_for(root, rate_limit=0) as c:
        r = c.post("/v1/consent/grant", headers={"X-API-Key": keys["service"]}, json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert text in err["message"], err
    assert SUBJECT not in err["message"]  # never echoes the subject id
    assert _stored(ws) == (0, 0)


def test_malformed_and_oversized_bodies(env) -> None:
    root, ws, keys = env
    h = {"X-API-Key": keys["service"], "Content-Type": "application/json"}
    with client_for(root, rate_limit=0, max_body_bytes=4096) as c:
        r = c.post("/v1/consent/grant", headers=h, content=b'{"subject": "a",')
        assert r.status_code == 400
        assert r.json()["error"]["message"].startswith("malformed JSON at line 1 column 17")
        big = b'{"subject": "' + b"a" * 5000 + b'"}'
        r = c.post("/v1/consent/grant", headers=h, content=big)
        assert r.status_code == 413
        assert r.json()["error"]["message"] == "request body is larger than 4096 bytes"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
            yield b'{"subject": "'
            for _ in range(10):
                yield b"a" * 1000

        r = c.post("/v1/consent/grant", headers=h, content=chunks())
        assert r.status_code == 413, r.text
        r = c.post("/v1/consent/check-bulk", headers=h,
                   json={"purpose": "offers", "subjects": ["a"] * 10_001})
        assert r.status_code == 413  # the body limit comes first
    with client_for(root, rate_limit=0) as c:
        r = c.post("/v1/consent/check-bulk", headers=h,
                   json={"purpose": "offers", "subjects": ["a"] * 10_001})
        assert r.status_code == 422 and "body.subjects" in r.json()["error"]["message"]
    assert _stored(ws) == (0, 0)


def test_security_headers_and_no_cors_by_default(env) -> None:
    root, _, keys = env
    with client_for(root, rate_limit=0) as c:
        for r in (c.get("/health"), c.get("/v1/auth/whoami"),
                  c.get("/v1/auth/whoami", headers={"X-API-Key": keys["dpo"]})):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["cache-control"] == "no-store"
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
            assert r.headers["x-frame-options"] == "DENY"
            assert "strict-transport-security" not in r.headers  # plain HTTP: no HSTS
            assert "server" not in r.headers
        r = c.options("/v1/consent/check", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers
    with client_for(root, rate_limit=0, cors_origins=("https://app.bank.example",)) as c:
        r = c.options("/v1/consent/check", headers={
            "Origin": "https://app.bank.example", "Access-Control-Request-Method": "POST"})
        assert r.headers["access-control-allow-origin"] == "https://app.bank.example"
        r = c.options("/v1/consent/check", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in r.headers


def test_rate_limit_per_key(env, monkeypatch) -> None:
    from veil.service.middleware import RateLimiter

    monkeypatch.setattr(RateLimiter, "clock", staticmethod(lambda: 1000.0))  # no refill
    root, _, keys = env
    with client_for(root, rate_limit=1, rate_burst=3) as c:
        codes = [c.get("/v1/auth/whoami", headers={"X-API-Key": keys["dpo"]}).status_code
                 for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]
        r = c.get("/v1/auth/whoami", headers={"X-API-Key": keys["dpo"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert "rate limit of key" in r.json()["error"]["message"]
        # another key has its own bucket
        assert c.get("/v1/auth/whoami", headers={"X-API-Key": keys["auditor"]}).status_code == 200
        # guessing keys is slowed down per client address
        codes = [c.get("/v1/auth/whoami", headers={"X-API-Key": "veil_0123456789ab_" + "A" * 43}
                       ).status_code for _ in range(25)]
        assert codes[0] == 401 and codes[-1] == 429


def test_scan_upload(env) -> None:
    root, ws, keys = env
    h = {"X-API-Key": keys["engineer"]}
    csv = (b"customer,email,iban\n"
           b"Anna Schmidt,anna.schmidt@example.com,DE89370400440532013000\n"
           b"Jan Novak,jan.novak@example.org,GB82WEST12345698765432\n")
    with client_for(root, rate_limit=0, max_upload_bytes=2048) as c:
        r = c.post("/v1/scan", params={"format": "csv", "name": "people.csv"}, headers=h,
                   content=csv)
        assert r.status_code == 200, r.text
        rep = r.json()
        assert rep["source"]["ref"] == "people.csv" and rep["rows_scanned"] == 2
        assert {"email", "iban"} <= set(rep["pii_columns"])
        assert b"anna.schmidt@example.com" not in r.content  # masked examples only
        r = c.post("/v1/scan", params={"format": "csv"}, headers=h, content=csv * 100)
        assert r.status_code == 413
        r = c.post("/v1/scan", params={"format": "csv"}, headers=h, content=b"")
        assert r.status_code == 422 and "empty upload" in r.json()["error"]["message"]
        r = c.post("/v1/scan", params={"format": "exe"}, headers=h, content=b"MZ")
        assert r.status_code == 422 and "query.format" in r.json()["error"]["message"]
        r = c.post("/v1/scan", params={"format": "parquet"}, headers=h, content=b"not parquet")
        assert r.status_code == 422
        assert "veil-upload-" not in r.text  # the temporary file is not named
    from veil.audit.log import AuditLog

    scans = list(AuditLog(ws).events(action="discovery.scan"))
    assert len(scans) == 1 and scans[0].actor == f"key:{keys['engineer'].split('_')[1]}"


def test_plain_http_only_on_loopback(env) -> None:
    from veil.errors import InputError
    from veil.service import ServiceConfig

    root, _, _ = env
    ServiceConfig.load(root, host="127.0.0.1").check_listen()
    with pytest.raises(InputError, match="refusing to serve plain HTTP on 0.0.0.0"):
        ServiceConfig.load(root, host="0.0.0.0").check_listen()
    (root / "veil.toml").write_text((root / "veil.toml").read_text()
                                    + "\n[service]\nrate_limt = 5\n")
    with pytest.raises(InputError, match="unknown setting.*rate_limt"):
        ServiceConfig.load(root)
