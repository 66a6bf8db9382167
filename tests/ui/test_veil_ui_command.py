"""`veil ui`: serves the pages on loopback and prints a one-time link that logs the person in."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time

import httpx

from tests.ui.conftest import Site
from veil.ui.auth import COOKIE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_veil_ui_prints_a_link_that_logs_in_once(site: Site) -> None:
    port = _free_port()
    env = {**os.environ, "VEIL_ACTOR": "dpo-laptop", "COLUMNS": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "veil", "ui", "--port", str(port), "--workspace", str(site.root),
         "--policy", str(site.root / "policy.yaml")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline(), proc.stdout.readline()]
        url = re.search(r"http://127\.0\.0\.1:\d+/ui/login/link\?token=\S+", "".join(lines))
        assert url, lines
        with httpx.Client(follow_redirects=True, timeout=60) as c:
            while True:  # it serves, or the process ends: no deadline to race
                try:
                    r = c.get(url.group(0))
                    break
                except httpx.ConnectError:
                    assert proc.poll() is None, f"veil ui did not start: {proc.stderr.read()}"
                    time.sleep(0.1)
            assert r.status_code == 200 and "Today" in r.text and "dpo-laptop" in r.text
            assert c.cookies.get(COOKIE)
        with httpx.Client(follow_redirects=True, timeout=60) as again:
            assert again.get(url.group(0)).status_code == 401  # used once
    finally:
        proc.terminate()
        proc.wait(20)


def test_veil_ui_refuses_an_actor_that_is_personal_data(site: Site, capsys) -> None:
    from veil.cli.main import main

    code = main(["ui", "--actor", "anna.schmidt@example.com", "--workspace", str(site.root),
                 "--port", "1"])
    assert code == 4
    assert "actor" in capsys.readouterr().err
