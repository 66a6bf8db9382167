"""`veil stream`: a purpose applied to a NATS JetStream stream, micro-batch by micro-batch.

Registered lazily by `veil.cli.main.LAZY_COMMANDS` (``register(app)``); the work is
`veil.stream.consume`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from veil.cli.common import MAX_COUNT, PolicyOpt, WorkspaceOpt, console

HELP = (
    "Apply a purpose to the events of a NATS JetStream stream, micro-batch by micro-batch.\n\n"
    "SOURCE is nats://HOST:PORT/STREAM[/SUBJECT]; each event is one JSON object. A durable "
    "pull consumer hands out up to --batch-size events; each micro-batch runs through the "
    "same stages as `veil run` (consent, minimization, transforms, encryption at rest) and is "
    "written to OUTPUT/batch-FIRST-LAST.parquet with its receipt (named by the first and "
    "last stream sequence), then sent to --publish (one JSON message per event), and only then "
    "acknowledged. Delivery is at least once; a redelivered event already in OUTPUT is "
    "acknowledged, not written again. A bad event (a missing field, a wrong type) stops the "
    "stream with one line naming the stream and sequence; nothing of its micro-batch is "
    "published (a dataset with on_bad_rows: quarantine sets it aside instead).\n\n"
    "Example: veil stream nats://127.0.0.1:4222/ORDERS/orders.new -p policy.yaml "
    "--purpose fraud -o fraud-out --publish fraud.minimized\n\n"
    "Example: veil stream nats://127.0.0.1:4222/ORDERS -p policy.yaml --purpose fraud "
    "-o fraud-out --idle-exit 5\n"
)


def stream(
    source: Annotated[str, typer.Argument(metavar="SOURCE",
                                          help="nats://HOST:PORT/STREAM[/SUBJECT]")],
    policy: PolicyOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose id from the policy.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: one Parquet "
                                         "file and receipt per micro-batch.")],
    dataset: Annotated[str | None, typer.Option(help="Dataset id (default: the purpose's "
                                                     "only dataset).")] = None,
    publish: Annotated[str | None, typer.Option(
        "--publish", help="Also publish each minimized event to this JetStream subject (a "
        "stream must capture it; its duplicate window drops re-sent events).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1_000_000,
                                            help="Most events per micro-batch.")] = 500,
    max_batches: Annotated[int | None, typer.Option(
        "--max-batches", min=1, max=MAX_COUNT,
        help="Stop after this many published micro-batches.")] = None,
    idle_exit: Annotated[float | None, typer.Option(
        "--idle-exit", min=0, max=86_400, help="Stop once no event came for this many seconds "
        "and none awaits acknowledgement (default: run until interrupted).")] = None,
    durable: Annotated[str | None, typer.Option(
        "--durable", help="Consumer name (default: one per purpose and output folder); a "
        "restart with the same name resumes after the last acknowledged event.")] = None,
    ack_wait: Annotated[float, typer.Option(
        "--ack-wait", min=0.5, max=86_400, help="Seconds before an unacknowledged event is "
        "delivered again (set when the consumer is created).")] = 30.0,
    actor: Annotated[str | None, typer.Option(help="Who runs this (default: VEIL_ACTOR or "
                                                 "the OS user).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print each micro-batch, "
                                          "then the totals, as JSON.")] = False,
    workspace: WorkspaceOpt = None,
) -> None:
    from veil.policy import policy_path
    from veil.stream import BatchResult, consume

    def report(b: BatchResult) -> None:
        if as_json:
            _line({"first": b.first, "last": b.last, "rows_in": b.rows_in,
                        "rows_out": b.rows_out, "output": str(b.output), "run_id": b.run_id,
                        "duplicates": b.duplicates})
        else:
            console.print(f"sequences {b.first}-{b.last}: {b.rows_in} in, {b.rows_out} out "
                          f"-> {b.output.name}", highlight=False)

    result = consume(source, policy_path(policy), purpose, output, dataset=dataset,
                     workspace=workspace, publish=publish, batch_size=batch_size,
                     max_batches=max_batches, idle_exit=idle_exit, durable=durable,
                     ack_wait=ack_wait, actor=actor, on_batch=report)
    if as_json:
        _line({"batches": len(result.batches), "rows_in": result.rows_in,
                    "rows_out": result.rows_out, "duplicates": result.duplicates})
    else:
        console.print(f"{len(result.batches)} micro-batches, {result.rows_in} events in, "
                      f"{result.rows_out} out, {result.duplicates} redelivered ones skipped",
                      highlight=False)


def _line(obj: dict[str, Any]) -> None:
    """One JSON object per line (a consumer reads the output as it comes)."""
    print(json.dumps(obj), flush=True)


def register(app: typer.Typer) -> None:
    """Add the top-level `stream` command to ``app``."""
    app.command("stream", help=HELP)(stream)
