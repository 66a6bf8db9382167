"""`veil keys ...`, `veil encrypt` and `veil decrypt`: the workspace's keys and encrypted files.

The main app calls ``register(app)``, which adds the ``keys`` group and the two file commands.
Every command calls the library (`veil.keys.manager.KeyManager`, `veil.crypto.streaming`) and
prints its result; key and ciphertext problems are ``CryptoError`` (exit code 7), printed as one
line that names what is wrong (wrong passphrase, missing or destroyed key, not a ciphertext,
tampered or truncated ciphertext). A failed decryption leaves no output file. ``encrypt``,
``decrypt`` and ``keys export`` are each one audit event (``key.encrypt``, ``key.decrypt``,
``key.export``: ``--actor``, keyset, key ids, digests; `veil.keys.key_use`), failures too.

The KEK passphrase comes from ``VEIL_KEK_PASSPHRASE``, else a prompt on a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from veil.cli.common import MAX_LIMIT, JsonOpt, WorkspaceOpt, console, print_json
from veil.errors import CryptoError

keys_app = typer.Typer(
    help="Keys: the key-encryption key (KEK) and the keysets wrapped under it in the store.\n\n"
    "Example: veil keys init",
    no_args_is_help=True,
)

KeyUserOpt = Annotated[
    str | None,
    typer.Option("--actor", help="Who uses the key (recorded in the audit event; default: "
                 "VEIL_ACTOR, else the OS user)."),
]
KeyIdOpt = Annotated[
    int | None,
    typer.Option("--key-id", min=0, max=2**32 - 1,
                 help="One key of the keyset (default: the whole keyset)."),
]
NEW_PASSPHRASE_ENV = "VEIL_KEK_NEW_PASSPHRASE"
ModuleOpt = Annotated[str | None, typer.Option(
    "--module", help="pkcs11: the HSM's PKCS#11 library (e.g. "
    "/usr/lib/softhsm/libsofthsm2.so); the PIN comes from VEIL_HSM_PIN.")]
TokenOpt = Annotated[str | None, typer.Option("--token", help="pkcs11: the token's label.")]
KeyOpt = Annotated[str | None, typer.Option(
    "--key", help="pkcs11: the AES key's label (created in the token if missing); aws-kms: "
    "the KMS key (ARN, key id or alias/NAME).")]
RegionOpt = Annotated[str | None, typer.Option("--region", help="aws-kms: the key's region.")]
EndpointOpt = Annotated[str | None, typer.Option(
    "--endpoint-url", help="aws-kms: a KMS endpoint other than AWS's (a local KMS).")]


def _prompter(env: str, label: str):  # type: ignore[no-untyped-def]
    """A passphrase source: the variable, else a prompt on a terminal, else a clear error."""

    def get(confirm: bool) -> str:
        value = os.environ.get(env)
        if value:
            return value
        if sys.stdin.isatty():
            return str(typer.prompt(label, hide_input=True, confirmation_prompt=confirm))
        from veil.crypto.errors import KeyMissingError

        raise KeyMissingError(f"no passphrase: set {env} (or run on a terminal)")

    return get


def _passphrase():  # type: ignore[no-untyped-def]
    """The current KEK's passphrase: VEIL_KEK_PASSPHRASE, else a prompt."""
    from veil.keys.manager import PASSPHRASE_ENV

    return _prompter(PASSPHRASE_ENV, "KEK passphrase")


def _manager(workspace: Path | None):  # type: ignore[no-untyped-def]
    from veil.keys.manager import KeyManager
    from veil.store.workspace import Workspace

    ws = Workspace.find(workspace).ready()
    return ws, KeyManager(ws, passphrase=_passphrase())


def _keys_cell(keys: list[dict[str, Any]]) -> str:
    return ", ".join(
        f"{k['key_id']}{'*' if k['primary'] else ''}"
        + ("" if k["status"] == "ENABLED" else f" ({k['status'].lower()})")
        for k in keys
    ) or "-"


# -- keys ----------------------------------------------------------------------------------------
@keys_app.command("init")
def keys_init(
    name: Annotated[str | None, typer.Argument(
        help="Keyset to create (default: 'output', the streaming keyset for files at rest).",
    )] = None,
    kind: Annotated[str, typer.Option(help="streaming (files), aead (fields) or daead "
                                      "(deterministic tokens).")] = "streaming",
    purpose: Annotated[str, typer.Option(help="What the keyset is for (shown by `list`).")] = "",
    kek: Annotated[str, typer.Option("--kek", help="KEK provider when the workspace has none "
                                     "yet: passphrase-file, env, pkcs11 (an HSM) or aws-kms.")]
    = "passphrase-file",
    kek_path: Annotated[str, typer.Option(help="Key file for a passphrase-file KEK (relative to "
                                          "the workspace).")] = "keys/kek.json",
    kek_var: Annotated[str, typer.Option(help="Variable holding an env KEK (base64 of 32 "
                                         "bytes).")] = "VEIL_KEK",
    module: ModuleOpt = None,
    token: TokenOpt = None,
    key: KeyOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Set up the workspace's KEK (first time) and create a keyset.

    The first run creates the KEK (a key file protected by a passphrase, asked twice or taken from
    VEIL_KEK_PASSPHRASE; or an AES-256 key in an HSM token, made there if missing, never
    extractable; or names an existing AWS KMS key) and records it in veil.toml [keys].

    Example: VEIL_KEK_PASSPHRASE=... veil keys init

    Example: VEIL_HSM_PIN=... veil keys init --kek pkcs11 --module
    /usr/lib/softhsm/libsofthsm2.so --token veil --key veil-kek
    """
    from veil.keys.kek_rotation import ProviderOptions, provider_config
    from veil.keys.manager import KINDS, OUTPUT_KEYSET

    if kind not in KINDS:  # checked even when no keyset is made: never ignored silently
        raise CryptoError(f"--kind {kind[:40]!r}: use {', '.join(KINDS)}")
    ws, km = _manager(workspace)
    with ws:
        cfg = None
        if kek in ("pkcs11", "aws-kms") or any((module, token, key, region, endpoint_url)):
            cfg = provider_config(Path(ws.root), ProviderOptions(
                kek, module=module, token=token, key=key, region=region,
                endpoint_url=endpoint_url), default_path=kek_path)
        elif kek not in ("passphrase-file", "env"):
            raise CryptoError(f"--kek {kek!r}: use passphrase-file, env, pkcs11 or aws-kms")
        made_kek = False
        if km.config() is None or (cfg is not None and not km.config().explicit):
            new = km.setup_kek(kek, path=kek_path, variable=kek_var,  # type: ignore[arg-type]
                               config=cfg)
            made_kek = True
            console.print(f"Created KEK [bold]{new.kek_id}[/] ({kek}); recorded in veil.toml "
                          "\\[keys]")
        target = name or OUTPUT_KEYSET
        if name is None and km.exists(target):
            if not made_kek:
                console.print(f"Keys already set up: keyset '{target}' exists "
                              "(`veil keys list`)")
            return
        if name is None:
            kind, purpose = "streaming", purpose or "files at rest (run outputs, veil encrypt)"
        info = km.init(target, kind, purpose)  # type: ignore[arg-type]
        console.print(f"Created {info.kind} keyset [bold]{escape(info.name)}[/] with key "
                      f"{info.primary_key_id} (wrapped under KEK {info.kek_id})")


@keys_app.command("list")
def keys_list(
    as_json: JsonOpt = False,
    events: Annotated[int, typer.Option(min=0, max=MAX_LIMIT,
                                        help="Also show this many recent key events.")] = 0,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the keysets: kind, status, keys (* = primary), KEK. Needs no passphrase.

    Example: veil keys list --events 10
    """
    ws, km = _manager(workspace)
    with ws:
        infos = km.list()
        evs = km.events(limit=events) if events > 0 else []
        cfg = km.config()
    if as_json:
        out: dict[str, Any] = {"kek": cfg.describe() if cfg else None,
                               "keysets": [i.to_dict() for i in infos]}
        if events > 0:
            out["events"] = evs
        print_json(out, ensure_ascii=True, default=str)
        return
    console.print(f"KEK: {escape(cfg.describe()) if cfg else 'none (run `veil keys init`)'}")
    t = Table("keyset", "kind", "status", "purpose", "keys (* primary)", "KEK", "updated (UTC)")
    for i in infos:
        t.add_row(escape(i.name), i.kind, i.status, escape(i.purpose), _keys_cell(i.keys),
                  i.kek_id or "-", i.updated_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(t)
    if evs:
        e = Table("time (UTC)", "actor", "op", "keyset", "key id", "KEK")
        for ev in evs:
            e.add_row((ev["time"] or "")[:19], escape(ev["actor"]), ev["op"],
                      escape(ev["keyset"] or "-"), str(ev["key_id"] or "-"), ev["kek_id"] or "-")
        console.print(e)


@keys_app.command("rotate")
def keys_rotate(
    name: Annotated[str, typer.Argument(help="Keyset to rotate.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Add a fresh primary key to a keyset; older keys keep decrypting until disabled.

    Example: veil keys rotate output
    """
    ws, km = _manager(workspace)
    with ws:
        info = km.rotate(name)
    console.print(f"Rotated [bold]{escape(name)}[/]: new primary key {info.primary_key_id}; "
                  f"{len(info.keys) - 1} older key(s) kept for decryption")


@keys_app.command("rewrap")
def keys_rewrap(
    to: Annotated[str, typer.Option("--to", help="New KEK provider: passphrase-file, env, "
                                    "pkcs11 (an HSM) or aws-kms.")] = "passphrase-file",
    path: Annotated[str | None, typer.Option(help="New key file (passphrase-file; default "
                                                "keys/kek-<UTC time>.json).")] = None,
    variable: Annotated[str | None, typer.Option(help="Variable of the new env KEK (default "
                                                      "VEIL_KEK).")] = None,
    module: ModuleOpt = None,
    token: TokenOpt = None,
    key: KeyOpt = None,
    region: RegionOpt = None,
    endpoint_url: EndpointOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Move to a new KEK (same provider or another): re-wrap every keyset, subject key and
    sealed secret (keys/*.sealed) under it, without touching encrypted data, then point
    veil.toml at it. A failure before the end leaves the workspace on the old KEK.

    The new passphrase comes from VEIL_KEK_NEW_PASSPHRASE or a prompt; an HSM's PIN from
    VEIL_HSM_PIN; KMS credentials from the AWS chain.

    Example: veil keys rewrap --path keys/kek-2027.json

    Example: VEIL_HSM_PIN=... veil keys rewrap --to pkcs11 --module
    /usr/lib/softhsm/libsofthsm2.so --token veil --key veil-kek
    """
    from datetime import UTC, datetime

    from veil.keys.kek_rotation import ProviderOptions, provider_config, rotate_kek

    if to == "env" and variable is None:
        variable = "VEIL_KEK"
    ws, km = _manager(workspace)
    with ws:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        cfg = provider_config(Path(ws.root), ProviderOptions(
            to, path=path, variable=variable, module=module, token=token, key=key,
            region=region, endpoint_url=endpoint_url), default_path=f"keys/kek-{stamp}.json")
        done = rotate_kek(km, cfg,
                          passphrase=_prompter(NEW_PASSPHRASE_ENV, "New KEK passphrase"))
    console.print(f"Re-wrapped {done.keysets} keyset(s), {done.subject_keys} subject key(s) "
                  f"and {done.sealed_secrets} sealed secret(s) from KEK {done.old_kek_id} to "
                  f"[bold]{escape(done.new_kek_id)}[/] ({escape(done.config.describe())}); "
                  "veil.toml updated")
    old = done.old_config
    if old is not None:
        what = {"passphrase-file": f"the old key file {old.path}",
                "pkcs11": "the old HSM key", "aws-kms": "the old KMS key"}.get(old.kek)
        if what:
            console.print(f"{escape(what)} ({escape(done.old_kek_id)}) no longer protects "
                          "anything here: destroy it (and its backups) to make old copies of "
                          "the key store useless.")


def _status_cmd(op: str, name: str, key_id: int | None, workspace: Path | None) -> None:
    ws, km = _manager(workspace)
    with ws:
        info = getattr(km, op)(name, key_id)
    what = f"key {key_id} of {name!r}" if key_id is not None else f"keyset {name!r}"
    past = {"disable": "Disabled", "enable": "Enabled", "destroy": "Destroyed"}[op]
    console.print(f"{past} {escape(what)} (keyset status {info.status}; keys: "
                  f"{_keys_cell(info.keys)})")


@keys_app.command("disable")
def keys_disable(
    name: Annotated[str, typer.Argument(help="Keyset.")],
    key_id: KeyIdOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Disable a keyset, or one old key of it (it stops decrypting); `enable` undoes it.

    Example: veil keys disable output --key-id 123456789
    """
    _status_cmd("disable", name, key_id, workspace)


@keys_app.command("enable")
def keys_enable(
    name: Annotated[str, typer.Argument(help="Keyset.")],
    key_id: KeyIdOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Re-enable a disabled keyset or key.

    Example: veil keys enable output
    """
    _status_cmd("enable", name, key_id, workspace)


@keys_app.command("destroy")
def keys_destroy(
    name: Annotated[str, typer.Argument(help="Keyset.")],
    key_id: KeyIdOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Destroy a keyset, or one old key of it, for good: everything encrypted under it becomes
    unreadable, backups included.

    Example: veil keys destroy old-exports --yes
    """
    what = f"key {key_id} of keyset {name!r}" if key_id is not None else f"keyset {name!r}"
    if not yes:
        if not sys.stdin.isatty():
            raise typer.BadParameter(f"destroying {what} is irreversible: pass --yes to confirm",
                                     param_hint="--yes")
        typer.confirm(f"Destroy {what}? Data encrypted under it becomes unreadable", abort=True)
    _status_cmd("destroy", name, key_id, workspace)


@keys_app.command("export")
def keys_export(
    name: Annotated[str, typer.Argument(help="Keyset to export.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (mode 0600; "
                                         "never overwritten).")],
    binary: Annotated[bool, typer.Option("--binary", help="Tink's binary keyset format instead "
                                         "of JSON.")] = False,
    actor: KeyUserOpt = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write a keyset in clear, in Tink's keyset format, for a service that reads Veil's files
    with official Tink (Java, Go, Python, C++). It is a secret: whoever holds it can decrypt.
    The export is recorded as a key event and a ``key.export`` audit event.

    Example: veil keys export output -o output.keyset.json
    """
    from veil.keys.workspace_files import export_keyset

    ks = export_keyset(name, output, binary=binary, workspace=workspace,
                       passphrase=_passphrase(), actor=actor)
    console.print(f"Exported keyset {escape(name)} ({len(ks.entries)} key(s), primary "
                  f"{ks.primary_key_id}) to {escape(str(output))}: keep it secret")


@keys_app.command("events")
def keys_events(
    keyset: Annotated[str | None, typer.Option(help="Only this keyset's events.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many, newest first.")
                     ] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list instead of JSON "
                                          "lines.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print recorded key operations (JSON lines, newest first; no secrets).

    Example: veil keys events --keyset output
    """
    ws, km = _manager(workspace)
    with ws:
        events = list(km.events(keyset, limit))
    if as_json:
        print_json(events, default=str)
        return
    for ev in events:
        print(json.dumps(ev, default=str))


# -- key epochs (subject keys; veil.keys.epochs) -------------------------------------------------
EpochPolicyOpt = Annotated[
    str | None,
    typer.Option("--policy", "-p", help="Policy YAML file (or 'sample') whose keys: "
                 "{epoch_rotation, backup_retention} apply. Without it the epoch rotates now "
                 "and retired epochs are kept."),
]


def _schedule(policy: str | None):  # type: ignore[no-untyped-def]
    from veil.keys.epochs import EpochSchedule

    if policy is None:
        return EpochSchedule()
    from veil.policy import load_policy

    return EpochSchedule.from_policy(load_policy(policy))


def _day(t: Any) -> str:
    return "-" if t is None else t.strftime("%Y-%m-%d %H:%M UTC")


def _iso(t: Any) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


@keys_app.command("rotate-epoch")
def keys_rotate_epoch(
    policy: EpochPolicyOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rotate even if the epoch is not "
                                        "due yet.")] = False,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Rotate the key epoch when the policy says it is due: a new epoch key, every live subject
    key rewrapped under it, the old epoch retired; then destroy the retired epochs whose
    backup retention has passed (backups taken while they were current stop decrypting erased
    subjects). Safe to run daily: it does only what is due.

    Example: veil keys rotate-epoch --policy policy.yaml
    """
    schedule = _schedule(policy)
    ws, km = _manager(workspace)
    with ws:
        done = km.rotate_epoch(schedule, force=force)
    if as_json:
        print_json(done.to_dict())
        return
    if done.rotated:
        console.print(f"Epoch [bold]{done.current}[/] is current: {done.subject_keys:,} subject "
                      f"key(s) rewrapped; retired epoch(s) {', '.join(map(str, done.retired))}")
    else:
        console.print(f"Epoch {done.current} stays current ({escape(done.reason)})")
    if done.destroyed:
        console.print(f"Destroyed epoch(s) {', '.join(map(str, done.destroyed))}: their backup "
                      "retention had passed")
    if schedule.retention is None:
        console.print("No backup retention (policy keys.backup_retention): retired epochs are "
                      "kept, so backups stay readable with the KEK and keys/epochs/.")
    if done.next_due is not None:
        console.print(f"Next rotation due {_day(done.next_due)}")


@keys_app.command("epochs")
def keys_epochs(
    policy: EpochPolicyOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List the key epochs with their dates, live subject keys and (with --policy) when each
    is due to retire or to be destroyed. Needs no KEK.

    Example: veil keys epochs --policy policy.yaml
    """
    from veil.keys.epoch_files import epoch_file_ids

    schedule = _schedule(policy)
    ws, km = _manager(workspace)
    with ws:
        ep = km.epochs()
        rows = ep.history()
        live = ep.live_keys()
        files = epoch_file_ids(ws.root)
    out = [{**e.to_dict(), "subject_keys": live.get(e.id, 0), "key_file": e.id in files,
            "retire_due": _iso(schedule.retire_due(e)) if e.status == "current" else None,
            "destroy_due": _iso(schedule.destroy_due(e)) if e.status == "retired" else None}
           for e in rows]
    if as_json:
        print_json({"epochs": out, "kek_wrapped_subject_keys": live.get(None, 0),
                    **schedule.to_dict()})
        return
    if not rows:
        console.print("No key epochs yet: the first subject key makes epoch 1.")
        return
    t = Table("epoch", "status", "created", "retired", "destroyed", "subject keys", "key file",
              "due")
    for e, o in zip(rows, out, strict=True):
        due = (f"retire {_day(schedule.retire_due(e))}" if o["retire_due"] else
               f"destroy {_day(schedule.destroy_due(e))}" if o["destroy_due"] else "-")
        t.add_row(str(e.id), e.status, _day(e.created_at), _day(e.retired_at),
                  _day(e.destroyed_at), f"{o['subject_keys']:,}",
                  "present" if o["key_file"] else "-", due)
    console.print(t)
    if live.get(None):
        console.print(f"{live[None]:,} subject key(s) still wrapped directly under the KEK: "
                      "`veil keys rotate-epoch` moves them into an epoch.")


# -- encrypt / decrypt ----------------------------------------------------------------------------
KeysetOpt = Annotated[
    str | None,
    typer.Option("--keyset", "-k", help="Streaming keyset (default: 'output'; for decrypt, the "
                 "one the file's receipt names)."),
]
AdOpt = Annotated[
    str | None,
    typer.Option("--associated-data", "-a", help="Context bound to the file (UTF-8 text); "
                 "decrypt needs the same. Default: empty (decrypt: what the receipt records)."),
]


def encrypt_cmd(
    input: Annotated[Path, typer.Argument(help="File to encrypt.")],
    output: Annotated[Path, typer.Argument(help="Ciphertext to write (appears only when "
                                           "complete).")],
    keyset: KeysetOpt = None,
    associated_data: AdOpt = None,
    actor: KeyUserOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Encrypt a file in Tink's AES-GCM-HKDF streaming format (1 MiB segments), readable by
    official Tink (Java, Go, Python, C++) with the keyset.

    Example: veil encrypt report.csv report.csv.enc --associated-data "export:2026-11"
    """
    from veil.keys.workspace_files import encrypt_workspace_file

    used = encrypt_workspace_file(input, output, keyset=keyset, associated_data=associated_data,
                                  workspace=workspace, passphrase=_passphrase(), actor=actor)
    if as_json:
        print_json({"input": str(input), "output": str(output), "keyset": used.keyset,
                    "key_id": used.key_id, "bytes": output.stat().st_size})
        return
    console.print(f"Encrypted {escape(str(input))} -> {escape(str(output))} (keyset "
                  f"{escape(used.keyset)}, key {used.key_id}, {output.stat().st_size:,} bytes)")


def decrypt_cmd(
    input: Annotated[Path, typer.Argument(help="Ciphertext (from veil encrypt, a run's output, or "
                                          "any Tink streaming AEAD writer).")],
    output: Annotated[Path, typer.Argument(help="Plaintext to write (only once every segment "
                                           "has been verified).")],
    keyset: KeysetOpt = None,
    associated_data: AdOpt = None,
    actor: KeyUserOpt = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Decrypt a Tink AES-GCM-HKDF streaming file. Nothing is written unless the whole file
    authenticates; a run's output finds its keyset and associated data in its receipt.

    Example: veil decrypt credit.parquet credit.plain.parquet
    """
    from veil.keys.workspace_files import decrypt_workspace_file, decrypt_workspace_parts

    if input.is_dir():  # a Spark run's parts folder: one plain Parquet file, every part verified
        n = decrypt_workspace_parts(input, output, workspace=workspace,
                                    passphrase=_passphrase(), actor=actor)
        if as_json:
            print_json({"input": str(input), "output": str(output), "rows": n,
                        "bytes": output.stat().st_size, "verified": True})
            return
        console.print(f"Decrypted {escape(str(input))} -> {escape(str(output))} ({n:,} rows, "
                      "manifest and every part verified)")
        return
    used = decrypt_workspace_file(input, output, keyset=keyset, associated_data=associated_data,
                                  workspace=workspace, passphrase=_passphrase(), actor=actor)
    if as_json:
        print_json({"input": str(input), "output": str(output), "keyset": used.keyset,
                    "key_id": used.key_id, "bytes": output.stat().st_size, "verified": True})
        return
    console.print(f"Decrypted {escape(str(input))} -> {escape(str(output))} (keyset "
                  f"{escape(used.keyset)}, {output.stat().st_size:,} bytes, every segment "
                  "verified)")


def register(app: typer.Typer) -> None:
    """Add ``keys``, ``encrypt`` and ``decrypt`` to the main app (idempotent)."""
    if not any(g.typer_instance is keys_app for g in app.registered_groups):
        app.add_typer(keys_app, name="keys")
    names = {c.name for c in app.registered_commands}
    if "encrypt" not in names:
        app.command("encrypt")(encrypt_cmd)
    if "decrypt" not in names:
        app.command("decrypt")(decrypt_cmd)
