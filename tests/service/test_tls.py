"""TLS with certificates made at test time (trustme): uvicorn on a free port, a real handshake,
HSTS; plain HTTP to the TLS port fails; a wrong key file is one clear error."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
import trustme

from tests.service.conftest import make_keys, make_workspace


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_service_over_tls(tmp_path: Path, monkeypatch) -> None:
    import uvicorn

    from veil.service import ServiceConfig
    from veil.service.server import uvicorn_config
    from veil.store.tls import ServerTLS

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    root = tmp_path / "ws"
    ws = make_workspace(root)
    keys = make_keys(ws)
    ws.close()
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = tmp_path / "server.pem", tmp_path / "server.key"
    cafile = tmp_path / "ca.pem"
    cert.private_key_and_cert_chain_pem.write_to_path(str(certfile))
    cert.private_key_pem.write_to_path(str(keyfile))
    ca.cert_pem.write_to_path(str(cafile))
    port = _free_port()
    config = ServiceConfig.load(root, port=port, rate_limit=0, policy=str(root / "policy.yaml"),
                                tls=ServerTLS(str(certfile), str(keyfile),
                                              min_version="TLSv1.3"))
    server = uvicorn.Server(uvicorn_config(config, log_level="info", configure_logging=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:  # it starts, or its thread ends: no deadline to race
            assert thread.is_alive(), "the TLS server did not start"
            time.sleep(0.05)
        ctx = ssl.create_default_context(cafile=str(cafile))
        with httpx.Client(verify=ctx, base_url=f"https://127.0.0.1:{port}") as client:
            r = client.get("/v1/auth/whoami", headers={"X-API-Key": keys["auditor"]})
            assert r.status_code == 200 and r.json()["role"] == "auditor"
            assert r.headers["strict-transport-security"].startswith("max-age=")
            assert client.get("/ready").json() == {"status": "ready"}
        with httpx.Client(verify=ssl.create_default_context()) as untrusting, \
                pytest.raises(httpx.ConnectError):
            untrusting.get(f"https://127.0.0.1:{port}/health")  # unknown CA: refused
        with httpx.Client() as plain, pytest.raises(httpx.HTTPError):
            plain.get(f"http://127.0.0.1:{port}/health")  # no plain HTTP on the TLS port
        old = ssl.create_default_context(cafile=str(cafile))
        old.maximum_version = ssl.TLSVersion.TLSv1_2
        with httpx.Client(verify=old) as legacy, pytest.raises(httpx.ConnectError):
            legacy.get(f"https://127.0.0.1:{port}/health")  # min_version TLSv1.3 holds
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_bad_certificate_files_are_one_clear_error(tmp_path: Path, monkeypatch) -> None:
    from veil.service import ServiceConfig
    from veil.service.server import uvicorn_config
    from veil.store.tls import ServerTLS, TLSConfigError

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    root = tmp_path / "ws"
    make_workspace(root).close()
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    other = trustme.CA().issue_cert("127.0.0.1")
    other.private_key_pem.write_to_path(str(tmp_path / "other.key"))
    ca.issue_cert("127.0.0.1").cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    config = ServiceConfig.load(root, host="0.0.0.0", port=_free_port(),
                                tls=ServerTLS(str(tmp_path / "cert.pem"),
                                              str(tmp_path / "other.key")))
    with pytest.raises(TLSConfigError, match="cannot load the certificate or key"):
        uvicorn_config(config)
    with pytest.raises(TLSConfigError, match="TLS certfile: file not found") as info:
        ServiceConfig.load(root, tls=ServerTLS(str(tmp_path / "nope.pem"),
                                               str(tmp_path / "other.key")))
    assert info.value.where == str(tmp_path / "nope.pem")  # the file is named
