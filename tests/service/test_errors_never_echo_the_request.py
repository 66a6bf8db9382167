"""No error answer repeats a value of the request (docs/service.md, Hardening).

Two ways in: distinctive values (a path traversal, a script tag, a subject id) put in every
field of every operation where the library would quote them (an unknown purpose, model, notice,
request id, breach reference, origin, a bad time), here; and schemathesis' generated requests
(valid and invalid) whose every sent value of 4 or more characters is looked for in the answer,
checked on the cases tests/service/test_openapi.py generates (one generation for both). The
scrubber's core gets a property test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.service.conftest import GRANT, SUBJECT, echoed, make_keys, make_workspace

CANARY = "../../etc/passwd<script>zq7x</script>"
IDLIKE = "zq7xCanary_01"  # fits the purpose, model and origin patterns: reaches the library


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from veil.service import ServiceConfig, create_app

    root = tmp_path_factory.mktemp("echo") / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    app = create_app(ServiceConfig.load(root, policy=str(root / "policy.yaml"), rate_limit=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/v1/consent/grant", headers={"X-API-Key": keys["dpo"]},
                        json={"subject": SUBJECT, **GRANT})
        assert r.status_code == 201, r.text
        yield client, keys


def _fill(schema: dict[str, Any], doc: dict[str, Any], value: str) -> Any:
    """A body with ``value`` in every string field (required and optional)."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _fill(doc["components"]["schemas"][name], doc, value)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return _fill(next((s for s in schema[key] if s.get("type") != "null"),
                              schema[key][0]), doc, value)
    t = schema.get("type")
    if t == "object":
        props = schema.get("properties")
        if props:
            return {k: _fill(v, doc, value) for k, v in props.items()}
        return {"subject_id": value, "k": value}
    if t == "array":
        return [_fill(schema.get("items", {}), doc, value)]
    if t == "string":
        return value
    if t == "integer":
        return 1
    if t == "number":
        return 1.5
    if t == "boolean":
        return True
    return value


def test_distinctive_values_in_every_field_are_never_echoed(env) -> None:
    """Every operation, every field (body, query, path) holding a distinctive value, twice: one
    that fails the schema, one shaped like an id so the library itself refuses it."""
    client, keys = env
    doc = client.get("/openapi.json").json()
    h = {"X-API-Key": keys["dpo"]}
    errors = checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for value in (CANARY, IDLIKE, SUBJECT):
                url = path
                for p in op.get("parameters", []):
                    if p["in"] == "path":
                        url = url.replace("{" + p["name"] + "}", value.replace("/", "%2F"))
                query = {p["name"]: value for p in op.get("parameters", [])
                         if p["in"] == "query"}
                content = op.get("requestBody", {}).get("content", {})
                kw: dict[str, Any] = {}
                if "application/json" in content:
                    kw["json"] = _fill(content["application/json"]["schema"], doc, value)
                elif content:
                    kw["content"] = f"name,email\n{value},{value}\n".encode()
                r = client.request(method.upper(), url, params=query, headers=h, **kw)
                checked += 1
                if r.status_code < 400:
                    continue
                errors += 1
                body = r.json()
                assert not echoed(body, {value, value.replace("/", "%2F")}), \
                    (method, path, r.status_code, body)
    assert errors > 2 * len(doc["paths"]), (errors, checked)


@pytest.mark.parametrize(("method", "url", "kw"), [
    ("GET", "/v1/audit/events", {"params": {"since": "../../etc/passwd"}}),
    ("POST", "/v1/consent/grant", {"json": {"subject": SUBJECT, **GRANT, "purpose": IDLIKE}}),
    ("POST", "/v1/consent/check", {"json": {"subject": SUBJECT, "purpose": "offers",
                                            "notice_version": IDLIKE}}),
    ("POST", "/v1/decisions", {"json": {"model": IDLIKE, "subject": SUBJECT, "features": {},
                                        "score": 0.5}}),
    ("GET", f"/v1/witness/{IDLIKE}", {}),
    ("GET", f"/v1/dsr/{IDLIKE[:12]}", {}),
    ("POST", "/v1/consent/grant", {"json": {"subject": SUBJECT, **GRANT, IDLIKE: 1}}),
])
def test_library_refusals_do_not_quote_the_value(env, method, url, kw) -> None:
    """The cases the issue found (``since '../../etc/passwd' ...``) and their kin: refused,
    the field named in ``where``, the value gone."""
    client, keys = env
    r = client.request(method, url, headers={"X-API-Key": keys["dpo"]}, **kw)
    assert r.status_code in (404, 422), r.text
    sent = {"../../etc/passwd", IDLIKE, IDLIKE[:12], SUBJECT}
    assert not echoed(r.json(), sent), r.text
    assert r.json()["error"]["message"]


@given(value=st.text(min_size=4, max_size=40),
       template=st.sampled_from(["unknown purpose '{}' (known: offers)", "'{}' is bad",
                                 "got {} here", 'field "{}"', "{}", "x {!r} y"]))
@settings(max_examples=200, deadline=None)
def test_scrub_takes_out_every_value(value: str, template: str) -> None:
    from veil.service.echo import scrub

    message = template.format(value)
    assert value not in scrub(message, {value}) or value in template.replace("{}", "") \
        .replace("{!r}", "")


def test_scrub_keeps_field_names_and_short_words() -> None:
    from veil.service.echo import request_values, scrub

    values = request_values(b"since=..%2F..%2Fetc%2Fpasswd", None,
                            json.dumps({"purpose": "zz", "admin": True}).encode())
    assert values == {"../../etc/passwd", "zz"}
    assert scrub("since '../../etc/passwd' is not a time", values) == \
        "since '…' is not a time"
    assert scrub("unknown purpose 'zz' (known: offers)", values) == \
        "unknown purpose '…' (known: offers)"
    assert scrub("body.purpose: zz fuzz", values) == "body.purpose: zz fuzz"  # short: quoted only
