"""`veil scan`: what personal data is in this file, table or text?

The lead registers it on the main app: ``from veil.cli import scan; scan.register(app)``.
The command calls :func:`veil.discovery.scan.scan_source` and prints its result.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from veil.cli.common import MAX_COUNT
from veil.errors import InputError

HELP = (
    "Find personal data in a CSV, Parquet, JSON-lines or text file, or a database table.\n\n"
    "For each column: the identifier types found (share of values that matched AND validated), "
    "a confidence, two masked examples, the data category and a suggested policy rule; "
    "free-text columns list the personal data embedded in them. Text files (.txt, .log, .md) "
    "list each span as line:column, type and masked value. Files up to 2 GiB are validated in "
    "full by default; larger ones are sampled (first 1,000,000 rows) unless --full. Unreadable "
    "rows are skipped and listed with their line; the scan goes on. Full identifiers are never "
    "printed.\n\n"
    "Example: veil scan transactions.csv --sample 10000 --json\n\n"
    "Example: veil scan transactions.csv --policy-draft draft.yaml\n\n"
    "Example: veil scan postgresql://127.0.0.1/bank --table customers --policy policy.yaml\n\n"
    "Example: veil scan support_notes.txt\n"
)


def _consoles() -> tuple[Console, Console]:
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160"))
    return Console(width=width), Console(stderr=True, width=None if sys.stderr.isatty() else 160)


def scan(
    input: Annotated[
        str,
        typer.Argument(
            metavar="FILE|URL",
            help="CSV, Parquet, JSON-lines or text file, or a database URL (with --table).",
        ),
    ],
    table: Annotated[
        str | None, typer.Option("--table", help="Table name for a database URL.")
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, max=MAX_COUNT,
                     help="Quick look: scan the first N rows (lines) only."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Validate every row even of a file larger than 2 GiB.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    policy_draft: Annotated[
        Path | None,
        typer.Option(
            "--policy-draft",
            metavar="OUT.yaml",
            help="Write a starter policy for the scanned dataset.",
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="Dataset id in the policy draft (default: from the file name)."
        ),
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy", "-p", help="Policy YAML file (or 'sample') whose user recognizers to add."
        ),
    ] = None,
    text_column: Annotated[
        list[str] | None,
        typer.Option(
            "--text-column", metavar="COLUMN", help="Treat COLUMN as free text (repeatable)."
        ),
    ] = None,
    max_cell_chars: Annotated[
        int,
        typer.Option(
            "--max-cell-chars",
            min=16,
            max=1_000_000_000,
            help="Longer cells (text lines) are scanned up to this length.",
        ),
    ] = 10_000,
    text_sample: Annotated[
        int,
        typer.Option(
            "--text-sample",
            min=0,
            max=MAX_COUNT,
            help="Distinct values of each free-text column to scan (0: all).",
        ),
    ] = 10_000,
    format: Annotated[
        str | None,
        typer.Option("--format", help="csv, parquet, jsonl or text (default: from the file)."),
    ] = None,
    delimiter: Annotated[str, typer.Option(help="CSV field delimiter.")] = ",",
    quote_char: Annotated[str, typer.Option(help="CSV quote character.")] = '"',
    encoding: Annotated[str, typer.Option(help="Text encoding of CSV and text files.")] = "utf-8",
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Record the scan in this workspace's audit log "
                     "(default: the workspace found from the current folder, if any)."),
    ] = None,
) -> None:
    """Find personal data in a file or database table (masked output only)."""
    from veil.discovery.report import render, to_json
    from veil.discovery.scan import SourceScan, scan_source
    from veil.io.readers import CsvOptions

    out, err = _consoles()
    if len(delimiter) != 1 or len(quote_char) != 1:
        raise InputError("--delimiter and --quote-char take one character each")
    if format is not None and format.lower() not in ("csv", "parquet", "jsonl", "text"):
        raise InputError(f"unknown --format '{format}' (use csv, parquet, jsonl or text)")
    try:
        "x".encode(encoding)
    except LookupError:
        raise InputError(f"unknown encoding '{encoding}'") from None
    if policy_draft is not None and policy_draft.exists():
        raise InputError(
            "already exists: choose another name or remove it", where=str(policy_draft)
        )
    pol = None
    if policy is not None:
        from veil.policy import load_policy

        pol = load_policy(policy)
    progress, stop = _progress(err)
    try:
        result = scan_source(
            input,
            table=table,
            format=format,
            sample=sample,
            full=full,
            text_columns=text_column or (),
            max_cell_chars=max_cell_chars,
            text_sample=text_sample or None,
            policy=pol,
            csv_options=CsvOptions(delimiter, quote_char, encoding),
            progress=progress,
        )
    finally:
        stop()
    if policy_draft is not None:
        if not isinstance(result, SourceScan):
            raise InputError(
                "--policy-draft needs a table (CSV, Parquet, JSON lines or a "
                "database table), not a text file"
            )
        from veil.discovery.policy_draft import write_policy_draft

        write_policy_draft(
            result,
            policy_draft,
            dataset=dataset,
            recognizers=pol.recognizers if pol is not None else (),
        )
    if as_json:
        print(to_json(result))
    else:
        render(result, out)
    _audit_scan(result, workspace)
    if policy_draft is not None:
        err.print(
            f"Wrote a starter policy to {policy_draft}: fill in the controller and the "
            "purpose, then check it with `veil policy check`",
            highlight=False,
        )


def _audit_scan(result: Any, workspace: Path | None) -> None:
    """Inside a workspace, a scan is a processing operation too: the library records it."""
    from veil.discovery.scan import record_scan
    from veil.errors import StoreError
    from veil.store.workspace import Workspace

    try:
        ws = Workspace.find(workspace).ready()
    except StoreError:
        if workspace is not None:
            raise
        return  # scanning outside a workspace records nothing
    with ws:
        record_scan(ws, result)


def _progress(err: Console):  # type: ignore[no-untyped-def]
    """A transient progress bar on stderr while a file is read (only on a terminal)."""
    if not err.is_terminal:
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    prog = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )
    task = prog.add_task("scanning", total=None)
    prog.start()

    def update(position: int, size: int | None) -> None:
        prog.update(task, completed=position, total=size)

    return update, prog.stop


def register(app: typer.Typer) -> None:
    """Add the top-level `scan` command to ``app``."""
    app.command("scan", help=HELP)(scan)
