"""`veil`: every command calls one library function and prints its result.

Errors a user can fix print one line on stderr and exit with a documented code
(`veil --help` lists them); only a bug prints more, and only with VEIL_DEBUG=1.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

import veil
from veil._lazy import pandas_deferred
from veil.cli.common import (
    MAX_LIMIT,
    DelimiterOpt,
    EncodingOpt,
    InputFormatOpt,
    JsonOnlyOpt,
    JsonOpt,
    PolicyOpt,
    QuoteCharOpt,
    WorkspaceOpt,
    console,
    csv_options,
    err_console,
    print_error,
    print_json,
)
from veil.cli.lazy import LazyCommand, LazyGroup
from veil.errors import EXIT_CODES, InputError, VeilError


def _new_app(**settings: Any) -> typer.Typer:
    """A Typer app with the settings of `veil` (the main app, or one that builds the commands
    of a module the way the main app would)."""
    return typer.Typer(rich_markup_mode="markdown", pretty_exceptions_enable=False,
                       add_completion=False, **settings)


class VeilGroup(LazyGroup):
    """The `veil` group: other modules' commands are imported when used (`LAZY_COMMANDS`)."""

    new_app = staticmethod(_new_app)


EXIT_HELP = "Exit codes: " + "; ".join(f"{k} {v}" for k, v in EXIT_CODES.items()) + "."

app = _new_app(
    name="veil",
    cls=VeilGroup,
    help="Veil: GDPR-compliant data pipelines for financial AI.\n\n"
    "Start with `veil init`, then `veil run`. Example:\n\n"
    "    veil init demo && cd demo && veil sample --rows 10000 -o tx.csv\n\n"
    "    veil run --policy sample --purpose credit_scoring tx.csv -o tx.parquet\n\n"
    + EXIT_HELP,
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

def _version(value: bool) -> None:
    if value:
        console.print(f"veil {veil.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Veil: GDPR-compliant data pipelines for financial AI."""


# -- init / db -----------------------------------------------------------------------------
@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the workspace.")] = Path("."),
) -> None:
    """Create a workspace (veil.toml + SQLite store) in DIRECTORY, or upgrade an existing one.

    Example: veil init demo
    """
    from veil.store.workspace import init_workspace

    ws, created = init_workspace(directory)
    verb = "Created" if created else "Upgraded"
    console.print(f"{verb} workspace [bold]{ws.root}[/] (store: {_safe_url(ws.database_url)})")
    ws.close()


db_app = typer.Typer(help="Database schema: show or upgrade the store's migrations.",
                     no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Migrate the workspace's database to the newest schema (SQLite or VEIL_DATABASE_URL).

    Example: VEIL_DATABASE_URL=postgresql://postgres@127.0.0.1/test veil db upgrade
    """
    from veil.store import db
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        rev = db.upgrade(ws.engine)
        url = _safe_url(ws.database_url)
    if as_json:
        print_json({"database": url, "revision": rev, "head": rev, "up_to_date": True})
        return
    console.print(f"Database {url} is at revision {rev} (head)")


@db_app.command("current")
def db_current(workspace: WorkspaceOpt = None, as_json: JsonOpt = False) -> None:
    """Show the database's schema revision and the newest one this Veil knows.

    Example: veil db current --json
    """
    from veil.store import db
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        cur, head = db.current_revision(ws.engine), db.head_revision()
        url = _safe_url(ws.database_url)
    if as_json:
        print_json({"database": url, "revision": cur, "head": head, "up_to_date": cur == head})
        return
    state = "up to date" if cur == head else "needs `veil db upgrade`"
    console.print(f"{url}: revision {cur or 'none'} (head {head}, {state})")


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.make_url(url).render_as_string(hide_password=True)


# -- policy --------------------------------------------------------------------------------
def _workspace_if_any(explicit: Path | None):  # type: ignore[no-untyped-def]
    """The workspace named or found here, ready; None outside one (only when not named)."""
    from veil.errors import StoreError
    from veil.store.workspace import Workspace

    if explicit is not None:
        return Workspace.find(explicit).ready()
    try:
        ws = Workspace.find()
    except StoreError:
        return None
    return ws.ready()


policy_app = typer.Typer(help="Policy files: validate and summarize.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


@policy_app.command("check")
def policy_check(
    file: Annotated[str, typer.Argument(help="Policy YAML file, or 'sample'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Validate a policy file and summarize its datasets and purposes.

    Fails, naming file:line and the key, on a malformed policy and on what the law forbids
    (Art. 9 data without an Art. 9(2) condition, Art. 10 data without an authorisation,
    transfers without a Chapter V ground, automated decisions without an Art. 22 basis,
    safeguards, overseers or six months of logs). Inside a workspace, a consent purpose without
    a notice fails too. Warns when a purpose meets two or more EDPB high-risk criteria and
    names no DPIA. Example: veil policy check policy.yaml
    """
    from veil.errors import PolicyError
    from veil.pipeline.policy_check import check_policy, policy_findings, summarize_policy

    try:
        pol = check_policy(file)
    except PolicyError as exc:
        _raise_each(list(exc.problems))
        raise
    findings = policy_findings(pol, _workspace_if_any(workspace))
    _raise_each([PolicyError(f"{f.key()}: {f.message} [{f.article}]", where=pol.locate(*f.path))
                 for f in findings if f.severity == "error"])
    if as_json:
        print_json(summarize_policy(pol, findings), ensure_ascii=True)
        return
    console.print(f"[green]OK[/] {pol.source}: controller {pol.controller.name}, "
                  f"{len(pol.datasets)} dataset(s), {len(pol.purposes)} purpose(s)")
    for f in findings:
        err_console.print(f"veil: warning: {f.line(pol)}", markup=False, highlight=False,
                          soft_wrap=True)
    t = Table("purpose", "legal basis", "consent", "retention", "fields used")
    for p, pu in pol.purposes.items():
        t.add_row(p, pu.legal_basis_text, "yes" if pu.needs_consent else "no", pu.retention,
                  ", ".join(f for u in pu.datasets.values() for f in u.fields))
    console.print(t)


def policy_path(name: str) -> Path:
    """`veil.policy.policy_path`, imported when a command needs it (the policy models cost
    about 0.15 s to import, which `veil --help` need not pay)."""
    from veil.policy import policy_path as path_of

    return path_of(name)


def _raise_each(problems: list[VeilError]) -> None:
    """Every problem gets its own line; the last one is raised and sets the exit code."""
    for e in problems[:-1]:
        print_error(e)
    if problems:
        raise problems[-1]


# -- run -----------------------------------------------------------------------------------
@app.command()
def run(
    input: Annotated[str, typer.Argument(help="CSV, Parquet or JSON-lines file, or a database "
                                              "URL (with --table).")],
    policy: PolicyOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose id from the policy.")],
    output: Annotated[str, typer.Option("--output", "-o", help="Output: a Parquet file, an "
                                        "object-store URI (s3://bucket/key.parquet, or a "
                                        "folder ending in /) or a Delta table (delta://PATH, "
                                        "or a Delta table's folder).")],
    dataset: Annotated[str | None, typer.Option(help="Dataset id (default: the purpose's "
                                                        "only dataset).")] = None,
    table: Annotated[str | None, typer.Option(help="Table name for a database input.")] = None,
    format: InputFormatOpt = None,
    delimiter: DelimiterOpt = ",",
    quote_char: QuoteCharOpt = '"',
    encoding: EncodingOpt = "utf-8",
    receipt: Annotated[str | None, typer.Option(help="Receipt file or URI (default: "
                                                   "OUTPUT.receipt.json).")] = None,
    rejects: Annotated[str | None, typer.Option(help="Rejects file or URI for quarantined rows"
                                                   " (default: OUTPUT.rejects.jsonl).")] = None,
    actor: Annotated[str | None, typer.Option(help="Who runs this (default: VEIL_ACTOR or "
                                                 "the OS user).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the receipt as JSON.")] = False,
    engine: Annotated[str, typer.Option(help="Where the stages run: local (this process) or "
                                             "spark (the active Spark cluster, or local[*]; "
                                             "needs the 'spark' extra).")] = "local",
    parts: Annotated[bool, typer.Option("--parts", help="With --engine spark: OUTPUT is a "
                                        "folder of Parquet parts, one per Spark task, written "
                                        "(and encrypted) by the executors, with a manifest.")
                     ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing OUTPUT "
                                            "(recorded: an audit event, and the old output's "
                                            "lineage and retention say which run replaced "
                                            "it). Without it an existing OUTPUT is refused.")
                         ] = False,
    workers: Annotated[int, typer.Option("--workers", min=1, max=os.cpu_count() or 1,
                                         help="Processes that run the stages "
                                         "(local engine; 1 to the machine's CPUs). The output "
                                         "is the same whatever the number.")] = 1,
    workspace: WorkspaceOpt = None,
) -> None:
    """Run a purpose of a policy over INPUT: keep only what the purpose needs, write Parquet and
    a receipt.

    Example: veil run --policy sample --purpose credit_scoring tx.csv -o credit.parquet

    On Spark: veil run --engine spark --policy sample --purpose credit_scoring tx.csv -o out.parquet

    Parts written by the executors: veil run --engine spark --parts ... -o credit.parts

    Again over an earlier output: veil run --overwrite -p sample --purpose credit_scoring tx.csv
    -o credit.parquet

    On every core: veil run --workers 2 -p sample --purpose credit_scoring tx.csv -o credit.parquet

    To an object store: veil run -p sample --purpose credit_scoring tx.csv -o s3://bucket/credit.parquet

    To a Delta table: veil run -p sample --purpose credit_scoring tx.csv -o delta://lake/credit
    """
    from veil.pipeline.run import RunResult
    from veil.pipeline.run import run as run_fn

    csv = csv_options(delimiter, quote_char, encoding)
    if engine not in ("local", "spark"):
        raise InputError(f"unknown --engine '{engine[:40]}' (local or spark)")
    if parts and engine != "spark":
        raise InputError("--parts needs --engine spark (the executors write the parts)")
    if workers != 1 and engine != "local":
        raise InputError("--workers is for the local engine (Spark sizes its own executors)")
    result: RunResult
    if engine == "spark":
        from veil.spark.engine import run as spark_run

        result = spark_run(input, policy_path(policy), purpose, output, dataset=dataset,
                           workspace=workspace, receipt=receipt, rejects=rejects,
                           csv_options=csv,
                           input_format=format, table=table, actor=actor, parts=parts,
                           overwrite=overwrite)
    else:
        progress_cb, stop = _progress()
        try:
            result = run_fn(policy_path(policy), purpose, input, output, dataset=dataset,
                            workspace=workspace, receipt=receipt, rejects=rejects,
                            csv_options=csv,
                            input_format=format, table=table, actor=actor,
                            progress=progress_cb, overwrite=overwrite, workers=workers)
        finally:
            stop()
    if as_json:
        print_json(result.receipt)
        return
    _print_receipt(result.receipt, result.receipt_path)


def _progress():  # type: ignore[no-untyped-def]
    """A Rich progress bar on stderr for long runs (only on a terminal)."""
    if not err_console.is_terminal:
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    prog = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TimeRemainingColumn(), console=err_console, transient=True)
    task = prog.add_task("reading", total=None)
    prog.start()

    def update(position: int, size: int | None) -> None:
        prog.update(task, completed=position, total=size)

    return update, prog.stop


def _print_receipt(r: dict, path: Path) -> None:
    rows = r["rows"]
    console.print(f"[green]Run {r['run_id'][:12]} succeeded[/]: purpose [bold]"
                  f"{r['purpose']['id']}[/] ({r['purpose']['legal_basis_text']}), dataset "
                  f"{r['dataset']}")
    t = Table(show_header=False, box=None, pad_edge=False)
    t.add_row("rows", f"{rows['in']:,} in -> {rows['out']:,} out"
              + "".join(f"; {n:,} {why}" for why, n in rows["dropped"].items()))
    t.add_row("kept", ", ".join(r["fields"]["kept"]) or "-")
    if r["fields"]["transformed"]:
        t.add_row("transformed", ", ".join(f"{k} ({v['transform']})"
                                           for k, v in r["fields"]["transformed"].items()))
    t.add_row("dropped", ", ".join(d["field"] for d in r["fields"]["dropped"]) or "-")
    t.add_row("input", f"{r['input']['ref']} sha256:{(r['input']['sha256'] or '')[:16]}…")
    t.add_row("output", f"{r['output']['path']} sha256:{r['output']['sha256'][:16]}…")
    t.add_row("policy", f"{r['policy']['path']} sha256:{r['policy']['sha256'][:16]}…")
    tm = r["timings_seconds"]
    t.add_row("time", f"{tm['total']:.2f} s ({tm['rows_per_second'] or 0:,} rows/s)")
    if r.get("rejects"):
        t.add_row("rejects", f"{r['rejects']['count']:,} rows quarantined to "
                  f"{r['rejects']['path']}")
    for w in r.get("warnings", []):
        t.add_row("warning", w)
    if r.get("audit"):
        a = r["audit"]
        t.add_row("audit", f"events {a['first_index']}..{a['last_index']} in log {a['origin']}, "
                  f"signed head size {a['tree_size']} root {a['root'][:16]}…")
    t.add_row("receipt", str(path))
    console.print(t)


# -- runs ----------------------------------------------------------------------------------
runs_app = typer.Typer(help="Past runs recorded in the store.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(min=1, max=MAX_LIMIT, help="How many, newest first.")
                     ] = 20,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """List recent runs, newest first.

    Example: veil runs list --limit 5 --json
    """
    from veil.pipeline.history import list_runs
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        rows = list_runs(ws.ready(), limit)
    if as_json:
        print_json(rows, default=str)
        return
    t = Table("run", "started (UTC)", "status", "purpose", "rows in", "rows out", "output")
    for r in rows:
        t.add_row(r["id"][:12], r["started_at"][:19], r["status"], r["purpose"],
                  _n(r["rows_in"]), _n(r["rows_out"]), r["output_ref"])
    console.print(t)


def _n(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="Run id (or a unique prefix).")],
    as_json: JsonOnlyOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Print one run's record and receipt as JSON.

    Example: veil runs show 3f2a9c
    """
    from veil.pipeline.history import get_run
    from veil.store.workspace import Workspace

    with Workspace.find(workspace) as ws:
        print_json(get_run(ws.ready(), run_id))


# -- sample --------------------------------------------------------------------------------
@app.command()
def sample(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (.csv, .parquet "
                                         "or .jsonl).")],
    rows: Annotated[int, typer.Option(min=0, max=1_000_000_000, help="Number of rows.")
                    ] = 10_000,
    seed: Annotated[int, typer.Option(min=0, max=2**63 - 1,
                                      help="Random seed (same seed, same data).")] = 0,
    labels: Annotated[Path | None, typer.Option(help="Also write the personal-data spans of "
                                                   "each memo (JSON lines).")] = None,
    consents: Annotated[Path | None, typer.Option(help="Also write consent records (CSV) for "
                                                  "the sample's customers, for "
                                                  "`veil consent import`.")] = None,
) -> None:
    """Write a realistic synthetic customer/transaction table (names, IBANs, cards, national
    IDs, memos with personal data) for trying Veil.

    Example: veil sample --rows 100000 --seed 7 -o transactions.csv --consents consents.csv
    """
    from veil.sample import write_sample

    n = write_sample(output, rows, seed=seed, labels_path=labels)
    console.print(f"Wrote {n:,} synthetic rows to {output}"
                  + (f" (memo labels: {labels})" if labels else ""))
    if consents is not None:
        from veil.consent.sample import write_sample_consents

        count = write_sample_consents(output, consents, seed=seed)
        console.print(f"Wrote {count:,} consent records to {consents}")


# -- ropa ----------------------------------------------------------------------------------
@app.command()
def ropa(
    policy: PolicyOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for ropa.md and "
                                         "ropa.json.")] = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help="Also print the records (what "
                                          "ropa.json holds) on stdout.")] = False,
) -> None:
    """Write the Art. 30(1) records of processing for every purpose (Markdown and JSON).

    Items the policy lacks are marked MISSING, never left out. Example: veil ropa -p sample
    """
    from veil.policy import load_policy
    from veil.ropa import write_ropa

    md, js, rec = write_ropa(load_policy(policy), output)
    if as_json:
        print_json(rec)
        return
    console.print(f"Wrote records of processing for {len(rec['records'])} purpose(s): {md}, {js}")
    if rec["missing"]:
        err_console.print("[yellow]Missing items:[/] " + "; ".join(rec["missing"]))


# -- the other layers' commands -----------------------------------------------------------
def _lazy(module: str, attr: str = "register", group: bool = False,
          help: str = "") -> LazyCommand:  # noqa: A002 - the word --help lists
    return LazyCommand(f"veil.cli.{module}", attr, help, group)


#: The commands other modules add, imported when one of them runs; each with the first
#: paragraph of its help (tests/cli/test_startup_lazy_commands.py checks it against the module).
LAZY_COMMANDS: dict[str, LazyCommand] = {
    "encrypt": _lazy("keys", help="Encrypt a file in Tink's AES-GCM-HKDF streaming format "
                     "(1 MiB segments), readable by official Tink (Java, Go, Python, C++) with the "
                     "keyset."),
    "decrypt": _lazy("keys", help="Decrypt a Tink AES-GCM-HKDF streaming file. Nothing is "
                     "written unless the whole file authenticates; a run's output finds its "
                     "keyset and associated data in its receipt."),
    "risk": _lazy("risk", help="Measure the re-identification risk of FILE: k-anonymity, class "
                  "sizes, uniqueness, prosecutor risk, records at risk, l-diversity, t-closeness "
                  "and beta-likeness of sensitive attributes, the riskiest classes (masked) and "
                  "which quasi-identifier makes records unique; with --sampling-fraction, "
                  "population uniqueness and journalist and marketer risk; with --population, "
                  "delta-presence."),
    "anonymize": _lazy("risk", help="Write the optimal full-domain generalization of FILE to "
                       "OUTPUT: the least information loss that meets the privacy models, with "
                       "at most --suppression of the records removed. A quasi-identifier "
                       "without --hierarchy is kept or replaced by '*' as a whole."),
    "scan": _lazy("scan", help="Find personal data in a CSV, Parquet, JSON-lines or text file, "
                  "or a database table."),
    "reidentify": _lazy("transforms", help="Turn tokens back into the original values "
                        "(authorized callers only; recorded)."),
    "transforms": _lazy("transforms", help="List the transforms a policy can name, each with an "
                        "example treatment."),
    "serve": _lazy("service", help="Run the compliance service (REST API) over the workspace "
                   "until stopped."),
    "dpia": _lazy("dpia", help="Draft the DPIA (Art. 35) of a purpose, as Markdown and JSON, and "
                  "record it in the audit log."),
    "ui": _lazy("ui", help="Open the DPO's pages on this machine: serve them on 127.0.0.1 and "
                "print a one-time login link (used once, valid 15 minutes; run the command "
                "again for a new one)."),
    "doctor": _lazy("doctor", help="Check the workspace for what a crash or an outage left "
                    "behind: runs whose process is gone, leftover temporary files beside "
                    "outputs, data-subject requests held by dead runs, audit and recipient "
                    "outbox backlogs, retention disposals stopped part-way."),
    "audit": _lazy("audit", "audit_app", True, "The tamper-evident audit log: list, prove, "
                   "verify, checkpoint, export and forward events."),
    "consent": _lazy("consent", "consent_app", True, "The consent ledger: record, withdraw, "
                     "check and prove consent per purpose."),
    "keys": _lazy("keys", group=True, help="Keys: the key-encryption key (KEK) and the keysets "
                  "wrapped under it in the store."),
    "dsr": _lazy("dsr", group=True, help="Data-subject requests (GDPR Art. 15-21) with due "
                 "dates, recorded steps, packages and erasure certificates."),
    "lineage": _lazy("lineage", group=True, help="Lineage: the subjects in each run output, and "
                     "the models trained on outputs."),
    "breach": _lazy("breach", group=True, help="Personal data breaches (Art. 33-34 GDPR): "
                    "record, scope from evidence, the 72-hour clock, risk assessment, "
                    "notification drafts and the breach register."),
    "apikey": _lazy("service", group=True, help="API keys of the compliance service: create "
                    "(the secret is shown once), list, revoke."),
    "decisions": _lazy("decisions", group=True, help="Decisions: the ledger of a credit model's "
                       "decisions about people, their review and contest."),
    "retention": _lazy("retention", group=True, help="Retention (Art. 5(1)(e)): run outputs' "
                       "expiry, the sweep that deletes expired outputs and destroys their keys, "
                       "legal holds."),
    "spark": _lazy("spark_package", group=True, help="Spark: ship Veil to a cluster's "
                   "executors; apply a purpose to a stream."),
    "stream": _lazy("stream", help="Apply a purpose to the events of a NATS JetStream "
                    "stream, micro-batch by micro-batch."),
    "recipients": _lazy("recipients", group=True, help="Recipients and processors (Art. 19, 28) "
                        "and the Art. 19 notices sent to them."),
}
VeilGroup.lazy = LAZY_COMMANDS


# -- entry point ---------------------------------------------------------------------------
@functools.cache
def _command() -> typer.core.TyperGroup:
    """The click command of the app, built once: building it costs more than most commands
    (what `app(...)` would do on every call in a process that runs many, like the tests)."""
    return typer.main.get_command(app)  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    """Console entry point: maps errors to one line and a documented exit code."""
    try:
        with pandas_deferred():  # a command that never uses pandas never imports it
            rv = _command()(args=argv, standalone_mode=False)
        if rv == 130:  # Typer turns Ctrl-C into Exit(130) and, not standalone, returns the code
            err_console.print("veil: interrupted; nothing was published")
            return 130
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:  # typer.Exit(code), returned
            return rv
    except VeilError as exc:
        print_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            err_console.print(f"veil: {exc}", markup=False)
        return 2
    except typer.Abort:
        err_console.print("veil: aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("veil: interrupted; nothing was published")
        return 130
    except Exception as exc:  # a bug: say so briefly, show the traceback only on request
        if os.environ.get("VEIL_DEBUG"):
            raise
        err_console.print(f"veil: internal error: {type(exc).__name__}: {exc} "
                          "(set VEIL_DEBUG=1 for the traceback and please report it)",
                          markup=False, highlight=False, soft_wrap=True)
        return 1
    return 0


def entry() -> None:
    sys.exit(main())
