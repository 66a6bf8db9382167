"""The release gate of a run, on its staged output (complete, verified, not yet published).

The gate (`veil.risk.gate.enforce`) makes up to two passes: pass 1 reads the quasi-identifier
and sensitive columns to measure the risk and choose a generalization; pass 2, only when it
must generalize, reads the whole table again and writes the generalized one. Here both passes
read the staged output (decrypted in memory when it is encrypted at rest), unless the engine
serves pass 1 from what it already has (Spark: the executors' merged counts). A generalized
table replaces the staged file before anything is published.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.errors import PolicyError, VeilError
from veil.io.writers import ParquetSink, temp_path_for
from veil.pipeline.plan import Plan
from veil.risk.gate import GateResult, Reader, enforce, parquet_reader, population_table
from veil.risk.hierarchy import Hierarchy, policy_hierarchies


def hierarchies_for(plan: Plan, policy_dir: Path) -> dict[str, Hierarchy]:
    """The hierarchies the dataset's ``risk:`` section names, as a PolicyError on failure."""
    risk = plan.dataset.risk
    assert risk is not None
    try:
        return policy_hierarchies(risk, policy_dir)
    except VeilError:
        raise
    except Exception as exc:  # noqa: BLE001 - an unreadable file, named by its message
        raise PolicyError(f"risk hierarchies: {exc}") from exc


def staged_reader(sink: ParquetSink) -> Reader:
    """Batches of the staged output, decrypted (once, when first read) if it is encrypted."""
    opened: dict[str, Reader] = {}

    def read(columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        if "reader" not in opened:
            source: Any = sink.tmp
            enc = sink.encryption
            if enc is not None:
                from veil.keys.files import decrypt_to_buffer

                source = pa.BufferReader(decrypt_to_buffer(sink.tmp, enc.keyset,
                                                           enc.associated_data))
            opened["reader"] = parquet_reader(source)
        return opened["reader"](columns)

    return read


def gate_staged(sink: ParquetSink, plan: Plan, policy_dir: Path,
                pass1: Reader | None = None) -> GateResult:
    """Run the dataset's release gate on the staged output of ``sink``; when it generalizes,
    the generalized table (encrypted like the output) replaces the staged file and the sink's
    digest, size and row count follow. Raises `RunRefused` when the table may not be
    released; nothing is published then."""
    risk = plan.dataset.risk
    assert risk is not None
    staged = staged_reader(sink)

    def read(columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        if columns is not None and pass1 is not None:
            return pass1(columns)
        return staged(columns)

    gate_out = temp_path_for(sink.path)
    written: list[ParquetSink] = []

    def gate_sink(schema: pa.Schema) -> ParquetSink:
        s = ParquetSink(gate_out, schema, encryption=sink.encryption)
        written.append(s)
        return s

    result = enforce(read, plan.output_schema, risk, hierarchies_for(plan, policy_dir),
                     risk.resolve_qis(plan.dataset.fields), sink_factory=gate_sink,
                     sensitive=[n for n, f in plan.dataset.fields.items() if f.sensitive],
                     population=population_table(risk, policy_dir))
    if result.generalized:
        assert result.sha256 is not None
        os.replace(gate_out, sink.tmp)
        sink.digest, sink.bytes, sink.rows = result.sha256, result.bytes or 0, result.rows_out
        if written:
            sink.encryption_info = written[-1].encryption_info
    return result
