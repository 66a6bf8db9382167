"""`veil reidentify`: turn tokens (or FPE values) back into the original values, recorded.

The main app calls ``register(app)``. The command calls `veil.transforms.tokenize.reidentify`,
which needs the workspace's keys (its KEK: ``VEIL_KEK_PASSPHRASE`` or a prompt), an actor and
a reason, and appends a ``reidentify`` event to the workspace's audit log before printing
anything; failures (wrong key, altered token) are recorded too and exit with code 7.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from veil.cli.common import JsonBriefOpt, RecordedActorOpt, WorkspaceOpt

_HELP = """Turn tokens back into the original values (authorized callers only; recorded).

Reads the tokens given as arguments, or one per line from --from FILE ('-' for stdin), and
prints one "token<TAB>value" line each (--json: a JSON list). Needs the workspace's keys, an
--actor and a --reason; every call, failed or not, is an event in the audit log
(`veil audit log`).

Example:

    veil reidentify --domain credit_scoring --actor alice --reason "case 2024-117" AbC...

FPE values (transform fpe) need the run's parameters and the key id from its receipt:

    veil reidentify --transform fpe --format card --keep-first 6 --algorithm ff1 \\
        --key-id fpe:fraud:1a2b... --domain fraud --actor alice --reason "chargeback 881" \\
        4111112458915387
"""


def reidentify_cmd(
    domain: Annotated[str, typer.Option("--domain", "-d",
                                        help="Key domain: the purpose id of the run that made "
                                        "the tokens (or its 'domain' parameter).")],
    actor: RecordedActorOpt,
    reason: Annotated[str, typer.Option("--reason",
                                        help="Why (recorded; a case or ticket number, not "
                                        "personal data).")],
    values: Annotated[list[str] | None, typer.Argument(
        help="Tokens (or FPE values) to reverse.", show_default=False)] = None,
    transform: Annotated[str, typer.Option("--transform",
                                           help="tokenize or fpe.")] = "tokenize",
    from_file: Annotated[Path | None, typer.Option(
        "--from", help="Read values one per line from this file ('-': stdin).")] = None,
    fmt: Annotated[str | None, typer.Option("--format",
                                               help="fpe: card, iban or digits.")] = None,
    keep_first: Annotated[int | None, typer.Option("--keep-first", min=0, max=64,
                                                      help="fpe: as in the policy.")] = None,
    keep_bank: Annotated[bool | None, typer.Option("--keep-bank/--no-keep-bank",
                                                      help="fpe iban: as in the policy.")
                         ] = None,
    check_digit: Annotated[str | None, typer.Option(
        "--check-digit", help="fpe digits: none or luhn, as in the policy.")] = None,
    algorithm: Annotated[str | None, typer.Option(
        "--algorithm", help="fpe: ff1 or ff3-1, as in the policy (left out there: ff3-1).")
                         ] = None,
    key_id: Annotated[str | None, typer.Option(
        "--key-id", help="fpe: the key id from the run's receipt.")] = None,
    legal_basis: Annotated[str, typer.Option("--legal-basis",
                                             help="Legal basis (recorded).")] = "not stated",
    as_json: JsonBriefOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    from veil.errors import InputError
    from veil.store.workspace import Workspace
    from veil.transforms.tokenize import reidentify

    items = _values(values, from_file)
    fpe_params: dict[str, Any] | None = None
    if transform == "fpe":
        if fmt is None:
            raise InputError("--transform fpe needs --format (card, iban or digits)")
        given = {"format": fmt, "keep_first": keep_first, "keep_bank": keep_bank,
                 "check_digit": check_digit, "algorithm": algorithm}
        fpe_params = {k: v for k, v in given.items() if v is not None}
    ws = Workspace.find(workspace).ready()
    out = reidentify(ws, items, domain=domain, actor=actor, reason=reason,
                     transform=transform, fpe_params=fpe_params, expected_key_id=key_id,
                     legal_basis=legal_basis)
    # plain stdout (no Rich): tabs and values exactly as they are, for pipes
    if as_json:
        typer.echo(json.dumps([{"token": t, "value": v} for t, v in zip(items, out, strict=True)],
                              ensure_ascii=False, indent=2))
        return
    for t, v in zip(items, out, strict=True):
        typer.echo(f"{t}\t{'' if v is None else v}")


def _values(values: list[str] | None, from_file: Path | None) -> list[str]:
    """The arguments, then the non-blank lines of --from (a file, or '-': stdin)."""
    from veil.errors import InputError

    items = list(values or [])
    if from_file is not None:
        text = sys.stdin.read() if str(from_file) == "-" else _read(from_file)
        items += [line.strip() for line in text.splitlines() if line.strip()]
    if not items:
        raise InputError("no values: give them as arguments or with --from FILE")
    return items


def _read(path: Path) -> str:
    from veil.errors import InputError

    try:
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the values: {exc}", where=str(path)) from None


def transforms_cmd(as_json: JsonBriefOpt = False) -> None:
    """List the transforms a policy can name, each with an example treatment.

    Example: veil transforms   (docs/transforms.md has every parameter)
    """
    from veil.transforms import REGISTRY

    rows = [{"transform": t.name, "summary": t.summary, "example": t.example}
            for t in REGISTRY.values()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["transform"]) for r in rows)
    for r in rows:
        typer.echo(f"{r['transform']:<{width}}  {r['summary']}")
        typer.echo(f"{'':<{width}}    e.g. {r['example']}")


def register(app: typer.Typer) -> None:
    """Add the top-level ``reidentify`` and ``transforms`` commands (idempotent)."""
    names = {c.name for c in app.registered_commands}
    if "reidentify" not in names:
        app.command("reidentify", help=_HELP)(reidentify_cmd)
    if "transforms" not in names:
        app.command("transforms")(transforms_cmd)
