"""OpenTelemetry traces of the service, when configured (optional: the ``ops`` extra).

Configured by OpenTelemetry's own environment variables: ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) turns tracing on with the OTLP/HTTP exporter;
``OTEL_SERVICE_NAME`` names the service (default ``veil``); ``OTEL_TRACES_EXPORTER=none`` keeps
it off. One server span per request, named ``METHOD /route/{template}``, with the method, the
route template, the status and Veil's request id; a caller's ``traceparent`` header continues
its trace. Spans never carry the raw path, the query string, bodies or subject ids.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

ENDPOINT_VARS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def configured(env: Mapping[str, str] | None = None) -> bool:
    """Whether the environment asks for traces (an OTLP endpoint, exporter not ``none``)."""
    env = os.environ if env is None else env
    if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(env.get(v) for v in ENDPOINT_VARS)


class Tracing:
    """A tracer over a provider of the app's own (not the process-global one)."""

    def __init__(self, provider: Any) -> None:
        from opentelemetry.propagate import extract

        self.provider = provider
        self.tracer = provider.get_tracer("veil.service")
        self._extract = extract

    @classmethod
    def from_env(cls) -> Tracing | None:
        """Traces to the OTLP endpoint of the environment, or None when not configured (or
        the OpenTelemetry packages are missing: then a warning says so)."""
        if not configured():
            return None
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            import logging

            logging.getLogger("veil.service").warning(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
                "pip install 'veil[ops]' (no traces sent)")
            return None
        name = os.environ.get("OTEL_SERVICE_NAME") or "veil"
        provider = TracerProvider(resource=Resource.create({"service.name": name}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        return cls(provider)

    def start(self, method: str, headers: list[tuple[bytes, bytes]]) -> Any:
        """A server span for a request (its parent from ``traceparent``, if sent)."""
        from opentelemetry.trace import SpanKind

        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
                   if k in (b"traceparent", b"tracestate")}
        return self.tracer.start_span(method, context=self._extract(carrier),
                                      kind=SpanKind.SERVER,
                                      attributes={"http.request.method": method})

    @staticmethod
    def end(span: Any, method: str, route: str, status: int, request_id: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("veil.request_id", request_id)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    @staticmethod
    def trace_id(span: Any) -> str | None:
        ctx = span.get_span_context()
        return f"{ctx.trace_id:032x}" if ctx.is_valid else None

    def shutdown(self) -> None:
        self.provider.shutdown()


__all__ = ["ENDPOINT_VARS", "Tracing", "configured"]
