"""Prometheus metrics: requests by route template and status, latency, and the duties read from
the store (overdue requests, hours left to notify a breach, backlogs), behind `metrics.read`,
and on a separate loopback bind without credentials. No label holds an id or a subject."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.service.conftest import GRANT, SUBJECT, client_for, make_keys, make_workspace


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    root = tmp_path_factory.mktemp("metrics") / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    with client_for(root, rate_limit=0) as client:
        yield client, keys


def _families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(fam: Any, suffix: str = "", **labels: str) -> float:
    for s in fam.samples:
        if s.name == fam.name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise KeyError((fam.name, suffix, labels))


def test_requests_are_counted_by_route_template_and_status(env) -> None:
    client, keys = env
    h = {"X-API-Key": keys["dpo"]}
    assert client.post("/v1/consent/grant", headers=h,
                       json={"subject": SUBJECT, **GRANT}).status_code == 201
    for _ in range(3):
        client.post("/v1/consent/check", headers=h, json={"subject": SUBJECT, "purpose": "offers"})
    client.get("/v1/dsr/abcdef123456", headers=h)  # 404: counted under the template
    r = client.get("/metrics", headers={"X-API-Key": keys["auditor"]})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    fams = _families(r.text)
    req = fams["veil_http_requests"]
    assert _value(req, "_total", method="POST", route="/v1/consent/check", status="200") >= 3
    assert _value(req, "_total", method="GET", route="/v1/dsr/{request_id}", status="404") >= 1
    lat = fams["veil_http_request_duration_seconds"]
    assert _value(lat, "_count", method="POST", route="/v1/consent/check") >= 3
    assert "abcdef123456" not in r.text and SUBJECT not in r.text


def test_duties_are_read_from_the_store(env) -> None:
    client, keys = env
    h = {"X-API-Key": keys["dpo"]}
    long_ago = (datetime.now(UTC) - timedelta(days=60)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = client.post("/v1/dsr", headers=h, json={"kind": "access", "subject": SUBJECT,
                                                "received": long_ago})
    assert r.status_code == 201, r.text
    aware = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=10)
    r = client.post("/v1/breaches", headers=h, json={
        "title": "Laptop lost", "nature": ["confidentiality"], "other": ["printed list"],
        "occurred_at": (aware - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "aware_at": aware.strftime("%Y-%m-%dT%H:%M:%SZ")})
    assert r.status_code == 201, r.text
    ref = f"BR-{int(r.json()['id'].removeprefix('BR-')):04d}"
    fams = _families(client.get("/metrics", headers=h).text)
    assert _value(fams["veil_store_up"]) == 1
    assert _value(fams["veil_dsr_requests_overdue"]) >= 1
    assert _value(fams["veil_dsr_requests_open"]) >= 1
    left = _value(fams["veil_breach_notification_hours_left"], breach=ref)
    assert 61 < left <= 62  # 72 h from awareness, 10 to 11 h gone
    assert _value(fams["veil_audit_log_events"]) > 0
    assert _value(fams["veil_recipient_notices"], status="pending") == 0
    assert "veil_audit_outbox_pending" in fams and "veil_audit_witness_lag_seconds" in fams


def test_metrics_need_the_permission(env) -> None:
    client, keys = env
    assert client.get("/metrics").status_code == 401
    for role in ("engineer", "service", "reviewer"):
        assert client.get("/metrics", headers={"X-API-Key": keys[role]}).status_code == 403
    bearer = {"Authorization": f"Bearer {keys['auditor']}"}  # as Prometheus sends it
    assert client.get("/metrics", headers=bearer).status_code == 200


def test_separate_loopback_bind_without_credentials(env) -> None:
    from veil.service.server import serve_metrics

    client, _ = env
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = serve_metrics(client.app, port)
    try:
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
        assert r.status_code == 200 and "veil_http_requests_total" in r.text
    finally:
        server.shutdown()
        server.server_close()


def test_settings_are_checked(tmp_path) -> None:
    from veil.errors import InputError
    from veil.service import ServiceConfig

    with pytest.raises(InputError, match="log_format"):
        ServiceConfig(workspace=tmp_path, log_format="xml")
    with pytest.raises(InputError, match="metrics_port"):
        ServiceConfig(workspace=tmp_path, metrics_port=8600)
    assert ServiceConfig(workspace=tmp_path, metrics_port=9600).metrics_port == 9600
