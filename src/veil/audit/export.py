"""Exporting the log as JSON lines (``veil-audit-export/v1``) and checking such an export.

An export is: a header line (format, origin, size, public key, key id); the events' canonical
bytes, one per line, in index order; after the event that completes a signed head, that head as a
``{"checkpoint": <signed note>}`` line; and a trailer (``end``, size, root, number of heads).
:func:`verify_export` needs nothing but the file (and, to anchor it, the key you trust).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.heads import SignedTreeHead, load_public_key_pem, verify_tree_head
from veil.audit.merkle import CompactRange
from veil.audit.storage import READING
from veil.audit.verify_error import AuditVerifyError
from veil.errors import AuditError, AuditInputError
from veil.store.schema import audit_leaves
from veil.store.transactions import read_connection

EXPORT_FORMAT = "veil-audit-export/v1"
_PAGE = 10_000  # events read (and hashed) at a time


@dataclass(frozen=True)
class ExportReport:
    """What :func:`verify_export` established about an export file."""

    origin: str
    size: int
    root: bytes
    heads_checked: int
    latest_signed_size: int | None
    key_id: str | None
    key_trusted: bool


def _jline(obj: Mapping[str, Any]) -> bytes:
    return (
        json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    )


# --------------------------------------------------------------------------- writing


def _event_pages(engine: sa.Engine, size: int) -> Iterator[list[tuple[int, bytes]]]:
    """The first ``size`` stored events, ``_PAGE`` at a time, each checked to fit on a line."""
    c = audit_leaves.c
    for lo in range(0, size, _PAGE):
        hi = min(size, lo + _PAGE)
        with read_connection(engine, READING) as conn:
            rows = conn.execute(
                sa.select(c.idx, c.event).where(c.idx >= lo, c.idx < hi).order_by(c.idx)
            ).all()
        if len(rows) != hi - lo:
            raise AuditError("events are missing from the store: run `veil audit verify`")
        page = [(int(i), bytes(d)) for i, d in rows]
        for i, data in page:
            if b"\n" in data:
                raise AuditError(f"event {i} is not canonical: run `veil audit verify`")
        yield page


def _write_body(
    f: IO[bytes], engine: sa.Engine, size: int, heads: Sequence[SignedTreeHead]
) -> bytes:
    """Write the events and checkpoints; returns the root of the events written."""
    pending = iter(heads)
    nxt = next(pending, None)
    while nxt is not None and nxt.size == 0:
        f.write(_jline({"checkpoint": nxt.to_note()}))
        nxt = next(pending, None)
    frontier = CompactRange()
    for page in _event_pages(engine, size):
        hashes: list[bytes] = []
        for i, data in page:
            f.write(data + b"\n")
            hashes.append(hashlib.sha256(b"\x00" + data).digest())
            while nxt is not None and nxt.size == i + 1:
                f.write(_jline({"checkpoint": nxt.to_note()}))
                nxt = next(pending, None)
        frontier.append(hashes)
    return frontier.root()


def export_log(
    engine: sa.Engine, state: Any, heads: Sequence[SignedTreeHead], path: str | PathLike[str]
) -> ExportReport:
    """Write the log of ``state`` (its state row) with its signed ``heads`` to ``path``.

    The file is written to a temporary name and renamed when complete.
    """
    size, root = int(state.size), bytes(state.root)
    heads = [h for h in heads if h.size <= size]
    out = Path(path)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    header = {
        "format": EXPORT_FORMAT,
        "origin": state.origin,
        "size": size,
        "public_key": state.public_key,
        "key_id": state.key_id,
    }
    trailer = {"end": EXPORT_FORMAT, "size": size, "root": root.hex(), "heads": len(heads)}
    try:
        with open(tmp, "wb") as f:
            f.write(_jline(header))
            if _write_body(f, engine, size, heads) != root:
                raise AuditError(
                    "the stored events do not give the log root: run `veil audit verify`"
                )
            f.write(_jline(trailer))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except OSError as exc:
        raise AuditError(f"cannot write the export: {exc.strerror}", where=str(out)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportReport(
        origin=state.origin or "",
        size=size,
        root=root,
        heads_checked=len(heads),
        latest_signed_size=heads[-1].size if heads else None,
        key_id=state.key_id,
        key_trusted=True,
    )


# --------------------------------------------------------------------------- checking


def verify_export(
    path: str | PathLike[str], public_key: Ed25519PublicKey | None = None
) -> ExportReport:
    """Check an export file completely, streaming (bounded memory).

    Checks: header; every event line is an event object (its bytes, as written, are the leaf
    input); every checkpoint is signed (by
    ``public_key`` if given, which must equal the header's key; else by the header's key) for the
    header's origin and has the root of the events before it; the trailer's size and root match
    the events; nothing is missing at the end (a truncated export is an error naming the line).
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            return _ExportReader(f, str(p), public_key).read()
    except OSError as exc:
        raise AuditInputError(f"cannot read the export: {exc.strerror}", where=str(p)) from None


class _ExportReader:
    """One pass over an export: a handler per kind of line, the running tree in between."""

    def __init__(self, f: IO[bytes], where: str, public_key: Ed25519PublicKey | None) -> None:
        self.f = f
        self.where = where
        self.trusted_key = public_key
        self.key: Ed25519PublicKey | None = None
        self.origin: Any = None
        self.size: int = 0  # the header's
        self.key_id: Any = None
        self.frontier = CompactRange()
        self.pending: list[bytes] = []
        self.seen = 0  # events read so far
        self.heads = 0
        self.latest: int | None = None
        self.n = 1  # line number

    def _at(self) -> str:
        return f"{self.where}:{self.n}"

    def _truncated(self, detail: str, where: str | None = None) -> AuditVerifyError:
        return AuditVerifyError(self.seen, "truncated export", detail, where=where or self._at())

    def _object(self, raw: bytes) -> dict[str, Any]:
        if not raw.endswith(b"\n"):
            raise self._truncated("the file ends in the middle of a line")
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise AuditError("line is not JSON", where=self._at()) from None
        if not isinstance(obj, dict):
            raise AuditError("line is not a JSON object", where=self._at())
        return obj

    def read(self) -> ExportReport:
        first = self.f.readline()
        if not first:
            raise self._truncated("the file is empty", where=self.where)
        self._header(self._object(first))
        for raw in self.f:
            self.n += 1
            if raw.startswith(b'{"action":'):
                self._event(raw)
                continue
            self._flush()
            obj = self._object(raw)
            if "checkpoint" in obj:
                self._checkpoint(obj["checkpoint"])
            elif obj.get("end") == EXPORT_FORMAT:
                return self._trailer(obj)
            else:
                raise AuditError(
                    "unknown line (neither an event, a checkpoint nor the trailer)",
                    where=self._at(),
                )
        raise self._truncated(
            f"the file ends after {self.seen} of {self.size} events without its trailer line "
            "(truncated?)",
            where=self.where,
        )

    def _header(self, header: dict[str, Any]) -> None:
        if header.get("format") != EXPORT_FORMAT:
            raise AuditError(
                f"not a {EXPORT_FORMAT} file (header format {header.get('format')!r})",
                where=f"{self.where}:1",
            )
        size = header.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise AuditError("header size must be a non-negative integer", where=f"{self.where}:1")
        self.origin, self.size, self.key_id = header.get("origin"), size, header.get("key_id")
        if isinstance(header.get("public_key"), str):
            self.key = load_public_key_pem(header["public_key"].encode())
        if self.trusted_key is None:
            return
        if self.key is not None and (
            self.key.public_bytes_raw() != self.trusted_key.public_bytes_raw()
        ):
            raise AuditVerifyError(
                0,
                "bad signature",
                "the export's public key is not the key "
                "given to verify with (an export of another log?)",
                where=self.where,
            )
        self.key = self.trusted_key

    def _event(self, raw: bytes) -> None:
        if not raw.endswith(b"\n"):
            raise self._truncated("the file ends in the middle of an event")
        data = raw[:-1]
        try:
            obj = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            obj = None
        if not isinstance(obj, dict) or obj.get("v") != 1:
            raise AuditVerifyError(
                self.seen, "modified event", "not an audit event", where=self._at()
            )
        self.pending.append(hashlib.sha256(b"\x00" + data).digest())
        self.seen += 1
        if len(self.pending) >= _PAGE:
            self._flush()

    def _flush(self) -> None:
        if self.pending:
            self.frontier.append(self.pending)
            self.pending = []

    def _checkpoint(self, note: Any) -> None:
        try:
            head = SignedTreeHead.from_note(note)
        except AuditError as exc:
            raise AuditVerifyError(
                self.seen, "head altered", exc.message, where=self._at()
            ) from None
        if head.origin != self.origin:
            raise AuditVerifyError(
                head.size,
                "head altered",
                f"checkpoint is for origin {head.origin!r}, the export is of {self.origin!r}",
                where=self._at(),
            )
        if self.key is None:
            raise AuditVerifyError(
                head.size, "bad signature", "the export has no public key", where=self.where
            )
        try:
            verify_tree_head(head, self.key)
        except AuditError as exc:
            raise AuditVerifyError(
                head.size, "bad signature", exc.message, where=self._at()
            ) from None
        if head.size != self.seen:
            raise AuditVerifyError(
                head.size,
                "head altered",
                f"checkpoint for size {head.size} comes after {self.seen} events",
                where=self._at(),
            )
        if head.root != self.frontier.root():
            raise AuditVerifyError(
                head.size,
                "head root mismatch",
                f"the events before the checkpoint for size {head.size} do not give its root",
                where=self._at(),
            )
        self.heads += 1
        self.latest = head.size

    def _trailer(self, obj: dict[str, Any]) -> ExportReport:
        if obj.get("size") != self.seen or self.seen != self.size:
            raise self._truncated(
                f"the trailer says {obj.get('size')} events, the header "
                f"{self.size}, the file has {self.seen}"
            )
        if obj.get("root") != self.frontier.root().hex():
            raise AuditVerifyError(
                self.seen,
                "state",
                "the trailer root is not the root of the events",
                where=self._at(),
            )
        if obj.get("heads") != self.heads:
            raise self._truncated(
                f"the trailer says {obj.get('heads')} checkpoints, the file has {self.heads}"
            )
        if self.f.read(1):
            raise AuditError("data after the trailer", where=f"{self.where}:{self.n + 1}")
        return ExportReport(
            origin=str(self.origin),
            size=self.seen,
            root=self.frontier.root(),
            heads_checked=self.heads,
            latest_signed_size=self.latest,
            key_id=self.key_id,
            key_trusted=self.trusted_key is not None,
        )
