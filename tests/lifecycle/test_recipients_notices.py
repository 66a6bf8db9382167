"""Art. 19 notices end to end: an erasure enqueues one notice per recipient; a webhook receiver
(http.server on 127.0.0.1) that was down gets it on a later attempt, signed; an SMTP server
(aiosmtpd) gets the email; the recipient acknowledges over HTTP with the notice's token; the DPO
acknowledges by hand; an unreachable webhook stays pending with one clear line; a policy naming
an unknown recipient is refused with one line."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pyarrow.csv as pcsv
import pytest
import sqlalchemy as sa

from veil.cli.main import main
from veil.lifecycle import acknowledge, deliver, list_notices, requests
from veil.policy import load_policy
from veil.sample import SAMPLE_POLICY, write_sample

SECRET = "s3cret-for-signing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Hook(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _serve(port: int) -> HTTPServer:
    srv = HTTPServer(("127.0.0.1", port), _Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 OK"


def _policy(hook_port: int) -> Path:
    text = Path(SAMPLE_POLICY).read_text()
    old = "  credit_risk_team:\n    name: Credit risk modelling team\n    role: internal\n"
    assert old in text
    text = text.replace(old, old + f"    notify: {{webhook: 'http://127.0.0.1:{hook_port}/hook', "
                        "secret_env: VEIL_NOTIFY_SECRET_RISK}\n")
    p = Path("policy.yaml")
    p.write_text(text)
    return p


@pytest.fixture
def erased(workspace, monkeypatch):  # type: ignore[no-untyped-def]
    from veil.rights import load_store

    monkeypatch.delenv("VEIL_SAMPLE_STORE", raising=False)
    monkeypatch.setenv("VEIL_NOTIFY_SECRET_RISK", SECRET)
    port = _free_port()  # nothing listens there yet: the receiver is down
    pol = load_policy(_policy(port))
    write_sample("tx.csv", 200, seed=3)
    load_store(pol, "transactions", Path("tx.csv"), workspace)
    subject = pcsv.read_csv("tx.csv").column("customer_id")[0].as_py()
    reqs = requests(workspace, pol)
    rec = reqs.run(reqs.open("erasure", subject, verification="ID seen").id, actor="dpo")
    return workspace, pol, subject, rec, port


def test_notices_delivered_after_the_receiver_was_down(erased, monkeypatch, capsys) -> None:
    from aiosmtpd.controller import Controller

    ws, pol, subject, rec, port = erased
    ns = {n.recipient: n for n in list_notices(ws, request_id=rec.id)}
    assert set(ns) == {r for p in pol.purposes for r, _ in pol.recipients_of(p)}
    assert ns["credit_risk_team"].channel == "webhook"
    assert ns["marketing_analytics"].channel == "email"
    assert ns["cloud_hosting"].channel == "manual" and ns["cloud_hosting"].next_attempt is None
    with ws.engine.connect() as conn:  # the subject id only sealed
        dump = repr(conn.execute(sa.text("select * from recipient_notices")).all())
    assert subject not in dump

    mailbox = _Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    try:
        monkeypatch.setenv("VEIL_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("VEIL_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("VEIL_SMTP_FROM", "dpo@example-bank.eu")
        # first attempt: the webhook is down, the email goes
        assert main(["recipients", "deliver"]) == 0
        out = capsys.readouterr().out
        assert "1 sent, 1 to retry" in out and "unreachable" in out and subject not in out
        [n] = [x for x in list_notices(ws, pending=True) if x.recipient == "credit_risk_team"]
        assert n.status == "pending" and n.attempts == 1 and "unreachable" in n.last_error
        assert n.next_attempt > datetime.now(UTC)
        assert len(mailbox.messages) == 1
        mail = mailbox.messages[0]
        assert mail.rcpt_tos == ["marketing-privacy@example-bank.eu"]
        assert subject.encode() in mail.content and b"Art. 19" in mail.content
        # not due yet: nothing is attempted
        assert deliver(ws).sent == [] and deliver(ws).retrying == []
        srv = _serve(port)  # the receiver is back
        try:
            d = deliver(ws, now=datetime.now(UTC) + timedelta(hours=1))
        finally:
            srv.shutdown()
    finally:
        smtp.stop()
    assert d.sent == [n.id]
    headers, body = _Hook.got[-1]
    sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Veil-Signature"] == f"sha256={sig}"
    payload = json.loads(body)
    assert payload["subject_id"] == subject and payload["kind"] == "erasure"
    assert payload["ack"]["path"] == f"/v1/recipients/notices/{n.id}/ack"

    # the recipient acknowledges over HTTP with the notice's token
    from fastapi.testclient import TestClient

    from veil.service import ServiceConfig, create_app

    app = create_app(ServiceConfig.load(ws.root, policy="policy.yaml", rate_limit=0))
    with TestClient(app, raise_server_exceptions=False) as client:
        bad = client.post(payload["ack"]["path"], headers={"X-Notice-Token": "wrong"})
        assert bad.status_code == 401
        ok = client.post(payload["ack"]["path"], json={"token": payload["ack"]["token"]})
        assert ok.status_code == 200 and ok.json()["status"] == "acknowledged", ok.text
    acked = {x.id: x for x in list_notices(ws)}[n.id]
    assert acked.acknowledged_by == "recipient:credit_risk_team"
    # the DPO records another acknowledgement by hand
    manual = ns["cloud_hosting"].id
    assert main(["recipients", "ack", manual, "--note", "confirmed by email"]) == 0
    capsys.readouterr()
    assert {x.id for x in list_notices(ws, pending=True)}.isdisjoint({manual, n.id})
    assert main(["recipients", "notices", "--pending", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert all(x["status"] != "acknowledged" for x in listed)
    assert subject not in json.dumps(listed)


def test_unreachable_webhook_stays_pending_with_one_line(erased) -> None:
    ws, _, _, rec, _ = erased
    d = deliver(ws)
    [r] = [x for x in d.retrying if x["recipient"] == "credit_risk_team"]
    assert r["error"].startswith("webhook http://127.0.0.1:") and "\n" not in r["error"]
    assert "retried" in r["error"]
    acknowledge(ws, r["id"], actor="dpo")  # tracked by hand after all
    with pytest.raises(Exception, match="does not match"):
        acknowledge(ws, r["id"], token="nope")


def test_register_lists_roles_contracts_and_channels(workspace, capsys) -> None:
    assert main(["recipients", "list", "-p", "sample", "--json"]) == 0
    reg = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert reg["cloud_hosting"]["role"] == "processor" and reg["cloud_hosting"]["contract"]
    assert reg["marketing_analytics"]["channel"] == "email"
    assert "credit_scoring" in reg["credit_risk_team"]["purposes"]


def test_unknown_recipient_is_refused_by_the_cli(workspace, capsys) -> None:
    text = Path(SAMPLE_POLICY).read_text().replace(
        "recipients: [credit_risk_team, model_validation, cloud_hosting]",
        "recipients: [credit_risk_team, nobody_known]")
    Path("bad.yaml").write_text(text)
    assert main(["recipients", "list", "-p", "bad.yaml"]) == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nobody_known" in err and "bad.yaml:" in err


def test_access_package_lists_the_recipients(workspace, monkeypatch) -> None:
    from veil.rights import load_store

    monkeypatch.delenv("VEIL_SAMPLE_STORE", raising=False)
    pol = load_policy(SAMPLE_POLICY)
    write_sample("tx.csv", 100, seed=4)
    load_store(pol, "transactions", Path("tx.csv"), workspace)
    subject = pcsv.read_csv("tx.csv").column("customer_id")[0].as_py()
    reqs = requests(workspace, pol)
    rec = reqs.run(reqs.open("access", subject, verification="ID seen").id, actor="dpo")
    reqs.export(rec.id, "out", reason="secure portal")
    pkg = json.loads(Path("out/package.json").read_text())
    got = {r["id"]: r for r in pkg["recipients"]}
    assert got["cloud_hosting"]["role"] == "processor" and got["cloud_hosting"]["contract"]
    assert got["card_scheme"]["country"] == "US" and got["card_scheme"]["purposes"] == [
        "fraud_detection"]
    assert list_notices(workspace) == []  # access tells no recipient
