"""What every `veil` command shares: the consoles, the common options, JSON output and the
one-line error.

One place, so a flag reads the same in every command's --help and means the same thing, and a
command module holds only its own commands.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from veil.errors import InputError, VeilError

if TYPE_CHECKING:
    from veil.io.readers import CsvOptions


def stdout_console() -> Console:
    """A console on stdout sized now: pipes and logs get wide lines (COLUMNS, else 160; no
    truncated tables), terminals use their own width."""
    return Console(width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160")))


console = stdout_console()
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

# -- options shared by several commands --------------------------------------------------------
def recover_on_open(value: Path | None) -> Path | None:
    """Every command that opens a workspace first recovers the runs whose holder is gone
    (`veil.pipeline.recovery`: one query when none is); it never stops the command."""
    try:
        from veil.pipeline.recovery import recover_stale_runs
        from veil.store.workspace import Workspace

        with Workspace.find(value) as ws:
            done = recover_stale_runs(ws)
    except Exception:  # noqa: BLE001 - the command reports the workspace's problems itself
        return value
    for r in done:
        err_console.print(f"veil: recovered {r.line()}", markup=False, highlight=False,
                          soft_wrap=True)
    return value


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: VEIL_WORKSPACE or the "
                 "nearest folder up with veil.toml).", callback=recover_on_open),
]
#: The same option without recovery on open (`veil doctor` reports before it repairs).
InspectWorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace folder (default: VEIL_WORKSPACE or the "
                 "nearest folder up with veil.toml)."),
]
PolicyOpt = Annotated[str, typer.Option("--policy", "-p", help="Policy YAML file, or 'sample'.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
#: The shorter wording of --json that the dsr, lineage and transforms commands show.
JsonBriefOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
#: --json of a command that prints JSON anyway: accepted, so every command that shows data
#: takes --json.
JsonOnlyOpt = Annotated[bool, typer.Option("--json", help="JSON (its only form; accepted like "
                                           "in every command that shows data).")]
#: The person on whose behalf a recorded disclosure happens (reidentify, dsr decrypt): required.
RecordedActorOpt = Annotated[str, typer.Option("--actor", envvar="VEIL_ACTOR",
                                               help="Who asks (recorded).")]
InputFormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="Input format: csv, parquet, jsonl (default: from the suffix)."),
]
DelimiterOpt = Annotated[str, typer.Option(help="CSV field delimiter.")]
QuoteCharOpt = Annotated[str, typer.Option(help="CSV quote character.")]
EncodingOpt = Annotated[str, typer.Option(help="CSV text encoding.")]

#: The most rows a listing shows (--limit): more is a typing mistake, and says this bound.
MAX_LIMIT = 1_000_000
#: The largest count a user may type (rows, records, subjects, resamples ...).
MAX_COUNT = 1_000_000_000_000
#: The largest seed, and the largest audit index or tree size (a signed 64-bit number).
MAX_SEED = MAX_INDEX = 2**63 - 1


def csv_options(delimiter: str, quote_char: str, encoding: str,
                error: type[VeilError] = InputError) -> CsvOptions:
    """The CSV dialect of --delimiter/--quote-char/--encoding; `error` is the family the
    command reports a bad one in (its exit code)."""
    from veil.io.readers import CsvOptions

    if len(delimiter) != 1 or len(quote_char) != 1:
        raise error("--delimiter and --quote-char take one character each")
    return CsvOptions(delimiter, quote_char, encoding)


# -- output ------------------------------------------------------------------------------------
def print_json(obj: Any, *, ensure_ascii: bool = False,
               default: Callable[[Any], Any] | None = None) -> None:
    """Plain stdout (no Rich markup or wrapping), indented, for pipes and `jq`."""
    print(json.dumps(obj, indent=2, ensure_ascii=ensure_ascii, default=default))


def print_error(exc: VeilError) -> None:
    """The one line a user's mistake gets on stderr: ``veil: <kind>: <message>``."""
    # the message may hold user text such as "[/x]": never read it as Rich markup
    err_console.print(f"[red]veil: {exc.kind}:[/] {escape(str(exc))}", markup=True,
                      highlight=False, soft_wrap=True)
