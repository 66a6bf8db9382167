"""The OpenAPI document: committed and current, and the app keeps it (schemathesis, in process,
a bounded number of cases: no server errors, no schema violations)."""

from __future__ import annotations

import json
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
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import GRANT, SUBJECT, make_keys, make_workspace

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]


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


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_keeps_its_document(service_env, mode: GenerationMode) -> None:
    """Every operation, valid and invalid inputs (12 cases each, fixed seed): no 5xx, and every
    status, content type, header and body as the document says."""
    app, keys = service_env
    headers = {"X-API-Key": keys["dpo"]}
    ops = _operations(app)
    assert len(ops) >= 17
    cases = no_inputs = 0
    for op in ops:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=12, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        def run(case: Any) -> None:
            nonlocal cases
            cases += 1
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:
            # no input to make invalid (GET /health, /v1/audit/head, ...)
            assert mode is GenerationMode.NEGATIVE, op.label
            no_inputs += 1
    assert cases >= 5 * (len(ops) - no_inputs) and no_inputs < len(ops) // 2
