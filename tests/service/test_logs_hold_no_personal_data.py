"""No personal data in the service's logs: a fresh service fed personal data in process (its
log records captured), a real `veil serve` process fed the same (its stdout and stderr), and
whatever else the session's service tests logged so far, scanned with Veil's own scanner.

The test makes its own workspaces and services, so it does not depend on running last.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.service.conftest import (
    CAPTURED,
    GRANT,
    SUBJECT,
    SUBJECT2,
    client_for,
    make_keys,
    make_workspace,
)

PERSONAL = [
    {"subject": SUBJECT, **GRANT},
    {"subject": SUBJECT2, **GRANT, "action": "Jan Novak signed at branch, phone +49 30 1234567"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fresh_workspace(root: Path) -> dict[str, str]:
    """A workspace with the test policy and a key per role (closed again: the service opens
    its own); the keys by role."""
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    return keys


def _feed(c: httpx.Client, keys: dict[str, str]) -> None:
    """Send the service personal data: valid and invalid requests, bad keys, a scan."""
    h = {"X-API-Key": keys["dpo"]}
    for body in PERSONAL:
        assert c.post("/v1/consent/grant", headers=h, json=body).status_code == 201
        c.post("/v1/consent/check", headers=h, json={"subject": body["subject"],
                                                     "purpose": "offers"})
        c.post("/v1/consent/history", headers=h, json={"subject": body["subject"]})
        c.post("/v1/consent/receipt", headers=h, json={"subject": body["subject"]})
        c.post("/v1/consent/grant", headers=h, json={**body, "purpose": "no such"})  # 422
        c.post("/v1/consent/grant", headers=h, json={**body, SUBJECT: 1})  # unknown field
        c.post("/v1/consent/withdraw", headers=h, json={"subject": body["subject"] + "x",
                                                        "purpose": "offers", "channel": "app"})
    c.post("/v1/consent/history", headers=h, json={"subject": "Maria Garcia"})  # 404
    c.post(f"/v1/consent/check?subject={SUBJECT}", headers=h, json={})  # ids in a query string
    c.get(f"/v1/{SUBJECT}", headers=h)  # and in a path
    c.post("/v1/scan", headers=h, params={"format": "csv"},
           content=f"name,email\nAnna Schmidt,{SUBJECT}\n".encode())
    c.get("/v1/auth/whoami", headers={"X-API-Key": SUBJECT})
    c.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {SUBJECT2}"})
    c.get("/v1/auth/whoami", headers={"X-API-Key": keys["dpo"][:-2] + "zz"})
    c.get("/v1/audit/head", headers={"X-API-Key": keys["service"]})  # 403


def _in_process_logs(root: Path) -> tuple[list[str], dict[str, str]]:
    """Feed a fresh in-process service; the log records it wrote meanwhile, and its keys."""
    keys = _fresh_workspace(root)
    before = len(CAPTURED)
    with client_for(root, rate_limit=0) as c:
        _feed(c, keys)
    return CAPTURED[before:], keys


def _serve_and_feed(root: Path) -> tuple[str, dict[str, str]]:
    """Run `veil serve` in a process of its own, feed it, stop it; everything it wrote to
    stdout and stderr, and its keys."""
    keys = _fresh_workspace(root)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VEIL_DATABASE_URL",
                                                            "VEIL_WORKSPACE")}
    veil = Path(sys.executable).parent / "veil"
    proc = subprocess.Popen([str(veil), "serve", "-w", str(root), "--policy", "policy.yaml",
                             "--port", str(port), "--rate-limit", "0", "--log-level", "debug"],
                            cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        while proc.poll() is None:  # ready, or the process ended: no deadline to race
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        with httpx.Client(base_url=base) as c:
            _feed(c, keys)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Application startup complete" in out or "serving on" in out, out[-2000:]
    assert "POST /v1/consent/grant 201" in out, out[-2000:]  # the access log is there
    return out, keys


def test_no_personal_data_in_service_logs(tmp_path: Path, monkeypatch: Any) -> None:
    from veil.discovery import find_spans

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    own, own_keys = _in_process_logs(tmp_path / "in-process")
    # the in-process capture works: the access log of the feed is in it
    assert any("POST /v1/consent/grant 201" in line for line in own), own[-20:]
    assert len(own) > 20, own
    served, served_keys = _serve_and_feed(tmp_path / "ws")
    lines = [*CAPTURED, *served.splitlines()]
    found = [(line, [line[s.start:s.end] for s in spans])
             for line, spans in zip(lines, find_spans(lines), strict=True) if spans]
    assert not found, found[:10]
    text = "\n".join(lines)
    assert not re.search(r"(veil|vt)_[0-9a-f]{12}_[A-Za-z0-9_-]{4,}", text)  # no key or token
    for secret in [*own_keys.values(), *served_keys.values()]:
        assert secret.split("_", 2)[2][:12] not in text
    for value in (SUBJECT, SUBJECT2, "Anna Schmidt", "Jan Novak", "Maria Garcia"):
        assert value not in text
    # the scanner does see personal data where there is some (the test can fail)
    spans = find_spans([f"refused {SUBJECT} at {SUBJECT2}"])[0]
    assert {s.type for s in spans} >= {"email", "iban"}
