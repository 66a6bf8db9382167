"""The permission matrix, endpoint by endpoint and role by role, from the one table in
veil.service.roles: allowed calls get through (2xx), the others get 403 and an audit event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import GRANT, SUBJECT, client_for, make_keys, make_workspace
from veil.audit.heads import generate_signing_key
from veil.service.roles import PERMISSIONS, ROLE_PERMISSIONS, ROLES, allowed, matrix_markdown

CSV = b"customer,email\nAnna Schmidt,anna.schmidt@example.com\nJan Novak,jan.novak@example.org\n"

_WITNESSED_KEY = generate_signing_key()

# One valid request per route (method, route template) -> (path, request kwargs).
SAMPLES: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {
    ("GET", "/v1/auth/whoami"): ("/v1/auth/whoami", {}),
    ("POST", "/v1/auth/token"): ("/v1/auth/token", {"json": {"minutes": 5}}),
    ("POST", "/v1/consent/grant"): ("/v1/consent/grant", {"json": {"subject": SUBJECT, **GRANT}}),
    ("POST", "/v1/consent/renew"): ("/v1/consent/renew", {"json": {"subject": SUBJECT, **GRANT}}),
    ("POST", "/v1/consent/withdraw"): ("/v1/consent/withdraw", {"json": {
        "subject": "matrix-withdraw", "purpose": "offers", "channel": "app"}}),
    ("POST", "/v1/consent/check"): ("/v1/consent/check", {"json": {
        "subject": SUBJECT, "purpose": "offers"}}),
    ("POST", "/v1/consent/check-bulk"): ("/v1/consent/check-bulk", {"json": {
        "purpose": "offers", "subjects": [SUBJECT, "nobody", None]}}),
    ("POST", "/v1/consent/history"): ("/v1/consent/history", {"json": {"subject": SUBJECT}}),
    ("POST", "/v1/consent/receipt"): ("/v1/consent/receipt", {"json": {"subject": SUBJECT}}),
    ("GET", "/v1/audit/head"): ("/v1/audit/head", {}),
    ("GET", "/v1/audit/proof/{index}"): ("/v1/audit/proof/0", {}),
    ("GET", "/v1/audit/verify"): ("/v1/audit/verify", {}),
    ("GET", "/v1/audit/events"): ("/v1/audit/events", {"params": {"action": "consent.*"}}),
    ("GET", "/v1/policy"): ("/v1/policy", {}),
    ("GET", "/v1/ropa"): ("/v1/ropa", {}),
    ("GET", "/v1/ropa.md"): ("/v1/ropa.md", {}),
    ("POST", "/v1/scan"): ("/v1/scan", {"params": {"format": "csv", "name": "people.csv"},
                                        "content": CSV}),
    ("GET", "/v1/retention"): ("/v1/retention", {}),
    ("POST", "/v1/retention/sweep"): ("/v1/retention/sweep", {"json": {"dry_run": True}}),
    ("GET", "/metrics"): ("/metrics", {}),
}


def _routes(app: Any) -> dict[tuple[str, str], str]:
    """(method, path) -> permission, from the app's OpenAPI document."""
    out = {}
    for path, ops in app.openapi()["paths"].items():
        for method, op in ops.items():
            if "x-permission" in op:
                out[(method.upper(), path)] = op["x-permission"]
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[Any]:
    from veil.kek.providers import EnvKEK

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VEIL_DATABASE_URL", raising=False)
        mp.delenv("VEIL_WORKSPACE", raising=False)
        mp.setenv("VEIL_KEK", EnvKEK.new_secret())
        root = tmp_path_factory.mktemp("matrix") / "ws"
        ws = make_workspace(root)
        keys = make_keys(ws)
        with client_for(root, rate_limit=0) as client:
            ws.close()
            yield root, keys, client


def test_every_route_names_a_known_permission_and_has_a_sample(env) -> None:
    _, _, client = env
    routes = _routes(client.app)
    assert routes, "no routes with x-permission"
    for (method, path), permission in routes.items():
        assert permission in PERMISSIONS, (method, path, permission)
        assert (method, path) in SAMPLES or (method, path) in EXTRA_SAMPLES, \
            f"add a sample request for {method} {path} to the matrix test"
    assert set(routes.values()) == set(PERMISSIONS), "a permission no route uses"


BREACH = {"title": "Laptop lost", "occurred_at": "2026-01-01T08:00:00Z",
          "aware_at": "2026-01-01T10:00:00Z", "nature": ["confidentiality"],
          "other": ["printed customer list"], "estimate_subjects": 10}


def _dsr(client: Any, keys: dict[str, str]) -> str:
    r = client.post("/v1/dsr", headers={"X-API-Key": keys["dpo"]},
                    json={"kind": "access", "subject": SUBJECT, "verification": "ID checked"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _breach(client: Any, keys: dict[str, str]) -> str:
    r = client.post("/v1/breaches", headers={"X-API-Key": keys["dpo"]}, json=BREACH)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


# Routes whose sample needs a fresh request or breach: (client, keys) -> (path, kwargs).
EXTRA_SAMPLES: dict[tuple[str, str], Any] = {
    ("GET", "/v1/dsr"): lambda c, k: ("/v1/dsr", {"params": {"include_closed": True}}),
    ("POST", "/v1/dsr"): lambda c, k: ("/v1/dsr", {"json": {
        "kind": "access", "subject": SUBJECT, "verification": "ID checked at the branch"}}),
    ("GET", "/v1/dsr/{request_id}"): lambda c, k: (f"/v1/dsr/{_dsr(c, k)}", {}),
    ("POST", "/v1/dsr/{request_id}/run"): lambda c, k: (f"/v1/dsr/{_dsr(c, k)}/run", {}),
    ("POST", "/v1/dsr/{request_id}/close"): lambda c, k: (
        f"/v1/dsr/{_dsr(c, k)}/close", {"json": {"note": "told the subject"}}),
    ("GET", "/v1/breaches"): lambda c, k: ("/v1/breaches", {}),
    ("POST", "/v1/breaches"): lambda c, k: ("/v1/breaches", {"json": BREACH}),
    ("GET", "/v1/breaches/register"): lambda c, k: ("/v1/breaches/register", {}),
    ("GET", "/v1/breaches/register.csv"): lambda c, k: ("/v1/breaches/register.csv", {}),
    ("GET", "/v1/breaches/{ref}"): lambda c, k: (f"/v1/breaches/{_breach(c, k)}", {}),
    ("POST", "/v1/breaches/{ref}/assess"): lambda c, k: (
        f"/v1/breaches/{_breach(c, k)}/assess", {}),
    ("POST", "/v1/breaches/{ref}/notify"): lambda c, k: (
        f"/v1/breaches/{_breach(c, k)}/notify", {"json": {
            "recipient": "authority", "delay_reason": "found the list only today"}}),
    ("POST", "/v1/breaches/{ref}/update"): lambda c, k: (
        f"/v1/breaches/{_breach(c, k)}/update", {"json": {"add_measures": ["lists shredded"]}}),
    ("POST", "/v1/breaches/{ref}/draft"): lambda c, k: (
        f"/v1/breaches/{_breach(c, k)}/draft", {"json": {"subjects_notice": True}}),
    ("POST", "/v1/breaches/{ref}/close"): lambda c, k: (
        f"/v1/breaches/{_breach(c, k)}/close", {"json": {"reason": "recovered", "force": True}}),
}


def _witness_body() -> dict[str, Any]:
    """A checkpoint of a small foreign log (the same one every time: the witness co-signs it
    once, then answers it again)."""
    from veil.audit.heads import public_key_to_pem, sign_tree_head
    from veil.audit.merkle import root_from_leaves

    key = _WITNESSED_KEY
    head = sign_tree_head(key, "matrix.example/log", 2, root_from_leaves([b"a", b"b"]),
                          datetime(2026, 1, 1, tzinfo=UTC))
    pem = public_key_to_pem(key.public_key()).decode()
    return {"checkpoint": head.to_note(), "public_key": pem, "old_size": 0, "consistency": []}


def _witnessed(client: Any, keys: dict[str, str]) -> tuple[str, dict[str, Any]]:
    client.post("/v1/witness/matrix.example/log", headers={"X-API-Key": keys["dpo"]},
                json=_witness_body())
    return "/v1/witness/matrix.example/log", {}


EXTRA_SAMPLES[("GET", "/v1/witness/{origin}")] = _witnessed


def _decision(client: Any, keys: dict[str, str], score: float = 0.1) -> str:
    """A refusal (routed to review) recorded by the dpo key."""
    r = client.post("/v1/decisions", headers={"X-API-Key": keys["dpo"]}, json={
        "model": "score", "subject": SUBJECT, "features": {"balance": 12.5}, "score": score})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _other_decision(client: Any, keys: dict[str, str]) -> str:
    """A decision about another person (its observed outcome stays out of the fairness
    sample, which is about SUBJECT)."""
    r = client.post("/v1/decisions", headers={"X-API-Key": keys["dpo"]}, json={
        "model": "score", "subject": "matrix-outcome", "features": {"balance": 1.0},
        "score": 0.7})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


EXTRA_SAMPLES.update({
    ("POST", "/v1/decisions"): lambda c, k: ("/v1/decisions", {"json": {
        "model": "score", "subject": SUBJECT, "features": {"balance": 12.5}, "score": 0.7}}),
    ("GET", "/v1/decisions"): lambda c, k: ("/v1/decisions", {"params": {"limit": 5}}),
    ("GET", "/v1/decisions/queue"): lambda c, k: ("/v1/decisions/queue", {}),
    ("GET", "/v1/decisions/{decision_id}"): lambda c, k: (
        f"/v1/decisions/{_decision(c, k)}", {}),
    ("POST", "/v1/decisions/{decision_id}/contest"): lambda c, k: (
        f"/v1/decisions/{_decision(c, k)}/contest", {"json": {"statement": "I disagree"}}),
    ("POST", "/v1/decisions/{decision_id}/review"): lambda c, k: (
        f"/v1/decisions/{_decision(c, k)}/review", {"json": {
            "outcome": "approve", "rationale": "checked", "reviewer": "Credit review team"}}),
    ("GET", "/v1/decisions/{decision_id}/explanation"): lambda c, k: (
        f"/v1/decisions/{_decision(c, k)}/explanation", {"params": {"format": "md"}}),
    ("POST", "/v1/decisions/actuals"): lambda c, k: ("/v1/decisions/actuals", {"json": {
        "actuals": [{"decision_id": _other_decision(c, k), "actual": 1}]}}),
    ("POST", "/v1/decisions/fairness"): lambda c, k: ("/v1/decisions/fairness", {"json": {
        "protected": [{"subject_id": SUBJECT, "gender": "f", "age_band": "30-44"}],
        "resamples": 10}}),
})
EXTRA_SAMPLES[("POST", "/v1/witness/{origin}")] = lambda c, k: (
    "/v1/witness/matrix.example/log", {"json": _witness_body()})


def _sample(client: Any, keys: dict[str, str], method: str, template: str
            ) -> tuple[str, dict[str, Any]]:
    if (method, template) in SAMPLES:
        return SAMPLES[(method, template)]
    built: tuple[str, dict[str, Any]] = EXTRA_SAMPLES[(method, template)](client, keys)
    return built


def _seed(client: Any, keys: dict[str, str]) -> None:
    h = {"X-API-Key": keys["dpo"]}
    r = client.post("/v1/consent/grant", headers=h, json={"subject": SUBJECT, **GRANT})
    assert r.status_code == 201, r.text
    r = client.post("/v1/consent/grant", headers=h,
                    json={"subject": "matrix-withdraw", **GRANT})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(env, role: str) -> None:
    from veil.audit.log import AuditLog
    from veil.store.workspace import Workspace

    root, keys, client = env
    _seed(client, keys)
    key_id = keys[role].split("_")[1]
    routes = _routes(client.app)
    denied_expected: set[str] = set()
    for (method, template), permission in sorted(routes.items()):
        path, kw = _sample(client, keys, method, template)
        if template == "/v1/consent/withdraw":  # withdraw needs a grant in force each time
            client.post("/v1/consent/grant", headers={"X-API-Key": keys["dpo"]},
                        json={"subject": "matrix-withdraw", **GRANT})
        r = client.request(method, path, headers={"X-API-Key": keys[role]}, **kw)
        if allowed(role, permission):
            assert 200 <= r.status_code < 300, (role, method, template, r.status_code, r.text)
        else:
            denied_expected.add(permission)
            assert r.status_code == 403, (role, method, template, r.status_code, r.text)
            err = r.json()["error"]
            assert err["kind"] == "permission denied" and permission in err["message"]
    with Workspace.open(root) as ws:
        denied = [e for e in AuditLog(ws).events(action="service.denied",
                                                 actor=f"key:{key_id}")]
    # coalesced: one event per permission refused (within a minute), never one per request
    assert sorted(e.event.details["permission"] for e in denied) == sorted(denied_expected)
    for e in denied:
        ev = e.event
        assert ev.outcome == "denied" and ev.details["role"] == role
        assert keys[role] not in e.data.decode()  # the key id, never the key


def test_no_credentials_is_401_everywhere(env) -> None:
    _, keys, client = env
    for (method, template) in _routes(client.app):
        path, kw = _sample(client, keys, method, template)
        r = client.request(method, path, **kw)
        assert r.status_code == 401, (method, template)
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/health").status_code == 200
    assert client.get("/ready").json() == {"status": "ready"}


def test_matrix_is_rendered_in_the_docs() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "service.md"
    assert matrix_markdown() in doc.read_text("utf-8")


def test_roles_are_as_the_issue_says() -> None:
    assert ROLE_PERMISSIONS["dpo"] == frozenset(PERMISSIONS)
    assert {"scan", "policy.read", "ropa.read", "consent.check"} <= ROLE_PERMISSIONS["engineer"]
    assert not any(p.endswith(".write") for p in ROLE_PERMISSIONS["engineer"])
    assert {"consent.write", "consent.check", "consent.receipt"} <= ROLE_PERMISSIONS["service"]
    assert not any(p.endswith(".write") for p in ROLE_PERMISSIONS["auditor"])
    assert {"audit.read", "ropa.read", "breach.read", "dsr.list"} <= ROLE_PERMISSIONS["auditor"]
