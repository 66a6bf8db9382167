"""Where checkpoints are published: witnesses outside the workspace.

Configured in ``veil.toml`` (one table per witness, named by its key)::

    [audit.witnesses.worm]              # one file, replaced by each newer checkpoint
    type = "file"
    path = "/mnt/worm/veil-audit.checkpoint"

    [audit.witnesses.archive]           # a folder: one file per tree size, never overwritten
    type = "folder"
    path = "/mnt/archive/veil-checkpoints"

    [audit.witnesses.second-site]       # another Veil service (POST /v1/witness/{origin})
    type = "http"
    url = "https://veil.second-site.example"
    token_env = "VEIL_WITNESS_TOKEN"    # an API key of that service (role service or dpo)
    public_key = "/etc/veil/second-site-witness.pem"   # optional: its cosignatures are checked
    timeout = 10

File and folder paths must lie outside the workspace: a witness the workspace's own files can
overwrite witnesses nothing. Each witness refuses to take a checkpoint that contradicts the one it
holds (a smaller tree, another root for a size, a tree that does not extend it), so a witness
never rolls back. ``latest`` reads back what a witness holds, for ``veil audit verify --witness``.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from veil.audit.config_tables import typed_tables
from veil.audit.cosign import verify_cosignature
from veil.audit.heads import SignedTreeHead, load_public_key_file
from veil.audit.trust import check_prefix
from veil.errors import AuditError

__all__ = ["FileWitness", "FolderWitness", "HttpWitness", "Publication", "WitnessTarget",
           "WitnessUnreachable", "witnesses_from_config"]


class WitnessUnreachable(AuditError):
    """The witness could not be reached (network, missing mount): retried next time."""


@dataclass(frozen=True)
class Publication:
    """What a witness needs besides the head: the log's public key (PEM) and consistency proofs
    from an earlier size to the head's (``proof(old_size)``)."""

    public_key_pem: str
    proof: Callable[[int], list[bytes]]


class WitnessTarget(Protocol):
    """A witness: ``publish`` a head (raise when it did not take it), ``latest`` read it back."""

    name: str

    def publish(self, head: SignedTreeHead, pub: Publication) -> str: ...

    def latest(self, origin: str) -> SignedTreeHead | None: ...


def _extends(old: SignedTreeHead, head: SignedTreeHead, pub: Publication, what: str) -> None:
    """Refuse ``head`` unless it extends ``old`` (same origin)."""
    if old.origin != head.origin:
        raise AuditError(f"{what} holds a checkpoint of another log ({old.origin!r})")
    if old.size > head.size:
        raise AuditError(f"{what} holds size {old.size}, newer than this head of size "
                         f"{head.size}: the log was rolled back")
    proof = pub.proof(old.size) if 0 < old.size < head.size else []
    try:
        check_prefix(old.size, old.root, head.size, head.root, proof)
    except AuditError as exc:
        raise AuditError(f"this head does not extend the size {old.size} that {what} holds: "
                         f"{exc.message}") from None


def _read_note(path: Path) -> SignedTreeHead | None:
    try:
        return SignedTreeHead.from_note(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise WitnessUnreachable(f"cannot read {path}: {getattr(exc, 'strerror', exc)}") from None


def _write_new(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` through a fsynced temporary file; ``replace=False`` never
    overwrites (returns False when the file exists)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


class FileWitness:
    """One file outside the workspace: the latest checkpoint (replaced, never rolled back)."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = Path(path)

    def publish(self, head: SignedTreeHead, pub: Publication) -> str:
        old = self.latest(head.origin)
        if old is not None:
            _extends(old, head, pub, str(self.path))
            if old.size == head.size:
                return f"already holds size {head.size}"
        try:
            _write_new(self.path, head.to_note().encode(), replace=True)
        except OSError as exc:
            raise WitnessUnreachable(f"cannot write {self.path}: {exc.strerror}") from None
        return f"wrote size {head.size} to {self.path}"

    def latest(self, origin: str) -> SignedTreeHead | None:
        return _read_note(self.path)


class FolderWitness:
    """A folder outside the workspace: one file ``<size>.checkpoint`` per tree size, never
    overwritten."""

    def __init__(self, name: str, path: str | os.PathLike[str]) -> None:
        self.name = name
        self.path = Path(path)

    def _sizes(self) -> list[int]:
        try:
            names = os.listdir(self.path)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise WitnessUnreachable(f"cannot list {self.path}: {exc.strerror}") from None
        return sorted(int(n.split(".")[0]) for n in names
                      if n.endswith(".checkpoint") and n.split(".")[0].isdigit())

    def publish(self, head: SignedTreeHead, pub: Publication) -> str:
        target = self.path / f"{head.size}.checkpoint"
        old = self.latest(head.origin)
        if old is not None:
            _extends(old, head, pub, str(self.path))
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            if not _write_new(target, head.to_note().encode(), replace=False):
                held = _read_note(target)
                if held is None or held.root != head.root or held.origin != head.origin:
                    raise AuditError(f"{target} holds another checkpoint for size {head.size}")
                return f"already holds size {head.size}"
        except OSError as exc:
            raise WitnessUnreachable(f"cannot write {target}: {exc.strerror}") from None
        return f"wrote {target}"

    def latest(self, origin: str) -> SignedTreeHead | None:
        sizes = self._sizes()
        return _read_note(self.path / f"{sizes[-1]}.checkpoint") if sizes else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect is a failure
        return None


class HttpWitness:
    """Another Veil service acting as a witness (``/v1/witness/{origin}``, see
    :mod:`veil.audit.witness`): it checks each checkpoint against what it saw and co-signs it."""

    def __init__(self, name: str, url: str, *, token: str | None = None, timeout: float = 10.0,
                 public_key: Ed25519PublicKey | None = None, witness_name: str | None = None,
                 opener: Callable[..., Any] | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise AuditError(f"witness url must start with http:// or https://, got {url!r}")
        self.name = name
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.public_key = public_key
        self.witness_name = witness_name
        self._open = opener or urllib.request.build_opener(_NoRedirect).open

    def _call(self, origin: str, body: dict[str, Any] | None) -> tuple[int, dict[str, Any]]:
        url = f"{self.url}/v1/witness/{urllib.parse.quote(origin, safe='')}"
        headers = {"Accept": "application/json"}
        if self.token:
            headers["X-API-Key"] = self.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(url, data=data, headers=headers,
                                     method="POST" if body is not None else "GET")
        try:
            with self._open(req, timeout=self.timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            raise WitnessUnreachable(f"cannot reach {self.url}: "
                                     f"{getattr(exc, 'reason', exc)}") from None
        try:
            obj = json.loads(raw or b"{}")
        except ValueError:
            obj = {}
        return status, obj if isinstance(obj, dict) else {}

    def _head(self, obj: Mapping[str, Any]) -> SignedTreeHead:
        note = obj.get("checkpoint")
        if not isinstance(note, str):
            raise AuditError(f"witness {self.url} answered without a checkpoint")
        head = SignedTreeHead.from_note(note)
        if self.public_key is not None:
            name = self.witness_name or str(obj.get("witness", ""))
            verify_cosignature(note, name, self.public_key)
        return head

    @staticmethod
    def _error(status: int, obj: Mapping[str, Any]) -> str:
        err = obj.get("error")
        msg = err.get("message") if isinstance(err, dict) else None
        return f"HTTP {status}" + (f": {msg}" if msg else "")

    def latest(self, origin: str) -> SignedTreeHead | None:
        status, obj = self._call(origin, None)
        if status == 404:
            return None
        if status != 200:
            raise WitnessUnreachable(f"witness {self.url} answered {self._error(status, obj)}")
        return self._head(obj)

    def publish(self, head: SignedTreeHead, pub: Publication) -> str:
        old = self.latest(head.origin)
        old_size = old.size if old is not None else 0
        proof = pub.proof(old_size) if 0 < old_size < head.size else []
        status, obj = self._call(head.origin, {
            "checkpoint": head.to_note(), "public_key": pub.public_key_pem,
            "old_size": old_size, "consistency": [h.hex() for h in proof]})
        if status == 409:
            raise AuditError(f"witness refused the head of size {head.size}: "
                             f"{self._error(status, obj)}")
        if status != 200:
            raise WitnessUnreachable(f"witness {self.url} answered {self._error(status, obj)}")
        got = self._head(obj)
        if (got.size, got.root) != (head.size, head.root):
            raise AuditError(f"witness {self.url} co-signed another head (size {got.size})")
        return f"co-signed size {head.size}" + (" (cosignature checked)" if self.public_key else "")


_KEYS: dict[str, set[str]] = {
    "file": {"type", "path"},
    "folder": {"type", "path"},
    "http": {"type", "url", "token_env", "timeout", "public_key", "witness_name"},
}


def _outside(cfg: Mapping[str, Any], root: Path, where: str) -> Path:
    raw = cfg.get("path")
    if not isinstance(raw, str) or not raw:
        raise AuditError("path must be a non-empty string", where=where)
    path = Path(raw).expanduser()
    path = path if path.is_absolute() else root / path
    resolved, ws = path.resolve(), root.resolve()
    if resolved == ws or ws in resolved.parents:
        raise AuditError(f"path {raw!r} is inside the workspace: a witness must be somewhere "
                         "the workspace cannot rewrite", where=where)
    return path


def _http(name: str, cfg: Mapping[str, Any], where: str) -> HttpWitness:
    token = None
    if "token_env" in cfg:
        token = os.environ.get(str(cfg["token_env"]))
        if not token:
            raise AuditError(f"environment variable {cfg['token_env']} (token_env) is not set",
                             where=where)
    key = load_public_key_file(cfg["public_key"]) if "public_key" in cfg else None
    return HttpWitness(name, str(cfg.get("url", "")), token=token,
                       timeout=float(cfg.get("timeout", 10.0)), public_key=key,
                       witness_name=cfg.get("witness_name"))


def witnesses_from_config(table: object, root: str | os.PathLike[str]) -> list[WitnessTarget]:
    """The witnesses of a ``[audit.witnesses]`` table (one sub-table per witness)."""
    out: list[WitnessTarget] = []
    for name, kind, cfg, where in typed_tables(table, "witnesses", _KEYS, "witness"):
        try:
            if kind == "file":
                out.append(FileWitness(name, _outside(cfg, Path(root), where)))
            elif kind == "folder":
                out.append(FolderWitness(name, _outside(cfg, Path(root), where)))
            else:
                out.append(_http(name, cfg, where))
        except AuditError as exc:
            if exc.where:
                raise
            raise AuditError(exc.message, where=where) from None
        except (TypeError, ValueError) as exc:
            raise AuditError(f"invalid witness setting: {exc}", where=where) from None
    return out
