"""Another Veil service as a witness: it co-signs checkpoints it checked for consistency, refuses
a fork, a rollback or another key with 409 (changing nothing), and a witness that cannot be
reached never fails an append: the checkpoint says so and is retried the next time."""

from __future__ import annotations

import io
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from veil.audit.checkpoint import pending_checkpoints
from veil.audit.cosign import verify_cosignature
from veil.audit.heads import generate_signing_key, public_key_to_pem, sign_tree_head
from veil.audit.identity import load_signing_key
from veil.audit.log import AuditLog
from veil.audit.witness import Witness
from veil.audit.witnesses import HttpWitness
from veil.cli import main as cli_main

DOWN = "http://127.0.0.1:9"  # the discard port: connection refused


class _Resp:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    def read(self) -> bytes:
        return self._body

    def __enter__(self) -> _Resp:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def opener_for(client: Any) -> Any:
    """urllib's opener, answered by the in-process service instead of the network."""
    def open_(req: Any, timeout: float) -> _Resp:
        path = urllib.parse.urlsplit(req.full_url).path
        r = client.request(req.get_method(), path, headers=dict(req.header_items()),
                           content=req.data)
        if r.status_code >= 400:
            raise urllib.error.HTTPError(req.full_url, r.status_code, "error", None,  # type: ignore[arg-type]
                                         io.BytesIO(r.content))
        return _Resp(r.status_code, r.content)
    return open_


class Site:
    """Two workspaces: a log, and a second site running the witness service."""

    def __init__(self, tmp: Path, make_event: Any) -> None:
        from fastapi.testclient import TestClient

        from veil.service import ApiKeyStore, ServiceConfig, create_app
        from veil.store.workspace import init_workspace

        self.make_event = make_event
        self.ws, _ = init_workspace(tmp / "bank")
        self.wws, _ = init_workspace(tmp / "second-site")
        self.token = ApiKeyStore(self.wws).create("service", "bank-log", created_by="tests")[1]
        self.client = TestClient(create_app(ServiceConfig.load(tmp / "second-site",
                                                               rate_limit=0)),
                                 raise_server_exceptions=False)
        self.client.__enter__()
        self.witness = Witness(self.wws.engine, self.wws.root)
        self.http = HttpWitness("second-site", "http://witness.test", token=self.token,
                                public_key=self.witness.public_key(),
                                opener=opener_for(self.client))
        self.log = AuditLog(self.ws, sinks=[], witnesses=[self.http])

    def post(self, note: str, key_pem: str, old_size: int, proof: list[str] | None = None
             ) -> Any:
        origin = urllib.parse.quote(self.log.origin, safe="")
        return self.client.post(f"/v1/witness/{origin}", headers={"X-API-Key": self.token},
                                json={"checkpoint": note, "public_key": key_pem,
                                      "old_size": old_size, "consistency": proof or []})

    def close(self) -> None:
        self.client.__exit__(None, None, None)
        self.ws.close()
        self.wws.close()


@pytest.fixture
def site(tmp_path: Path, monkeypatch, make_event) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    from veil.kek.providers import EnvKEK

    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    s = Site(tmp_path, make_event)
    yield s
    s.close()


def test_the_witness_cosigns_and_refuses_a_fork_with_409(site: Site) -> None:
    log = site.log
    log.append([site.make_event(i) for i in range(5)])
    first = log.checkpoint()
    assert first.published[0].ok and "cosignature checked" in first.published[0].detail
    log.append([site.make_event(i) for i in range(5, 12)])
    second = log.checkpoint()  # consistency proof from 5 to 12, checked by the witness
    assert second.published[0].ok, second.published
    held = site.witness.latest(log.origin)
    assert held is not None and held.size == 12
    verify_cosignature(held.note, site.witness.name, site.witness.public_key())

    key = load_signing_key(site.ws.root, create=False)
    assert key is not None
    pem = public_key_to_pem(key.public_key()).decode()
    fork = sign_tree_head(key, log.origin, 12, b"\x07" * 32)  # same size, another root
    r = site.post(fork.to_note(), pem, 12)
    assert r.status_code == 409 and "fork" in r.json()["error"]["message"]
    grown = sign_tree_head(key, log.origin, 13, b"\x07" * 32)  # a tree that does not extend 12
    r = site.post(grown.to_note(), pem, 12, ["00" * 32])
    assert r.status_code == 409 and "fork" in r.json()["error"]["message"]
    older = sign_tree_head(key, log.origin, 8, log.root_at(8))
    r = site.post(older.to_note(), pem, 12)
    assert r.status_code == 409 and "rollback" in r.json()["error"]["message"]
    evil = generate_signing_key()
    other = sign_tree_head(evil, log.origin, 12, held.root)
    r = site.post(other.to_note(), public_key_to_pem(evil.public_key()).decode(), 12)
    assert r.status_code == 409 and "pinned" in r.json()["error"]["message"]
    after = site.witness.latest(log.origin)
    assert after == held  # nothing changed
    _, checks = log.verify_witnesses()
    assert [(c.status, c.size) for c in checks] == [("ok", 12)]
    got = site.client.get(f"/v1/witness/{urllib.parse.quote(log.origin, safe='')}",
                          headers={"X-API-Key": site.token})
    assert got.status_code == 200 and got.json()["size"] == 12


def test_an_unreachable_witness_never_fails_an_append_and_is_retried(site: Site) -> None:
    down = HttpWitness("second-site", DOWN, token=site.token, timeout=2)
    log = AuditLog(site.ws, sinks=[], witnesses=[down])
    log.append([site.make_event(i) for i in range(3)])
    first = log.checkpoint()
    assert [p.ok for p in first.published] == [False]
    assert "unreachable" in first.failed[0].detail and first.failed[0].attempts == 1
    assert log.append([site.make_event(3)]) == [3]  # appends go on
    again = log.checkpoint()
    assert again.failed[0].attempts == 2
    assert again.failed[0].pending_since == first.failed[0].pending_since
    assert [(r["witness"], r["size"]) for r in pending_checkpoints(log)] == [("second-site", 4)]
    _, checks = log.verify_witnesses()
    assert [c.status for c in checks] == ["unreachable"]
    back = AuditLog(site.ws, sinks=[], witnesses=[site.http]).checkpoint()  # reachable again
    assert back.published[0].ok and pending_checkpoints(log) == []
    assert site.witness.latest(log.origin).size == 4  # type: ignore[union-attr]


def test_cli_names_the_unreachable_witness(site: Site, monkeypatch, capsys) -> None:
    cfg = site.ws.root / "veil.toml"
    cfg.write_text(cfg.read_text() + f'\n[audit.witnesses.second-site]\ntype = "http"\n'
                   f'url = "{DOWN}"\ntimeout = 2\n')
    monkeypatch.chdir(site.ws.root)
    AuditLog(site.ws, sinks=[]).append([site.make_event(0)])
    assert cli_main.main(["audit", "checkpoint"]) == 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "second-site" in err[0] and "retried at the next checkpoint" in err[0]
    assert cli_main.main(["audit", "verify", "--witness"]) == 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not reach witness(es) second-site" in err[0]


def test_a_witness_path_inside_the_workspace_is_refused(site: Site, capsys) -> None:
    cfg = site.ws.root / "veil.toml"
    cfg.write_text(cfg.read_text() + '\n[audit.witnesses.local]\ntype = "file"\n'
                   'path = "heads/latest.checkpoint"\n')
    assert cli_main.main(["audit", "checkpoint", "-w", str(site.ws.root)]) == 8
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[audit.witnesses.local]" in err[0]
    assert "inside the workspace" in err[0]
