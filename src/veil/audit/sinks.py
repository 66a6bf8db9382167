"""Where audit events are forwarded: JSON lines files, syslog (RFC 5424) and HTTP endpoints.

A sink only sends; the outbox in the store (:meth:`veil.audit.log.AuditLog.deliver`) decides what
to send, retries with backoff, and deletes what was delivered. ``send`` gets a batch of records
in index order and must raise if the batch was not (certainly) accepted; it may be called again
with records it already sent (delivery is at least once: receivers deduplicate on
``(origin, idx)``).

Configuration, in the workspace's ``veil.toml`` (paths relative to the workspace)::

    [audit.sinks.archive]
    type = "jsonl"
    path = "audit/events.jsonl"

    [audit.sinks.siem]
    type = "syslog"
    address = "127.0.0.1:514"      # host:port, [v6]:port
    transport = "udp"              # or "tcp" (RFC 6587 octet counting)

    [audit.sinks.hook]
    type = "http"
    url = "https://siem.example/veil"
    token_env = "VEIL_AUDIT_HTTP_TOKEN"   # optional: sent as "Authorization: Bearer <token>"
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from veil.audit.config_tables import typed_tables
from veil.audit.event import format_time
from veil.errors import AuditError

SD_ID = "veil@32473"
"""The RFC 5424 structured-data id. 32473 is the private enterprise number reserved for
documentation (RFC 5612); set ``sd_id`` to your own ``name@<PEN>`` in production."""

FACILITY_LOG_AUDIT = 13
"""RFC 5424 facility 13, "log audit"."""

_SUCCESS = frozenset({"success", "succeeded", "ok", "granted", "allowed"})


class SinkError(Exception):
    """A sink could not deliver a batch (the outbox keeps it and retries)."""


@dataclass(frozen=True)
class SinkRecord:
    """One event as the outbox hands it to a sink."""

    origin: str
    idx: int
    event: bytes  # canonical RFC 8785 bytes
    leaf_hash: bytes
    time: str
    action: str
    actor: str
    purpose: str
    outcome: str

    def json_line(self) -> bytes:
        """``{"event":{...},"idx":N,"leaf_hash":"hex","origin":"..."}``: canonical JSON (keys
        sorted, the event embedded byte for byte), no trailing newline."""
        return (
            b'{"event":'
            + self.event
            + b',"idx":'
            + str(self.idx).encode()
            + b',"leaf_hash":"'
            + self.leaf_hash.hex().encode()
            + b'","origin":'
            + json.dumps(self.origin, ensure_ascii=False).encode()
            + b"}"
        )


def checkpoint_line(head: Any) -> bytes:
    """A signed tree head as one JSON object: ``{"checkpoint":"<note>","origin":..,"size":N}``
    (the line a sink receives at each ``veil audit checkpoint``)."""
    return json.dumps({"checkpoint": head.to_note(), "origin": head.origin, "size": head.size},
                      ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


@runtime_checkable
class Sink(Protocol):
    """Anything with a ``name`` and ``send(records)`` that raises when it did not deliver."""

    name: str

    def send(self, records: Sequence[SinkRecord]) -> None: ...


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not 1 <= len(name) <= 64:
        raise AuditError(f"sink name must be 1 to 64 characters, got {name!r}")
    return name


# --------------------------------------------------------------------------- JSON lines


class JsonlSink:
    """Append each record as one JSON line (see :meth:`SinkRecord.json_line`) and fsync."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = _check_name(name)
        self.path = Path(path)

    def send(self, records: Sequence[SinkRecord]) -> None:
        self._append(b"".join(r.json_line() + b"\n" for r in records))

    def _append(self, body: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab+") as f:
            # After a crash in the middle of a write the file may end without a newline: start a
            # fresh line so that the partial one stays alone (and the record is resent whole).
            if f.seek(0, os.SEEK_END) > 0:
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    body = b"\n" + body
            f.write(body)
            f.flush()
            os.fsync(f.fileno())

    def send_checkpoint(self, head: Any) -> None:
        """Append the signed head as ``{"checkpoint": "<note>", "origin": ..., "size": N}``."""
        self._append(checkpoint_line(head) + b"\n")

    def __repr__(self) -> str:
        return f"JsonlSink({self.name!r}, {str(self.path)!r})"


# --------------------------------------------------------------------------- syslog


def _printusascii(text: str, limit: int) -> str:
    out = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:limit]
    return out or "-"


def _sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_rfc5424(
    record: SinkRecord,
    *,
    hostname: str,
    app_name: str = "veil",
    procid: str | None = None,
    facility: int = FACILITY_LOG_AUDIT,
    sd_id: str = SD_ID,
    max_size: int | None = None,
) -> bytes:
    """One RFC 5424 message for a record.

    ``<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] BOM MSG``: PRI is facility * 8 plus
    severity 6 (informational) for a successful outcome, else 4 (warning); TIMESTAMP is the event
    time; MSGID its action; the structured data carries idx, origin, leaf hash, action, actor,
    purpose and outcome; MSG is the canonical event JSON (UTF-8 with BOM). With ``max_size`` the
    MSG is cut so that the whole message fits, and ``truncated="1"`` is added to the SD element.
    """
    severity = 6 if record.outcome.lower() in _SUCCESS else 4
    header = (
        f"<{facility * 8 + severity}>1 {record.time} {_printusascii(hostname, 255)} "
        f"{_printusascii(app_name, 48)} {_printusascii(procid or str(os.getpid()), 128)} "
        f"{_printusascii(record.action, 32)} "
    )
    params = [
        ("idx", str(record.idx)),
        ("origin", record.origin),
        ("leaf_hash", record.leaf_hash.hex()),
        ("action", record.action),
        ("actor", record.actor),
        ("purpose", record.purpose),
        ("outcome", record.outcome),
    ]

    def sd(extra: list[tuple[str, str]]) -> str:
        body = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in params + extra)
        return f"[{sd_id} {body}]"

    msg = b" \xef\xbb\xbf" + record.event
    out = (header + sd([])).encode() + msg
    if max_size is not None and len(out) > max_size:
        head = (header + sd([("truncated", "1")])).encode() + b" \xef\xbb\xbf"
        room = max_size - len(head)
        if room < 0:
            raise SinkError(
                f"syslog message header for event {record.idx} exceeds {max_size} bytes"
            )
        cut = record.event[:room].decode("utf-8", errors="ignore").encode()
        out = head + cut
    return out


def _parse_address(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise AuditError(f"syslog address {address!r} must be host:port (e.g. 127.0.0.1:514)")
    return host.strip("[]"), int(port)


class SyslogSink:
    """Send each record as an RFC 5424 message over UDP (RFC 5426) or TCP (RFC 6587 framing).

    UDP has no acknowledgement: a datagram sent counts as delivered. Over TCP the batch counts
    as delivered once every byte is written and the connection closed cleanly.
    """

    def __init__(
        self,
        name: str,
        address: str,
        *,
        transport: str = "udp",
        app_name: str = "veil",
        hostname: str | None = None,
        facility: int = FACILITY_LOG_AUDIT,
        sd_id: str = SD_ID,
        timeout: float = 5.0,
        max_datagram: int = 8192,
    ) -> None:
        self.name = _check_name(name)
        self.host, self.port = _parse_address(address)
        if transport not in ("udp", "tcp"):
            raise AuditError(f"syslog transport must be 'udp' or 'tcp', got {transport!r}")
        if not 0 <= facility <= 23:
            raise AuditError(f"syslog facility must be 0..23, got {facility}")
        self.transport = transport
        self.app_name = app_name
        self.hostname = hostname or socket.getfqdn() or socket.gethostname()
        self.facility = facility
        self.sd_id = sd_id
        self.timeout = timeout
        self.max_datagram = max_datagram

    def _messages(self, records: Sequence[SinkRecord], max_size: int | None) -> list[bytes]:
        return [
            format_rfc5424(
                r,
                hostname=self.hostname,
                app_name=self.app_name,
                facility=self.facility,
                sd_id=self.sd_id,
                max_size=max_size,
            )
            for r in records
        ]

    def send(self, records: Sequence[SinkRecord]) -> None:
        if self.transport == "udp":
            msgs = self._messages(records, self.max_datagram)
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(self.timeout)
                s.connect(addr)  # so that an ICMP "port unreachable" surfaces as an error
                for m in msgs:
                    s.send(m)
            return
        msgs = self._messages(records, None)
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
            s.sendall(b"".join(str(len(m)).encode() + b" " + m for m in msgs))
            s.shutdown(socket.SHUT_WR)

    def send_checkpoint(self, head: Any) -> None:
        """One RFC 5424 message, MSGID ``checkpoint``, the signed note as its MSG."""
        params = " ".join(f'{k}="{_sd_escape(v)}"' for k, v in (
            ("origin", head.origin), ("size", str(head.size)), ("root", head.root.hex()),
            ("key_id", head.key_id)))
        msg = (f"<{self.facility * 8 + 6}>1 {format_time(head.timestamp)} "
               f"{_printusascii(self.hostname, 255)} {_printusascii(self.app_name, 48)} "
               f"{os.getpid()} checkpoint [{self.sd_id} {params}] ").encode()
        msg += b"\xef\xbb\xbf" + head.to_note().encode()
        if self.transport == "udp":
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
            family, _, _, _, addr = infos[0]
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(self.timeout)
                s.connect(addr)
                s.send(msg)
            return
        with socket.create_connection((self.host, self.port), timeout=self.timeout) as s:
            s.sendall(str(len(msg)).encode() + b" " + msg)
            s.shutdown(socket.SHUT_WR)

    def __repr__(self) -> str:
        return f"SyslogSink({self.name!r}, '{self.host}:{self.port}', {self.transport!r})"


# --------------------------------------------------------------------------- HTTP


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # never follow: a failure
        return None


class HttpSink:
    """POST each batch as JSON lines (``application/x-ndjson``); any 2xx status is success."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = _check_name(name)
        if not url.startswith(("http://", "https://")):
            raise AuditError(f"HTTP sink url must start with http:// or https://, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.headers = {"Content-Type": "application/x-ndjson", **(headers or {})}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._opener = urllib.request.build_opener(_NoRedirect)

    def send(self, records: Sequence[SinkRecord]) -> None:
        self._post(b"".join(r.json_line() + b"\n" for r in records))

    def send_checkpoint(self, head: Any) -> None:
        """POST the signed head as one JSON line (see :func:`checkpoint_line`)."""
        self._post(checkpoint_line(head) + b"\n")

    def _post(self, body: bytes) -> None:
        req = urllib.request.Request(self.url, data=body, method="POST", headers=self.headers)
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raise SinkError(f"HTTP {exc.code} from the sink") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SinkError(f"cannot reach the sink: {reason}") from None
        if not 200 <= status < 300:
            raise SinkError(f"HTTP {status} from the sink")

    def __repr__(self) -> str:
        return f"HttpSink({self.name!r}, {self.url!r})"


# --------------------------------------------------------------------------- configuration

_KEYS: dict[str, set[str]] = {
    "jsonl": {"type", "path"},
    "syslog": {
        "type",
        "address",
        "transport",
        "app_name",
        "hostname",
        "facility",
        "sd_id",
        "timeout",
        "max_datagram",
    },
    "http": {"type", "url", "timeout", "token_env"},
}


def sinks_from_config(table: object, root: str | os.PathLike[str]) -> list[Sink]:
    """Build the sinks of a ``[audit.sinks]`` table (one sub-table per sink, named by its key)."""
    out: list[Sink] = []
    for name, kind, cfg, where in typed_tables(table, "sinks", _KEYS, "sink"):
        try:
            if kind == "jsonl":
                path = Path(_str(cfg, "path", where))
                out.append(JsonlSink(name, path if path.is_absolute() else Path(root) / path))
            elif kind == "syslog":
                opts = {
                    k: cfg[k]
                    for k in (
                        "transport",
                        "app_name",
                        "hostname",
                        "facility",
                        "sd_id",
                        "timeout",
                        "max_datagram",
                    )
                    if k in cfg
                }
                out.append(SyslogSink(name, _str(cfg, "address", where), **opts))
            else:
                token = None
                if "token_env" in cfg:
                    var = _str(cfg, "token_env", where)
                    token = os.environ.get(var)
                    if not token:
                        raise AuditError(
                            f"environment variable {var} (token_env) is not set", where=where
                        )
                out.append(
                    HttpSink(
                        name,
                        _str(cfg, "url", where),
                        timeout=float(cfg.get("timeout", 10.0)),
                        token=token,
                    )
                )
        except AuditError as exc:
            if exc.where:
                raise
            raise AuditError(exc.message, where=where) from None
        except (TypeError, ValueError) as exc:
            raise AuditError(f"invalid sink setting: {exc}", where=where) from None
    return out


def _str(cfg: Mapping[str, Any], key: str, where: str) -> str:
    v = cfg.get(key)
    if not isinstance(v, str) or not v:
        raise AuditError(f"{key} must be a non-empty string", where=where)
    return v
