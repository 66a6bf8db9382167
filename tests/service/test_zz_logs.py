"""No personal data in the service's logs: everything logged in this test session (in process)
and by a real `veil serve` process fed personal data, scanned with Veil's own scanner.

Named to run last in tests/service, after the other files have filled the session capture.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.service.conftest import CAPTURED, GRANT, SUBJECT, SUBJECT2, make_keys, make_workspace

SECRETS: list[str] = []
PERSONAL = [
    {"subject": SUBJECT, **GRANT},
    {"subject": SUBJECT2, **GRANT, "action": "Jan Novak signed at branch, phone +49 30 1234567"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_and_feed(tmp_path: Path) -> str:
    """Run `veil serve` in a process of its own, send it personal data (valid and invalid
    requests, bad keys, a scan), stop it; return everything it wrote to stdout and stderr."""
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    SECRETS.extend(keys.values())
    ws.close()
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
        for _ in range(300):
            try:
                if httpx.get(f"{base}/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        h = {"X-API-Key": keys["dpo"]}
        with httpx.Client(base_url=base, headers=h) as c:
            for body in PERSONAL:
                assert c.post("/v1/consent/grant", json=body).status_code == 201
                c.post("/v1/consent/check", json={"subject": body["subject"],
                                                  "purpose": "offers"})
                c.post("/v1/consent/history", json={"subject": body["subject"]})
                c.post("/v1/consent/receipt", json={"subject": body["subject"]})
                c.post("/v1/consent/grant", json={**body, "purpose": "no such"})  # 422
                c.post("/v1/consent/grant", json={**body, SUBJECT: 1})  # unknown field
                c.post("/v1/consent/withdraw", json={"subject": body["subject"] + "x",
                                                     "purpose": "offers", "channel": "app"})
            c.post("/v1/consent/history", json={"subject": "Maria Garcia"})  # 404
            c.post(f"/v1/consent/check?subject={SUBJECT}", json={})  # ids in a query string
            c.get(f"/v1/{SUBJECT}")  # and in a path
            c.post("/v1/scan", params={"format": "csv"},
                   content=f"name,email\nAnna Schmidt,{SUBJECT}\n".encode())
            httpx.get(f"{base}/v1/auth/whoami", headers={"X-API-Key": SUBJECT})
            httpx.get(f"{base}/v1/auth/whoami", headers={"Authorization": f"Bearer {SUBJECT2}"})
            httpx.get(f"{base}/v1/auth/whoami", headers={"X-API-Key": keys["dpo"][:-2] + "zz"})
            httpx.get(f"{base}/v1/audit/head", headers={"X-API-Key": keys["service"]})  # 403
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "Application startup complete" in out or "serving on" in out, out[-2000:]
    assert "POST /v1/consent/grant 201" in out, out[-2000:]  # the access log is there
    return out


def test_no_personal_data_in_service_logs(tmp_path: Path, request) -> None:
    from veil.discovery import find_spans

    served = _serve_and_feed(tmp_path)
    lines = [*CAPTURED, *served.splitlines()]
    others = [i for i in request.session.items
              if "tests/service/" in str(i.fspath) and i.fspath != request.node.fspath]
    if others:  # run with the rest of tests/service: their logs must be in the capture
        assert len(CAPTURED) > 50, "the session capture is (nearly) empty"
    found = [(line, [line[s.start:s.end] for s in spans])
             for line, spans in zip(lines, find_spans(lines), strict=True) if spans]
    assert not found, found[:10]
    text = "\n".join(lines)
    assert not re.search(r"(veil|vt)_[0-9a-f]{12}_[A-Za-z0-9_-]{4,}", text)  # no key or token
    for secret in SECRETS:
        assert secret.split("_", 2)[2][:12] not in text
    for value in (SUBJECT, SUBJECT2, "Anna Schmidt", "Jan Novak", "Maria Garcia"):
        assert value not in text
    # the scanner does see personal data where there is some (the test can fail)
    spans = find_spans([f"refused {SUBJECT} at {SUBJECT2}"])[0]
    assert {s.type for s in spans} >= {"email", "iban"}
