"""Risk on files: what ``veil risk`` and ``veil anonymize`` call.

Both check everything they can before reading a row: the input opens and has the columns,
every hierarchy file reads and is consistent, the options fit together. Values are then
checked against their hierarchies as each batch is read, so a value missing from a hierarchy
is an error naming the column and the value before any figure is computed or any output
written. Input is read through :func:`veil.io.readers.open_source` (CSV, Parquet, JSON lines),
only the needed columns, as text (numbers only where an ordered distance needs them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from veil.errors import InputError, PolicyError, VeilError
from veil.io.readers import CsvOptions, Reject, Source, open_source
from veil.io.types import arrow_schema
from veil.io.writers import (
    ParquetSink,
    create_private,
    publish,
    sha256_file,
    temp_path_for,
)
from veil.policy.risk import RiskPolicy
from veil.risk.classes import aggregate
from veil.risk.gate import GateResult, enforce, population_table
from veil.risk.hierarchy import Hierarchy
from veil.risk.metrics import ALL_RECORDS, RiskReport, report, with_constant
from veil.risk.presence import PopulationTable, join_population, presence_figures

__all__ = ["CsvSink", "anonymize_file", "measure_file"]

HierarchySpec = str | PathLike[str] | Hierarchy


def _names(values: Sequence[str], what: str) -> list[str]:
    out: list[str] = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        if v in out:
            raise PolicyError(f"{what} '{v}' is given twice")
        out.append(v)
    return out


def _check_columns(src: Source, columns: Sequence[str], what: str = "column") -> list[str]:
    header = src.header()
    for c in columns:
        if c not in header:
            raise InputError(
                f"{what} '{c}' is not in the data (columns: {', '.join(header)})", where=src.name
            )
    return header


def _load(
    hierarchies: Mapping[str, HierarchySpec] | None, allowed: Sequence[str]
) -> dict[str, Hierarchy]:
    out: dict[str, Hierarchy] = {}
    for column, spec in (hierarchies or {}).items():
        if column not in allowed:
            raise PolicyError(
                f"a hierarchy is given for column '{column}', which is neither a "
                f"quasi-identifier nor a sensitive attribute"
            )
        out[column] = spec if isinstance(spec, Hierarchy) else Hierarchy.from_csv(spec, column)
    return out


def _raise_reject(src: Source):  # type: ignore[no-untyped-def]
    def on_reject(r: Reject) -> None:
        raise InputError(r.reason, where=r.place(src.name))

    return on_reject


def _located(exc: VeilError, src: Source) -> VeilError:
    if exc.where is None:
        return type(exc)(exc.message, where=src.name)
    return exc


def measure_file(
    path: str | PathLike[str] | Any,
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    *,
    hierarchies: Mapping[str, HierarchySpec] | None = None,
    numeric: Sequence[str] = (),
    risk_threshold: float = 0.2,
    recursive_l: int = 2,
    top: int = 10,
    input_format: str | None = None,
    csv_options: CsvOptions | None = None,
    orders: Mapping[str, Sequence[str]] | None = None,
    sampling_fraction: float | None = None,
    population_size: float | None = None,
    population_model: str = "dankar",
    population: str | PathLike[str] | None = None,
) -> RiskReport:
    """Measure the re-identification risk of a file (``veil risk``).

    ``hierarchies``: column -> hierarchy (file or :class:`Hierarchy`); a QI's hierarchy is
    checked against the data (every value covered), a sensitive attribute's adds the
    hierarchical-distance t. ``numeric``: sensitive attributes read as numbers, which adds
    the ordered-distance t; ``orders``: attribute -> its values in order, which adds the
    ordered-distance t of a text attribute. Every column is otherwise read as text. Without
    QIs the whole table is one class (the sensitive attributes' figures over the table).
    ``sampling_fraction`` / ``population_size``: add population uniqueness
    (``population_model``) and the journalist's and marketer's risks. ``population``: a
    population table the file is a sample of (same format options; needs QIs): adds
    delta-presence, ``delta = f / F`` per class.
    """
    qis = _names(quasi_identifiers, "quasi-identifier")
    sens = _names(sensitive, "sensitive attribute")
    if not qis and not sens:
        raise PolicyError("give quasi-identifiers (--qi) or sensitive attributes (--sensitive)")
    ordered = {a: list(v) for a, v in (orders or {}).items()}
    for a in ordered:
        if a not in sens:
            raise PolicyError(f"ordered attribute '{a}' must also be a sensitive attribute")
    both = [s for s in sens if s in qis]
    if both:
        raise PolicyError(f"column '{both[0]}' cannot be both quasi-identifier and sensitive")
    nums = _names(numeric, "numeric attribute")
    for n in nums:
        if n not in sens:
            raise PolicyError(f"numeric attribute '{n}' must also be a sensitive attribute")
    if not 0 < risk_threshold <= 1:
        raise PolicyError(f"the risk threshold must be in (0, 1], got {risk_threshold}")
    if population is not None and not qis:
        raise PolicyError("delta-presence (--population) needs quasi-identifiers (--qi)")
    pop = None if population is None else PopulationTable(Path(population), None, csv_options)
    src = open_source(path, format=input_format, csv_options=csv_options)
    _check_columns(src, [*qis, *sens])
    hs = _load(hierarchies, [*qis, *sens])
    types = {c: "float" if c in nums else "string" for c in (*qis, *sens)}
    batches = src.batches([*qis, *sens], types, _raise_reject(src))
    presence: dict[str, Any] | None = None
    try:
        if qis:
            ec = aggregate(batches, qis, sens, hierarchies=hs)
            if pop is not None:
                joined = join_population(ec, pop.aggregate(qis, hs), where=pop.name)
                presence = presence_figures(joined)
        else:
            ec = aggregate(with_constant(batches), [ALL_RECORDS], sens, hierarchies=hs)
        r = report(
            ec,
            risk_threshold=risk_threshold,
            recursive_l=recursive_l,
            sensitive_hierarchies={s: hs[s] for s in sens if s in hs},
            sensitive_orders=ordered,
            top=top,
            contributions=bool(qis),
            sampling_fraction=sampling_fraction,
            population_size=population_size,
            population_model=population_model,
        )
    except VeilError as exc:
        raise _located(exc, src) from None
    if presence is not None:
        r = replace(r, presence=presence)
    return r if qis else replace(r, quasi_identifiers=(), riskiest_classes=())


# -- anonymize -----------------------------------------------------------------------------------

_POLICY_TYPES = (
    (pa.types.is_integer, "integer"),
    (pa.types.is_floating, "float"),
    (pa.types.is_decimal, "decimal"),
    (pa.types.is_boolean, "boolean"),
    (pa.types.is_date, "date"),
    (pa.types.is_timestamp, "timestamp"),
)


def _native_types(src: Source, header: Sequence[str]) -> dict[str, str]:
    """Column types to read: the Parquet file's own (as far as the policy types go), text
    for text formats."""
    types = {c: "string" for c in header}
    file = getattr(src, "_file", None)
    if src.format == "parquet" and file is not None:
        for f in file.schema_arrow:
            for test, name in _POLICY_TYPES:
                if test(f.type):
                    types[f.name] = name
                    break
    return types


class CsvSink:
    """CSV output published by rename on :meth:`commit` (same protocol as ParquetSink)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise InputError("output folder does not exist", where=str(self.path.parent))
        self.tmp = temp_path_for(self.path)
        self.rows = 0
        self.bytes = 0
        create_private(self.tmp)  # 0600; the writer truncates it, keeping the mode
        self._writer: pacsv.CSVWriter | None = pacsv.CSVWriter(str(self.tmp), schema)

    def write(self, batch: pa.RecordBatch) -> None:
        assert self._writer is not None
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def commit(self) -> str:
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        digest = sha256_file(self.tmp)
        self.bytes = self.tmp.stat().st_size
        publish(self.tmp, self.path)
        return digest

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
            self._writer = None
        self.tmp.unlink(missing_ok=True)


def _sink_factory(output: Path):  # type: ignore[no-untyped-def]
    suffix = output.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return lambda schema: ParquetSink(output, schema)
    if suffix == ".csv":
        return lambda schema: CsvSink(output, schema)
    raise InputError("output must be a .parquet or .csv file", where=str(output))


def anonymize_file(
    path: str | PathLike[str] | Any,
    output: str | PathLike[str],
    quasi_identifiers: Sequence[str],
    risk: RiskPolicy,
    *,
    hierarchies: Mapping[str, HierarchySpec] | None = None,
    policy_dir: str | PathLike[str] = ".",
    input_format: str | None = None,
    csv_options: CsvOptions | None = None,
) -> GateResult:
    """Write the optimal full-domain generalization of a file (``veil anonymize``).

    The privacy models, suppression limit and quality model come from ``risk``; hierarchies
    from ``hierarchies`` and ``risk.hierarchies`` (relative to ``policy_dir``). A QI without
    a hierarchy is kept or replaced by ``*`` as a whole. Two passes over the input: the
    aggregate (QI and sensitive columns only), then generalize + suppress into ``output``
    (.parquet or .csv, published by rename). Returns the gate's result (``transformation``:
    the chosen levels, information loss, suppressed records; ``before``/``after``).
    """
    qis = _names(quasi_identifiers, "quasi-identifier")
    if not qis:
        raise PolicyError("give at least one quasi-identifier (--qi)")
    if not risk.has_models:
        raise PolicyError("give at least one privacy model (--k, --l, --t)")
    out = Path(output)
    factory = _sink_factory(out)
    src = open_source(path, format=input_format, csv_options=csv_options)
    if Path(str(path)).resolve() == out.resolve():
        raise InputError("the output would overwrite the input", where=str(out))
    sens = risk.sensitive_attributes()
    both = [s for s in sens if s in qis]
    if both:
        raise PolicyError(f"column '{both[0]}' cannot be both quasi-identifier and sensitive")
    header = _check_columns(src, [*qis, *sens])
    given = _load(hierarchies, [*qis, *sens])
    from_policy = _load(
        {c: p for c, p in risk.hierarchy_paths(policy_dir).items() if c not in given},
        [*qis, *sens],
    )
    hs = {**from_policy, **given}
    types = _native_types(src, header)
    for t in risk.t_closeness:
        if t.distance == "ordered" and t.order is None and types[t.attribute] == "string":
            types[t.attribute] = "float"
    schema = arrow_schema(header, types)

    def read(columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        cols = list(header) if columns is None else list(columns)
        yield from src.batches(cols, {c: types[c] for c in cols}, _raise_reject(src))

    population = population_table(risk, policy_dir, csv_options)
    try:
        return enforce(
            read,
            schema,
            risk,
            hs,
            qis,
            sink_factory=factory,
            force=True,
            subject="the table",
            population=population,
        )
    except VeilError as exc:
        raise _located(exc, src) from None
