"""Structured logs: one JSON object per line with time, level, request id, method, route template,
status, duration and role; no subject ids, bodies or raw paths. A request id per request: the
caller's X-Request-ID when well formed, else a new one; answered in the header, on every line."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.service.conftest import GRANT, SUBJECT, client_for, make_keys, make_workspace


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    root = tmp_path_factory.mktemp("logs") / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    with client_for(root, rate_limit=0) as client:
        yield client, keys


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """The service's records as `veil serve --log-format json` writes them (the handler and
    its pieces from the same `log_config`)."""
    from veil.service.logs import JsonFormatter, RequestIdFilter
    from veil.service.server import log_config

    cfg = log_config("info", "json")
    assert cfg["formatters"]["plain"] == {"()": "veil.service.logs.JsonFormatter"}
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("veil.service")
    logger.addHandler(handler)
    try:
        yield out
    finally:
        logger.removeHandler(handler)


def _records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_access_lines_are_json_objects_with_the_fields(env, json_lines) -> None:
    client, keys = env
    h = {"X-API-Key": keys["service"]}
    assert client.post("/v1/consent/grant", headers=h,
                       json={"subject": SUBJECT, **GRANT}).status_code == 201
    client.get("/v1/dsr/abcdef123456", headers={"X-API-Key": keys["dpo"]})
    client.get(f"/v1/consent/{SUBJECT}", headers=h)  # no such route: ids in a path
    recs = [r for r in _records(json_lines) if r["logger"] == "veil.service.access"]
    assert len(recs) == 3
    grant, dsr, unknown = recs
    for rec in recs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rec["time"])
        assert rec["level"] == "info" and re.fullmatch(r"[0-9a-f]{32}", rec["request_id"])
        assert isinstance(rec["duration_ms"], float)
    assert (grant["method"], grant["route"], grant["status"], grant["role"]) == \
        ("POST", "/v1/consent/grant", 201, "service")
    assert grant["key_id"] == keys["service"].split("_")[1]
    assert (dsr["route"], dsr["status"], dsr["role"]) == ("/v1/dsr/{request_id}", 404, "dpo")
    assert unknown["route"] == "(no route)" and unknown["status"] == 404
    text = json_lines.getvalue()
    for secret in (SUBJECT, "abcdef123456", GRANT["action"], keys["service"]):
        assert secret not in text


def test_request_id_in_and_out(env, json_lines) -> None:
    client, keys = env
    h = {"X-API-Key": keys["dpo"]}
    given = "trace-0123456789abcdef"
    r = client.get("/v1/auth/whoami", headers={**h, "X-Request-ID": given})
    assert r.headers["x-request-id"] == given
    for bad in ("anna.schmidt@example.com", "short", "x" * 65, "a b c d e f g h"):
        r = client.get("/v1/auth/whoami", headers={**h, "X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
    r1, r2 = client.get("/health"), client.get("/health")
    assert r1.headers["x-request-id"] != r2.headers["x-request-id"]
    ids = [rec["request_id"] for rec in _records(json_lines)]
    assert given in ids and "anna.schmidt@example.com" not in json_lines.getvalue()


def test_every_line_of_a_request_carries_its_id(env, json_lines) -> None:
    """A line the library writes while serving (here: a 503 from a closed store would be one;
    a warning from a route is another) gets the request's id from the context."""
    from veil.service.logs import REQUEST_ID

    token = REQUEST_ID.set("fixed-request-id-1")
    try:
        logging.getLogger("veil.service").warning("something to say")
    finally:
        REQUEST_ID.reset(token)
    (rec,) = [r for r in _records(json_lines) if r["message"] == "something to say"]
    assert rec["request_id"] == "fixed-request-id-1" and rec["level"] == "warning"


def test_text_format_shows_the_request_id() -> None:
    from veil.service.logs import formatter_config

    assert "%(request_id)s" in formatter_config("text")["format"]


def test_exceptions_log_their_type_only() -> None:
    from veil.service.logs import JsonFormatter

    try:
        raise ValueError(f"bad value {SUBJECT}")
    except ValueError:
        import sys

        rec = logging.LogRecord("veil.service", logging.ERROR, __file__, 1, "failed", None,
                                sys.exc_info())
    line = JsonFormatter().format(rec)
    assert json.loads(line)["error"] == "ValueError" and SUBJECT not in line
