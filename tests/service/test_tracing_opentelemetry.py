"""OpenTelemetry traces when configured: one server span per request, named by the route
template, continuing the caller's trace, with no path ids or subject ids; off without the
OTEL_EXPORTER_* environment."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.service.conftest import GRANT, SUBJECT, client_for, make_keys, make_workspace

PARENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{PARENT_TRACE}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def traced(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str], InMemorySpanExporter]]:
    from veil.service.tracing import Tracing

    root = tmp_path_factory.mktemp("tracing") / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with client_for(root, rate_limit=0) as client:
        client.app.state.tracing = Tracing(provider)
        yield client, keys, exporter


def test_one_span_per_request_named_by_template(traced) -> None:
    client, keys, exporter = traced
    h = {"X-API-Key": keys["dpo"]}
    exporter.clear()
    r = client.post("/v1/consent/grant", headers={**h, "traceparent": TRACEPARENT},
                    json={"subject": SUBJECT, **GRANT})
    assert r.status_code == 201
    client.get("/v1/dsr/abcdef123456", headers=h)
    grant, dsr = exporter.get_finished_spans()
    assert grant.name == "POST /v1/consent/grant"
    assert f"{grant.context.trace_id:032x}" == PARENT_TRACE  # the caller's trace goes on
    assert grant.attributes["http.route"] == "/v1/consent/grant"
    assert grant.attributes["http.response.status_code"] == 201
    assert grant.attributes["veil.request_id"] == r.headers["x-request-id"]
    assert dsr.name == "GET /v1/dsr/{request_id}"
    assert dsr.attributes["http.response.status_code"] == 404
    assert f"{dsr.context.trace_id:032x}" != PARENT_TRACE  # a new trace without traceparent
    for span in (grant, dsr):
        flat = repr(dict(span.attributes)) + span.name
        assert SUBJECT not in flat and "abcdef123456" not in flat


def test_configured_only_by_the_environment(monkeypatch) -> None:
    from veil.service.tracing import Tracing, configured

    assert not configured({})
    assert configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER":
                           "none"})
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    assert Tracing.from_env() is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    tracing = Tracing.from_env()
    assert tracing is not None
    tracing.shutdown()
