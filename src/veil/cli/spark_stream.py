"""`veil spark stream`: a purpose over a Spark Structured Streaming source, one run and receipt
per micro-batch, each published once under OUTPUT/batch=NNNNNN/ (`veil.spark.stream`).

Registered on the ``spark`` group by `veil.cli.spark_package`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from veil.cli.common import (
    MAX_COUNT,
    DelimiterOpt,
    EncodingOpt,
    JsonOpt,
    PolicyOpt,
    QuoteCharOpt,
    WorkspaceOpt,
    console,
    csv_options,
    print_json,
)
from veil.errors import InputError

#: --timeout's bound: a year of seconds (a stream meant to run longer runs without one)
MAX_TIMEOUT = 366 * 86_400.0


def _options(pairs: list[str]) -> dict[str, str]:
    out = {}
    for p in pairs:
        key, sep, value = p.partition("=")
        if not sep or not key:
            raise InputError(f"--option takes KEY=VALUE, got '{p[:40]}'")
        out[key.strip()] = value
    return out


def stream_cmd(
    source: Annotated[str, typer.Argument(help="Folder of Parquet/CSV/JSON-lines files Spark "
                                               "watches (local or a URI), or 'kafka', or "
                                               "'rate' (a test source).")],
    policy: PolicyOpt,
    purpose: Annotated[str, typer.Option("--purpose", help="Purpose id from the policy.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output folder: one "
                                         "batch=NNNNNN/ per micro-batch, with its receipt.")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Checkpoint folder (Spark's "
                                             "and Veil's stream state), one per output.")],
    format: Annotated[str | None, typer.Option("--format", help="Files' format: parquet "
                                               "(default), csv, jsonl.")] = None,
    trigger: Annotated[str, typer.Option("--trigger", help="availableNow (process what is "
                                         "there, then stop) or an interval such as '30 "
                                         "seconds' (runs until stopped, --max-batches or "
                                         "--timeout).")] = "availableNow",
    option: Annotated[list[str] | None, typer.Option("--option", help="A Spark source option "
                                                     "KEY=VALUE (repeatable), e.g. "
                                                     "kafka.bootstrap.servers=host:9092.")
                      ] = None,
    schema: Annotated[str | None, typer.Option("--schema", help="Schema as DDL ('id STRING, "
                                               "amount DOUBLE'): needed for Kafka; files: "
                                               "learned from the first files.")] = None,
    max_files: Annotated[int | None, typer.Option("--max-files-per-trigger", min=1,
                                                  max=MAX_COUNT,
                                                  help="At most this many files per "
                                                  "micro-batch.")] = None,
    max_batches: Annotated[int | None, typer.Option("--max-batches", min=1,
                                                    max=MAX_COUNT, help="Stop after "
                                                    "this many micro-batches.")] = None,
    timeout: Annotated[float | None, typer.Option("--timeout", min=0.1,
                                                  max=MAX_TIMEOUT, help="Stop after this "
                                                  "many seconds.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset id (default: the purpose's "
                                                "only dataset).")] = None,
    delimiter: DelimiterOpt = ",",
    quote_char: QuoteCharOpt = '"',
    encoding: EncodingOpt = "utf-8",
    actor: Annotated[str | None, typer.Option(help="Who runs this (default: VEIL_ACTOR or "
                                              "the OS user).")] = None,
    as_json: JsonOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Apply a purpose to a Spark Structured Streaming source: per micro-batch, consent,
    minimization, transforms, an encrypted output and a receipt, published once under
    OUTPUT/batch=NNNNNN/ (a batch replayed after a crash is skipped, not written twice).

    Example: veil spark stream landing/tx/ -p sample --purpose personalised_offers
    -o offers.stream --checkpoint offers.ckpt

    Kafka: veil spark stream kafka -p policy.yaml --purpose offers -o offers.stream
    --checkpoint offers.ckpt --trigger "30 seconds" --schema "customer_id STRING, amount
    DOUBLE" --option kafka.bootstrap.servers=broker:9092 --option subscribe=transactions
    """
    from veil.cli.main import policy_path
    from veil.policy.loader import load_policy
    from veil.spark.session import session
    from veil.spark.stream_source import check_source
    from veil.spark.streaming import stream
    from veil.store.workspace import Workspace

    csv = csv_options(delimiter, quote_char, encoding)
    opts = _options(option or [])
    pol = load_policy(policy_path(policy))  # everything the user can get wrong, before Spark
    pol.purpose(purpose)
    check_source(source, format)
    ws = Workspace.find(workspace)
    ws.ready()
    spark = session()
    # a failed batch is reported in one line (VeilError): not by the JVM's log nor by py4j's
    # logger, which would print the callback's traceback
    spark.sparkContext.setLogLevel("OFF")
    logging.getLogger("py4j").setLevel(logging.CRITICAL)
    result = stream(source, pol, purpose, output, checkpoint=checkpoint,
                    input_format=format, trigger=trigger, options=opts, schema=schema,
                    max_files_per_trigger=max_files, max_batches=max_batches, timeout=timeout,
                    dataset=dataset, workspace=ws, csv_options=csv, actor=actor,
                    spark=spark)
    if as_json:
        print_json(result.to_dict())
        return
    if not result.batches:
        console.print(f"No new data in {source}: nothing to publish.", markup=False)
    for b in result.batches:
        if b.status == "published":
            console.print(f"batch {b.batch_id}: published {b.rows_out:,} of {b.rows_in:,} rows "
                          f"to {b.output} (run {(b.run_id or '')[:12]})", markup=False,
                          soft_wrap=True)
        elif b.status == "replayed":
            console.print(f"batch {b.batch_id}: already published by run "
                          f"{(b.run_id or '')[:12]} (replay skipped)", markup=False)
        else:
            console.print(f"batch {b.batch_id}: no rows", markup=False)
