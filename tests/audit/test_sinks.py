"""Sinks through the outbox: JSON lines, syslog (RFC 5424 over UDP and TCP) and HTTP, against
servers on 127.0.0.1 that the tests open; a sink that is down loses nothing and recovers."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa

from veil.audit.log import AuditLog
from veil.audit.sinks import (
    HttpSink,
    JsonlSink,
    SinkRecord,
    SyslogSink,
    format_rfc5424,
    sinks_from_config,
)
from veil.errors import AuditError
from veil.store.schema import audit_outbox

# RFC 5424 section 6 (HEADER SP STRUCTURED-DATA SP MSG), as a regular expression
RFC5424 = re.compile(
    rb"<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,6}Z) "
    rb"(?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) "
    rb"(?P<msgid>[!-~]{1,32}) (?P<sd>\[(?P<sdid>[!-~]+?)(?P<params>(?: [^= \]\"]+=\"(?:[^\"\\\]]"
    rb"|\\[\"\\\]])*\")*)\]) \xef\xbb\xbf(?P<msg>.*)\Z",
    re.DOTALL,
)
PARAM = re.compile(rb' ([^= \]"]+)="((?:[^"\\\]]|\\["\\\]])*)"')


def _sd_params(raw: bytes) -> dict[str, str]:
    return {k.decode(): re.sub(rb"\\([\"\\\]])", rb"\1", v).decode() for k, v in PARAM.findall(raw)}


class Recorder:
    """A sink in code: records batches, fails while ``down`` is set."""

    def __init__(self, name: str = "rec") -> None:
        self.name = name
        self.batches: list[list[int]] = []
        self.down = False
        self.calls = 0

    def send(self, records: Sequence[SinkRecord]) -> None:
        self.calls += 1
        if self.down:
            raise ConnectionRefusedError("connection refused")
        self.batches.append([r.idx for r in records])

    @property
    def seen(self) -> list[int]:
        return [i for b in self.batches for i in b]


def _outbox(log: AuditLog) -> list[dict]:
    with log.engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(audit_outbox).order_by(audit_outbox.c.sink, audit_outbox.c.idx)
            )
        ]


# -- JSON lines ----------------------------------------------------------------------------


def test_jsonl_sink_from_config(workspace, make_event) -> None:
    cfg = workspace.root / "veil.toml"
    cfg.write_text(
        cfg.read_text() + '\n[audit.sinks.archive]\ntype = "jsonl"\n'
        'path = "forwarded/audit.jsonl"\n'
    )
    log = AuditLog(workspace)
    assert [s.name for s in log.sinks] == ["archive"]
    events = [make_event(i) for i in range(5)]
    log.append(events)
    assert log.outbox_pending() == {"archive": 5}
    r = log.deliver()
    assert r.delivered == {"archive": 5} and r.failed == {} and log.outbox_pending() == {}
    out = workspace.root / "forwarded" / "audit.jsonl"
    lines = out.read_bytes().splitlines()
    assert [json.loads(x)["idx"] for x in lines] == list(range(5))
    first = json.loads(lines[0])
    assert first["origin"] == log.origin and first["leaf_hash"] == events[0].leaf_hash().hex()
    # the event is embedded byte for byte
    assert lines[0].startswith(b'{"event":' + events[0].canonical_bytes() + b',"idx":0,')
    assert log.deliver().delivered == {"archive": 0}  # nothing twice


def test_jsonl_sink_starts_a_fresh_line_after_a_torn_write(tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    out.write_bytes(b'{"event":{"act')  # a crash in the middle of a write
    rec = SinkRecord("o", 3, b'{"action":"x"}', b"\x01" * 32, "t", "x", "y", "p", "success")
    JsonlSink("j", out).send([rec])
    lines = out.read_bytes().split(b"\n")
    assert lines[0] == b'{"event":{"act' and json.loads(lines[1])["idx"] == 3


# -- syslog --------------------------------------------------------------------------------


@pytest.fixture
def udp_server() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


def test_syslog_udp_rfc5424(audit_log: AuditLog, make_event, udp_server) -> None:
    port = udp_server.getsockname()[1]
    audit_log.sinks = [SyslogSink("siem", f"127.0.0.1:{port}", hostname="veil-test.example")]
    events = [make_event(0), make_event(1, actor='svc:"odd]name\\', outcome="failed")]
    audit_log.append(events)
    assert audit_log.deliver().delivered == {"siem": 2}
    msgs = [udp_server.recv(65535) for _ in events]
    for i, (raw, e) in enumerate(zip(msgs, events, strict=True)):
        m = RFC5424.match(raw)
        assert m, raw[:200]
        severity = 6 if e.outcome == "success" else 4
        assert int(m["pri"]) == 13 * 8 + severity
        assert m["ts"].decode() == e.canonical_bytes()[-35:-8].decode()
        assert m["host"] == b"veil-test.example" and m["app"] == b"veil"
        assert m["msgid"].decode() == e.action
        assert m["sdid"] == b"veil@32473"
        params = _sd_params(m["params"])
        assert params["idx"] == str(i) and params["actor"] == e.actor
        assert params["leaf_hash"] == e.leaf_hash().hex() and params["origin"] == audit_log.origin
        assert m["msg"] == e.canonical_bytes()


def test_syslog_udp_truncates_to_the_datagram_limit(make_event) -> None:
    e = make_event(0, details={"big": "é" * 3000})
    rec = SinkRecord(
        "o",
        0,
        e.canonical_bytes(),
        e.leaf_hash(),
        "2024-05-01T00:00:00.000000Z",
        e.action,
        e.actor,
        e.purpose,
        e.outcome,
    )
    raw = format_rfc5424(rec, hostname="h", max_size=1024)
    assert len(raw) <= 1024
    m = RFC5424.match(raw)
    assert m and _sd_params(m["params"])["truncated"] == "1"
    m["msg"].decode("utf-8")  # cut on a character boundary


def test_syslog_tcp_octet_counting(audit_log: AuditLog, make_event) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(5)
    got: list[bytes] = []

    def serve() -> None:
        conn, _ = server.accept()
        data = b""
        with conn:
            while chunk := conn.recv(65536):
                data += chunk
        while data:  # RFC 6587 3.4.1: MSG-LEN SP SYSLOG-MSG
            n, _, rest = data.partition(b" ")
            got.append(rest[: int(n)])
            data = rest[int(n) :]

    t = threading.Thread(target=serve)
    t.start()
    port = server.getsockname()[1]
    audit_log.sinks = [SyslogSink("siem", f"127.0.0.1:{port}", transport="tcp")]
    audit_log.append([make_event(i) for i in range(3)])
    assert audit_log.deliver().delivered == {"siem": 3}
    t.join(5)
    server.close()
    assert [_sd_params(RFC5424.match(m)["params"])["idx"] for m in got] == ["0", "1", "2"]


# -- HTTP ----------------------------------------------------------------------------------


class _Hook:
    def __init__(self) -> None:
        self.status = 503
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.headers.append(dict(self.headers))
                if hook.status == 200:
                    hook.bodies.append(body)
                self.send_response(hook.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/veil/audit"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def received(self) -> list[int]:
        return [json.loads(line)["idx"] for b in self.bodies for line in b.splitlines()]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[_Hook]:
    h = _Hook()
    yield h
    h.close()


def test_http_sink_down_then_recovers(
    audit_log: AuditLog, make_event, hook: _Hook, monkeypatch
) -> None:
    monkeypatch.setenv("VEIL_TEST_HOOK_TOKEN", "t0ken")
    cfg = audit_log.workspace.root / "veil.toml"
    cfg.write_text(
        cfg.read_text() + f'\n[audit.sinks.hook]\ntype = "http"\nurl = "{hook.url}"\n'
        'token_env = "VEIL_TEST_HOOK_TOKEN"\ntimeout = 5\n'
    )
    log = AuditLog(audit_log.workspace)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    log.append([make_event(i) for i in range(7)])
    r = log.deliver(now=now)  # the endpoint answers 503
    assert r.delivered == {"hook": 0} and "HTTP 503" in r.failed["hook"]
    assert r.pending == {"hook": 7}
    rows = _outbox(log)
    assert {(x["attempts"], x["next_attempt"]) for x in rows} == {
        (1, "2030-01-01T00:00:01.000000Z")
    }
    assert all("503" in x["last_error"] for x in rows)
    log.append([make_event(i) for i in range(7, 9)])  # appending goes on while the sink is down
    posts = len(hook.headers)
    r = log.deliver(now=now)  # only the two new items are due; the endpoint still fails them
    assert r.delivered == {"hook": 0} and r.pending == {"hook": 9}
    assert len(hook.headers) == posts + 1
    assert [x["attempts"] for x in _outbox(log)] == [1] * 9
    hook.status = 200
    r = log.deliver(now=now + timedelta(seconds=2))
    assert r.failed == {} and log.outbox_pending() == {}
    assert sorted(hook.received) == list(range(9))
    assert len(set(hook.received)) == 9  # nothing lost; here nothing duplicated either
    assert hook.headers[-1]["Authorization"] == "Bearer t0ken"
    assert hook.headers[-1]["Content-Type"] == "application/x-ndjson"


def test_http_sink_unreachable_is_a_sink_error(audit_log: AuditLog, make_event) -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    audit_log.sinks = [HttpSink("hook", f"http://127.0.0.1:{port}/x", timeout=2)]
    audit_log.append([make_event(0)])
    r = audit_log.deliver()
    assert "cannot reach the sink" in r.failed["hook"] and r.pending == {"hook": 1}


# -- the outbox ----------------------------------------------------------------------------


def test_backoff_doubles_up_to_the_cap(workspace, make_event) -> None:
    rec = Recorder()
    rec.down = True
    log = AuditLog(workspace, sinks=[rec], retry_base=2.0, retry_max=20.0)
    log.append([make_event(0), make_event(1)])
    now = datetime(2030, 1, 1, tzinfo=UTC)
    delays = []
    for _ in range(6):
        log.deliver(now=now)
        nxt = datetime.fromisoformat(_outbox(log)[0]["next_attempt"].replace("Z", "+00:00"))
        delays.append((nxt - now).total_seconds())
        assert log.deliver(now=nxt - timedelta(microseconds=1)).delivered == {"rec": 0}
        now = nxt
    assert delays == [2, 4, 8, 16, 20, 20]
    assert rec.calls == 6 and _outbox(log)[0]["attempts"] == 6
    rec.down = False
    assert log.deliver(now=now).delivered == {"rec": 2}
    assert rec.seen == [0, 1]


def test_crash_between_send_and_ack_redelivers(workspace, make_event) -> None:
    class Crashing(Recorder):
        def send(self, records: Sequence[SinkRecord]) -> None:
            super().send(records)
            if self.calls == 1:
                raise KeyboardInterrupt  # the process dies after the sink got the batch

    rec = Crashing()
    log = AuditLog(workspace, sinks=[rec])
    log.append([make_event(i) for i in range(3)])
    now = datetime(2030, 1, 1, tzinfo=UTC)
    with pytest.raises(KeyboardInterrupt):
        log.deliver(now=now, lease=60)
    assert log.deliver(now=now + timedelta(seconds=59)).delivered == {"rec": 0}  # still leased
    assert log.deliver(now=now + timedelta(seconds=61)).delivered == {"rec": 3}
    assert rec.batches == [[0, 1, 2], [0, 1, 2]]  # at least once: resent, nothing lost
    assert log.outbox_pending() == {}


def test_batches_and_several_sinks(workspace, make_event) -> None:
    a, b = Recorder("a"), Recorder("b")
    b.down = True
    log = AuditLog(workspace, sinks=[a, b])
    log.append([make_event(i) for i in range(7)])
    r = log.deliver(batch_size=3)
    assert r.delivered == {"a": 7, "b": 0} and a.batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert b.calls == 1  # a failing sink is tried once per pass, not once per batch
    assert r.pending == {"b": 7}
    # a sink removed from the configuration keeps its backlog, reported as pending
    log2 = AuditLog(workspace, sinks=[a])
    log2.append([make_event(7)])
    assert log2.deliver().pending == {"b": 7}
    assert a.seen == list(range(8))


def test_concurrent_deliveries_lose_nothing(workspace, make_event) -> None:
    rec = Recorder()
    log = AuditLog(workspace, sinks=[rec])
    log.append([make_event(i) for i in range(40)])
    threads = [
        threading.Thread(target=AuditLog(workspace, sinks=[rec]).deliver, kwargs={"batch_size": 5})
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(rec.seen)) == list(range(40)) and log.outbox_pending() == {}


@pytest.mark.parametrize(
    ("table", "match"),
    [
        ({"x": {"type": "kafka"}}, "type must be one of"),
        ({"x": {"type": "jsonl"}}, "path must be a non-empty string"),
        ({"x": {"type": "jsonl", "path": "a", "colour": 1}}, "unknown key"),
        ({"x": {"type": "syslog", "address": "localhost"}}, "host:port"),
        ({"x": {"type": "syslog", "address": "h:514", "transport": "quic"}}, "udp' or 'tcp"),
        ({"x": {"type": "http", "url": "ftp://x"}}, "http:// or https://"),
        ({"x": {"type": "http", "url": "http://x", "token_env": "VEIL_NOPE_UNSET"}}, "not set"),
        ({"x": "jsonl"}, "must be a table"),
    ],
)
def test_bad_sink_config_names_the_sink(tmp_path: Path, table: dict, match: str) -> None:
    with pytest.raises(AuditError, match=match) as info:
        sinks_from_config(table, tmp_path)
    assert info.value.where == "veil.toml [audit.sinks.x]"
