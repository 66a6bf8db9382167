"""`veil audit ...`: read, prove, verify, export and forward the tamper-evident audit log.

Registered by the main app as ``app.add_typer(audit_app, name="audit")``. Every command calls the
library (:class:`veil.audit.log.AuditLog`) and prints its result; failures are ``VeilError``s
(verification failures are ``AuditError``, exit code 8).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from veil.cli.common import MAX_INDEX, MAX_LIMIT, JsonOnlyOpt, stdout_console
from veil.errors import AuditError, AuditInputError

console = Console(soft_wrap=True)  # long lines (roots, paths) stay whole for copying

audit_app = typer.Typer(
    help="The tamper-evident audit log: list, prove, verify, checkpoint, export and forward "
    "events.\n\n"
    "Example: veil audit verify",
    no_args_is_help=True,
)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace folder (default: VEIL_WORKSPACE or the nearest folder up with veil.toml).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
PublicKeyOpt = Annotated[
    Path | None,
    typer.Option("--public-key", help="PEM file of the log's Ed25519 public key you trust."),
]


def _log(workspace: Path | None):  # type: ignore[no-untyped-def]
    from veil.audit.log import AuditLog
    from veil.store.workspace import Workspace

    ws = Workspace.find(workspace)
    return ws, AuditLog(ws)


def _public_key(path: Path | None):  # type: ignore[no-untyped-def]
    if path is None:
        return None
    from veil.audit.heads import load_public_key_file

    return load_public_key_file(path)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False))


# -- log / show ----------------------------------------------------------------------------
@audit_app.command("log")
def log_cmd(
    action: Annotated[
        str | None, typer.Option(help="Only this action ('run.*' for a prefix).")
    ] = None,
    purpose: Annotated[str | None, typer.Option(help="Only this purpose.")] = None,
    actor: Annotated[str | None, typer.Option(help="Only this actor.")] = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome.")] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only events at or after this ISO date or time (UTC unless given)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only events before this ISO date or time.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many, newest first.")
                     ] = 20,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List recent audit events, newest first, optionally filtered.

    Example: veil audit log --action 'run.*' --purpose credit_scoring --since 2024-05-01
    """
    ws, log = _log(workspace)
    with ws:
        items = list(
            log.events(
                action=action,
                purpose=purpose,
                actor=actor,
                outcome=outcome,
                since=since,
                until=until,
                newest_first=True,
                limit=limit,
            )
        )
    if as_json:
        _print_json(
            [
                {"idx": e.idx, "leaf_hash": e.leaf_hash.hex(), "event": json.loads(e.data)}
                for e in items
            ]
        )
        return
    # an action name is never cut or wrapped, whatever the width (a pipe gets COLUMNS or 160)
    action_col = Column("action", no_wrap=True, min_width=max((len(e.action) for e in items),
                                                              default=6))
    t = Table("idx", "time (UTC)", "actor", action_col, "purpose", "outcome")
    t.columns[1].no_wrap = True
    for e in items:
        t.add_row(
            str(e.idx),
            e.time[:19].replace("T", " "),
            escape(e.actor),
            escape(e.action),
            escape(e.purpose),
            escape(e.outcome),
        )
    stdout_console().print(t)
    if not items:
        console.print("No matching events.")


@audit_app.command("show")
def show_cmd(
    idx: Annotated[int, typer.Argument(min=0, max=MAX_INDEX, help="Event index.")],
    as_json: JsonOnlyOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print one event as JSON, with its leaf hash and the signed head that covers it.

    Example: veil audit show 42
    """
    ws, log = _log(workspace)
    with ws:
        e = log.get(idx)
        head = log.signed_head()
    _print_json(
        {
            "idx": e.idx,
            "leaf_hash": e.leaf_hash.hex(),
            "covered_by_signed_head": head.size if head is not None and head.size > idx else None,
            "event": json.loads(e.data),
        }
    )


# -- head ----------------------------------------------------------------------------------
@audit_app.command("head")
def head_cmd(
    sign: Annotated[
        bool, typer.Option("--sign", help="Sign the current head (Ed25519) and store it.")
    ] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show the log's current size and root, and its latest signed head (or sign one).

    Example: veil audit head --sign
    """
    ws, log = _log(workspace)
    with ws:
        signed = log.sign_head() if sign else log.signed_head()
        head = log.head()
    if as_json:
        _print_json(
            {
                "origin": head.origin,
                "size": head.size,
                "root": head.root.hex(),
                "signed_head": signed.to_dict() | {"note": signed.to_note()} if signed else None,
            }
        )
        return
    console.print(f"log {head.origin}: {head.size:,} events, root {head.root.hex()}")
    if signed is None:
        console.print("no signed head yet (sign one with `veil audit head --sign`)")
        return
    console.print(
        f"latest signed head: size {signed.size:,}, key id {signed.key_id}, "
        f"{signed.timestamp.isoformat()}"
    )
    print(signed.to_note(), end="")


@audit_app.command("public-key")
def public_key_cmd(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the PEM to this file instead of printing it."),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print (or write) the log's Ed25519 public key (PEM), for verifying proofs elsewhere.

    Example: veil audit public-key -o audit-key.pem
    """
    from veil.audit.heads import public_key_to_pem

    ws, log = _log(workspace)
    with ws:
        key = log.public_key()
    if key is None:
        raise AuditError("the log has no key yet: sign a head first (`veil audit head --sign`)")
    pem = public_key_to_pem(key)
    if output is None:
        print(pem.decode(), end="")
        return
    output.write_bytes(pem)
    console.print(f"Wrote the public key to {output}")


# -- prove / verify-proof ------------------------------------------------------------------
@audit_app.command("prove")
def prove_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Proof file to write (JSON).")],
    idx: Annotated[int | None, typer.Argument(min=0, max=MAX_INDEX, help="Event index.")
                   ] = None,
    from_size: Annotated[
        int | None,
        typer.Option(
            "--from",
            min=0,
            max=MAX_INDEX,
            help="Also prove that the head of this size (one you trust) is a prefix of the "
            "current signed head (a consistency proof).",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a self-contained proof that event IDX is in the log under a signed head, and/or
    (--from SIZE) that the log of SIZE events is a prefix of it.

    Example: veil audit prove 42 --from 40 -o event42.proof.json
    """
    if idx is None and from_size is None:
        raise AuditError("give an event index, --from SIZE, or both")
    ws, log = _log(workspace)
    with ws:
        proof = log.prove(idx, output, from_size=from_size)
    what = [f"event {idx}"] if idx is not None else []
    what += [f"consistency from size {from_size:,}"] if from_size is not None else []
    console.print(
        f"Wrote proof of {' and '.join(what)} under the head of size {proof['tree_size']:,} "
        f"to {output}"
    )


def _parse_root(text: str) -> bytes:
    t = text.strip()
    try:
        raw = bytes.fromhex(t) if len(t) == 64 else base64.b64decode(t, validate=True)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise AuditError(f"--head-root {text!r} is neither 64 hex digits nor base64 of 32 bytes")
    return raw


@audit_app.command("verify-proof")
def verify_proof_cmd(
    file: Annotated[Path, typer.Argument(help="Proof file written by `veil audit prove`.")],
    public_key: PublicKeyOpt = None,
    size: Annotated[
        int | None,
        typer.Option("--size", min=0, max=MAX_INDEX,
                     help="Tree size of a head you trust (with --head-root)."),
    ] = None,
    head_root: Annotated[
        str | None,
        typer.Option("--head-root", help="Root (hex or base64) of that head (with --size)."),
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Check a proof file offline: the head's signature, and the event's inclusion under it.

    The head must be anchored: by --public-key, by --size with --head-root, or else by the key
    of the log in the current workspace.

    Example: veil audit verify-proof event42.proof.json --public-key audit-key.pem
    """
    from veil.audit.proofs import TrustedHead, verify_proof_anchored
    from veil.errors import StoreError

    if (size is None) != (head_root is None):  # a usage mistake, not a failed proof
        raise AuditInputError(
            "--size and --head-root go together (a root means nothing without its size)"
        )
    key = _public_key(public_key)
    trusted = None
    if size is not None and head_root is not None:
        trusted = TrustedHead(size, _parse_root(head_root))
    anchors = ["your --public-key"] if key is not None else []
    if key is None and trusted is None:
        try:
            ws, log = _log(workspace)
        except StoreError:
            raise AuditInputError(
                "nothing to anchor the proof to: pass --public-key, or --size and "
                "--head-root, or run inside the log's workspace"
            ) from None
        with ws:
            anchors.append(f"the key of this workspace's log {log.origin}")
            result = log.verify_proof(file)
    else:
        result = verify_proof_anchored(file, public_key=key, trusted_head=trusted)
    if trusted is not None:
        anchors.append("your --size/--head-root")
    anchor = " and ".join(anchors)
    e = result.event
    what = (
        f"event {result.leaf_index} ({escape(e.action)} by {escape(e.actor)}, "
        f"{escape(e.outcome)}) is in log {result.head.origin} of size {result.head.size:,}"
        if e is not None
        else f"the head of log {result.head.origin} of size {result.head.size:,} is valid"
    )
    if result.consistent_from is not None:
        what += f", which extends its tree of size {result.consistent_from.size:,}"
    if as_json:
        _print_json({
            "verified": True, "origin": result.head.origin, "size": result.head.size,
            "index": result.leaf_index, "key_id": result.key_id, "anchored_by": anchors,
            "event": None if e is None else {"action": e.action, "actor": e.actor,
                                             "outcome": e.outcome},
            "extends_size": None if result.consistent_from is None
            else result.consistent_from.size})
        return
    console.print(f"[green]VERIFIED[/]: {what} (key id {result.key_id}), anchored by {anchor}")


# -- verify --------------------------------------------------------------------------------
@audit_app.command("verify")
def verify_cmd(
    public_key: PublicKeyOpt = None,
    trusted_head: Annotated[
        Path | None,
        typer.Option(
            "--trusted-head",
            help="A checkpoint you trust (saved by `veil audit checkpoint -o`, or a witness's): "
            "the log must still hold it and extend it.",
        ),
    ] = None,
    witness: Annotated[
        bool,
        typer.Option("--witness", help="Also check the log against every configured witness."),
    ] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Recompute the whole tree from the stored events and check every node and signed head;
    with --trusted-head or --witness, also that the log extends the heads witnessed before.

    Exits 8 naming the first bad index and the failed check, a witness that disagrees, or a
    witness that could not be reached.

    Example: veil audit verify --trusted-head head-2024-05.checkpoint --witness
    """
    from veil.audit.trust import load_trusted_head, verify_from_trusted

    key = _public_key(public_key)
    head = load_trusted_head(trusted_head) if trusted_head is not None else None
    ws, log = _log(workspace)
    checks = []
    with ws:
        if head is not None:
            verify_from_trusted(log, head, public_key=key, source=str(trusted_head), full=False)
        if witness:
            r, checks = log.verify_witnesses(public_key=key)
        else:
            r = log.verify(public_key=key)
    _print_verified(r, head, checks, as_json)
    _fail_on_witnesses(checks)


def _print_verified(r: Any, head: Any, checks: list[Any], as_json: bool) -> None:
    if as_json:
        _print_json(
            {
                "ok": all(c.status in ("ok", "empty") for c in checks),
                "origin": r.origin,
                "size": r.size,
                "root": r.root.hex(),
                "heads_checked": r.heads_checked,
                "latest_signed_size": r.latest_signed_size,
                "nodes_checked": r.nodes_checked,
                "key_id": r.key_id,
                "seconds": round(r.seconds, 3),
                "trusted_head_size": head.size if head is not None else None,
                "witnesses": [
                    {"name": c.name, "status": c.status, "detail": c.detail, "size": c.size}
                    for c in checks
                ],
            }
        )
        return
    unsigned = r.size - (r.latest_signed_size or 0)
    console.print(
        f"[green]OK[/]: {r.size:,} events, {r.nodes_checked:,} nodes and "
        f"{r.heads_checked} signed head(s) verified in {r.seconds:.2f} s "
        f"(root {r.root.hex()[:16]}…, key id {r.key_id or '-'})"
        + (f"; {unsigned:,} newest event(s) not yet under a signed head" if unsigned else "")
    )
    if head is not None:
        console.print(f"[green]OK[/]: the log extends the trusted head of size {head.size:,}")
    for c in checks:
        mark = {"ok": "[green]OK[/]", "empty": "--"}.get(c.status, "[red]FAILED[/]")
        console.print(f"{mark}: witness {escape(c.name)}: {escape(c.detail)}")


def _fail_on_witnesses(checks: list[Any]) -> None:
    bad = [c for c in checks if c.status == "failed"]
    if bad:
        raise AuditError(
            "the log disagrees with witness(es) "
            + "; ".join(f"{c.name}: {c.detail}" for c in bad)
        )
    down = [c for c in checks if c.status == "unreachable"]
    if down:
        raise AuditError(
            "could not reach witness(es) "
            + "; ".join(f"{c.name} ({c.detail})" for c in down)
            + ": the log is not checked against them"
        )


# -- checkpoint ----------------------------------------------------------------------------
@audit_app.command("checkpoint")
def checkpoint_cmd(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Also save the checkpoint to this file."),
    ] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Sign the current head and publish it (a checkpoint) to every witness and audit sink.

    A witness that fails keeps the head in the checkpoint outbox and is retried at the next
    checkpoint; appends never wait for it. Exits 8 naming the witnesses that failed.

    Example: veil audit checkpoint -o head.checkpoint
    """
    ws, log = _log(workspace)
    with ws:
        rep = log.checkpoint()
    note = rep.head.to_note()
    if output is not None:
        output.write_text(note, encoding="utf-8")
    if as_json:
        _print_json(
            {
                "head": rep.head.to_dict() | {"note": note},
                "published": [
                    {"name": p.name, "ok": p.ok, "detail": p.detail, "attempts": p.attempts,
                     "pending_since": p.pending_since}
                    for p in rep.published
                ],
            }
        )
    else:
        console.print(f"checkpoint: log {rep.head.origin}, size {rep.head.size:,}, "
                      f"key id {rep.head.key_id}" + (f", saved to {output}" if output else ""))
        if not rep.published:
            console.print("No witnesses configured ([audit.witnesses] in veil.toml).",
                          markup=False)
        for p in rep.published:
            state = "ok" if p.ok else f"FAILED ({p.attempts} attempt(s) since {p.pending_since})"
            console.print(f"{p.name}: {state}: {p.detail}", markup=False)
    if rep.failed:
        raise AuditError(
            "witness(es) did not take the checkpoint of size "
            f"{rep.head.size}: " + "; ".join(f"{p.name} ({p.detail})" for p in rep.failed)
            + ": retried at the next checkpoint"
        )


# -- export --------------------------------------------------------------------------------
@audit_app.command("export")
def export_cmd(
    file: Annotated[Path, typer.Argument(help="JSON lines file to write.")],
    no_sign: Annotated[
        bool, typer.Option("--no-sign", help="Do not sign the current head first.")
    ] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the log as JSON lines: header, canonical events, signed heads, trailer.

    Example: veil audit export audit-2024.jsonl
    """
    ws, log = _log(workspace)
    with ws:
        r = log.export(file, sign=not no_sign)
    console.print(f"Exported {r.size:,} events and {r.heads_checked} signed head(s) to {file}")


@audit_app.command("verify-export")
def verify_export_cmd(
    file: Annotated[Path, typer.Argument(help="Export written by `veil audit export`.")],
    public_key: PublicKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check an export: every event, every signed head's signature and root, the trailer.

    Needs no workspace.

    Example: veil audit verify-export audit-2024.jsonl --public-key audit-key.pem
    """
    from veil.audit.export import verify_export

    r = verify_export(file, _public_key(public_key))
    if as_json:
        _print_json({"verified": True, "origin": r.origin, "size": r.size,
                     "heads_checked": r.heads_checked, "key_trusted": r.key_trusted})
        return
    trust = (
        "under your --public-key"
        if r.key_trusted
        else "under the key in the file (pass --public-key to anchor it)"
    )
    console.print(
        f"[green]OK[/]: {r.size:,} events of log {r.origin}, {r.heads_checked} signed "
        f"head(s) verified {trust}"
    )


# -- deliver -------------------------------------------------------------------------------
@audit_app.command("deliver")
def deliver_cmd(
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Forward due events from the outbox to the configured sinks (retrying failed ones).

    Example: veil audit deliver
    """
    ws, log = _log(workspace)
    with ws:
        r = log.deliver()
    if as_json:
        _print_json({"delivered": r.delivered, "failed": r.failed, "pending": r.pending})
        return
    if not log.sinks and not r.pending:
        console.print("No sinks configured ([audit.sinks] in veil.toml).", markup=False)
        return
    for name, n in r.delivered.items():
        line = f"{name}: {n:,} delivered"
        if name in r.failed:
            line += f", failing ({r.failed[name]}); will retry"
        console.print(line + f", {r.pending.get(name, 0):,} pending", markup=False)
    for name, n in r.pending.items():
        if name not in r.delivered:
            console.print(f"{name}: not configured any more, {n:,} pending", markup=False)
