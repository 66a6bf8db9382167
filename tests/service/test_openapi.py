"""The OpenAPI document: committed and current, and the app keeps it (schemathesis, in process,
a bounded number of cases: no server errors, no schema violations, and no error answer that
repeats a sent value: see test_errors_never_echo_the_request.py for the other way in)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import (
    GRANT,
    SUBJECT,
    echoed,
    json_strings,
    make_keys,
    make_workspace,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance, negative_data_rejection]


def test_committed_document_matches_the_app() -> None:
    from veil.service import openapi_document

    current = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
    assert DOC.is_file(), "write docs/openapi.json: python -m veil.service.openapi"
    assert DOC.read_text("utf-8") == current, \
        "docs/openapi.json is stale: regenerate it with python -m veil.service.openapi"


def test_document_declares_auth_and_permissions() -> None:
    doc = json.loads(DOC.read_text("utf-8"))
    assert set(doc["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path in ("/health", "/ready", "/openapi.json",
                        "/v1/recipients/notices/{notice_id}/ack"):  # the notice's own token
                assert "x-permission" not in op
                continue
            assert op.get("x-permission"), (method, path)
            assert op.get("security"), (method, path)
            assert {"401", "403", "422"} <= set(op["responses"]), (method, path)
            for where in ("parameters",):
                for p in op.get(where, []):  # subject ids never in paths or query strings
                    assert p["name"] != "subject", (method, path)


@pytest.fixture(scope="module")
def service_env(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from veil.kek.providers import EnvKEK
    from veil.service import ServiceConfig, create_app

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VEIL_DATABASE_URL", raising=False)
        mp.delenv("VEIL_WORKSPACE", raising=False)
        mp.setenv("VEIL_KEK", EnvKEK.new_secret())
        root = tmp_path_factory.mktemp("schemathesis") / "ws"
        ws = make_workspace(root)
        keys = make_keys(ws)
        ws.close()
        app = create_app(ServiceConfig.load(root, policy=str(root / "policy.yaml"),
                                            rate_limit=0))
        with TestClient(app) as client:  # seed: a subject with history, a few audit events
            r = client.post("/v1/consent/grant", headers={"X-API-Key": keys["dpo"]},
                            json={"subject": SUBJECT, **GRANT})
            assert r.status_code == 201, r.text
            yield app, keys


def _operations(app: Any) -> list[Any]:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in loaded.get_all_operations()]


def _rule_of(op: Any, message: str) -> bool:
    """A 422 for schema-valid input names one of the operation's rules beyond the schema."""
    from veil.service.contract import rules_for

    return any(re.search(r.says, message) for r in rules_for(op.method, op.path))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_keeps_its_document(service_env, mode: GenerationMode) -> None:
    """Every operation, valid and invalid inputs (12 cases each, fixed seed): no 5xx; every
    status, content type, header and body as the document says; schema-invalid input refused;
    schema-valid input accepted, or refused (422) only by a rule the operation lists in
    ``x-rules`` (the clock, the ledger's state, one field against another); no JSON error
    answer holds a sent value of 4 or more characters (docs/service.md, Hardening)."""
    app, keys = service_env
    headers = {"X-API-Key": keys["dpo"]}
    ops = _operations(app)
    assert len(ops) >= 17
    cases = no_inputs = by_rule = errors = 0
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=6, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def run(case: Any) -> None:
            nonlocal cases, by_rule, errors
            cases += 1
            response = case.call(headers=headers)
            if mode is GenerationMode.POSITIVE and response.status_code in (400, 422):
                message = response.json()["error"]["message"]
                assert response.status_code == 422 and _rule_of(case.operation, message), \
                    f"{case.operation.label}: schema-valid input refused: {message}"
                by_rule += 1
            case.validate_response(response, checks=CHECKS)
            kind = str(response.headers.get("content-type"))  # a list in schemathesis 4
            if response.status_code >= 400 and "json" in kind:
                errors += 1
                sent = {v for part in (case.body, case.query, case.path_parameters)
                        for v in json_strings(part, names=False) if len(v) >= 4}
                assert not echoed(response.json(), sent), (case.operation.label, response.text)

        try:
            run()
        except Unsatisfiable:
            # no input to make invalid (GET /health, /v1/audit/head, ...)
            assert mode is GenerationMode.NEGATIVE, op.label
            no_inputs += 1
    assert cases >= 5 * (len(ops) - no_inputs) and no_inputs < len(ops) // 2
    assert errors > 0  # the echo check saw error answers
    print(f"schemathesis {mode.value}: {len(ops)} operations, {cases} cases, "
          f"{by_rule} refused by a listed rule, 0 failures")


def test_served_document_names_the_policy(service_env) -> None:
    """The running service's document lists its purposes (by legal basis), the IANA zones and
    the columns a bias check needs; the committed one keeps the markers."""
    app, _ = service_env
    doc = app.openapi()
    grant = doc["components"]["schemas"]["GrantIn"]["properties"]["purpose"]
    assert grant["enum"] == ["offers"]  # the consent-based purpose only
    check = doc["components"]["schemas"]["CheckIn"]["properties"]["purpose"]
    assert check["enum"] == ["offers", "scoring"]
    breach = doc["components"]["schemas"]["veil__service__routes_breach__OpenIn"]
    assert "Europe/Berlin" in json.dumps(breach)
    fairness = doc["components"]["schemas"]["FairnessIn"]["properties"]["protected"]
    assert fairness["items"]["required"] == ["subject_id", "age_band", "gender"]
    committed = json.loads(DOC.read_text("utf-8"))
    assert "enum" not in committed["components"]["schemas"]["GrantIn"]["properties"]["purpose"]
    grant_op = committed["paths"]["/v1/consent/grant"]["post"]
    assert any("future" in r["rule"] for r in grant_op["x-rules"])
