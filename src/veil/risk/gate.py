"""The release gate: measure the table a run is about to publish, and fix it or refuse it.

:func:`release_gate` works on the run's Parquet output while it is still under its temporary
name. Pass 1 streams the quasi-identifier (QI) and sensitive columns into the equivalence-class
aggregate and checks every privacy model of the dataset's :class:`~veil.policy.risk.RiskPolicy`.

* Every model holds: the table is released as it is (``GateResult.passed``).
* A model fails and ``auto_generalize`` is on: the optimal full-domain generalization with
  record suppression is searched on that same aggregate (no second read for the search),
  applied in pass 2 (generalized QIs, outliers removed) into a new Parquet file, and the
  written batches are measured again as they go out; the new file is published only if every
  model now holds.
* Otherwise, or when no generalization meets the models within the suppression limit:
  :class:`~veil.errors.RunRefused`, naming the models and their figures (never a value).

Only the QIs present in the table are measured: a QI the purpose does not release is not in
the table and cannot be linked. Sensitive-attribute rules on attributes that are not released
are skipped (there is nothing to disclose) and listed as such in the receipt.

:func:`enforce` is the same logic over any batch reader and sink (for encrypted outputs, or
files in other formats); :func:`veil.risk.files.anonymize_file` uses it with ``force=True``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from veil.errors import InputError, RunRefused
from veil.io.readers import CsvOptions
from veil.policy.risk import RiskPolicy
from veil.risk.anonymize import NoSolution, anonymize
from veil.risk.classes import ClassAggregator, EquivalenceClasses, SensitiveCounts
from veil.risk.hierarchy import Hierarchy, policy_hierarchies
from veil.risk.metrics import RiskReport, class_size_buckets, report
from veil.risk.model_checks import ModelCheck, check_models, privacy_models, quality_model
from veil.risk.presence import (
    PopulationTable,
    join_population,
    presence_figures,
    released_with_population,
)
from veil.risk.privacy import PrivacyModel
from veil.risk.result import AnonymizationResult
from veil.risk.table_models import DeltaPresence

__all__ = [
    "GateResult",
    "ModelCheck",
    "Reader",
    "Sink",
    "check_models",
    "enforce",
    "privacy_models",
    "quality_model",
    "release_gate",
]

BATCH_ROWS = 65_536
#: Name of the constant column that stands for "no QI released": the whole table, one class.
ALL_RECORDS = "__veil_all_records__"

Reader = Callable[[Sequence[str] | None], Iterator[pa.RecordBatch]]
"""``read(columns)``: a fresh stream of the table's batches (``None``: every column)."""


class Sink(Protocol):
    """Where the generalized table goes (:class:`veil.io.writers.ParquetSink` fits)."""

    rows: int
    bytes: int

    def write(self, batch: pa.RecordBatch) -> None: ...

    def commit(self) -> str: ...

    def abort(self) -> None: ...


# ---------------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------------


def _summary(r: RiskReport | None) -> dict[str, Any] | None:
    """A report for the receipt: figures only (no class values, not even masked)."""
    if r is None:
        return None
    d = r.to_dict()
    d.pop("riskiest_classes", None)
    d["class_size_distribution"] = class_size_buckets(r.class_size_distribution)
    return d


@dataclass(frozen=True)
class GateResult:
    """What the gate found and did.

    ``passed``: the table met every model as it was, and is released untouched (``output``
    is the measured file). Otherwise ``transformation`` is the applied generalization and
    ``output`` the generalized file; ``after`` is measured on what was written.
    """

    passed: bool
    before: RiskReport | None
    after: RiskReport | None
    transformation: AnonymizationResult | None
    quasi_identifiers: tuple[str, ...] = ()
    not_released: tuple[str, ...] = ()
    models: tuple[dict[str, Any], ...] = ()
    skipped_models: tuple[dict[str, Any], ...] = ()
    checks_before: tuple[ModelCheck, ...] = ()
    checks_after: tuple[ModelCheck, ...] = ()
    rows_in: int = 0
    rows_out: int = 0
    suppression_limit: float = 0.0
    auto_generalize: bool = False
    hierarchies: dict[str, str] = field(default_factory=dict)
    output: Path | None = None
    sha256: str | None = None
    bytes: int | None = None
    seconds: float = 0.0

    @property
    def generalized(self) -> bool:
        return self.transformation is not None

    @property
    def suppressed_records(self) -> int:
        return self.transformation.suppressed_records if self.transformation else 0

    @property
    def info_loss(self) -> float | None:
        return self.transformation.info_loss if self.transformation else None

    @property
    def outcome(self) -> str:
        if self.before is None:
            return "empty"
        return "generalized" if self.generalized else "passed"

    def to_receipt(self) -> dict[str, Any]:
        """The receipt's ``risk`` section: metrics before and after, the chosen level per QI,
        information loss, suppressed records. Figures only, no values from the table."""
        t = self.transformation
        transformation = None
        if t is not None:
            transformation = {
                "levels": {
                    q: {
                        "level": lv,
                        "top": h.height,
                        "hierarchy": self.hierarchies.get(q, "value or *"),
                    }
                    for q, lv, h in zip(t.quasi_identifiers, t.node, t.hierarchies, strict=True)
                },
                "quality_model": t.quality_model,
                "information_loss": t.info_loss,
                "suppressed_records": t.suppressed_records,
                "suppressed_share": t.suppressed_share,
                "nodes_evaluated": t.nodes_evaluated,
                "nodes_total": t.nodes_total,
                "utility": t.utility.to_dict() if t.utility is not None else None,
                "search_seconds": round(t.elapsed_seconds, 4),
            }
        return {
            "outcome": self.outcome,
            "quasi_identifiers": list(self.quasi_identifiers),
            "quasi_identifiers_not_released": list(self.not_released),
            "models": list(self.models),
            "skipped_models": list(self.skipped_models),
            "suppression_limit": self.suppression_limit,
            "auto_generalize": self.auto_generalize,
            "rows": {
                "in": self.rows_in,
                "out": self.rows_out,
                "suppressed": self.suppressed_records,
            },
            "checks_before": [c.to_dict() for c in self.checks_before],
            "checks_after": [c.to_dict() for c in self.checks_after] if t is not None else None,
            "before": _summary(self.before),
            "after": _summary(self.after),
            "transformation": transformation,
            "information_loss": self.info_loss,
            "suppressed_records": self.suppressed_records,
            "seconds": round(self.seconds, 4),
        }


# ---------------------------------------------------------------------------------------------
# The gate
# ---------------------------------------------------------------------------------------------


def _with_constant(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for b in batches:
        yield b.append_column(ALL_RECORDS, pa.array(np.zeros(b.num_rows, dtype=np.int8)))


def _flat_hierarchy(column: str, values: pa.Array) -> Hierarchy:
    """``value -> *`` for a QI without a hierarchy (keep it, or hide it as a whole)."""
    strings = pc.cast(values.drop_null(), pa.string()).to_pylist()
    return Hierarchy(column, [(s, "*") for s in strings] or [("*", "*")], source="value or *")


def _source_name(h: Hierarchy) -> str:
    if h.source is None:
        return "given"
    return h.source if h.source == "value or *" else Path(h.source).name


def _refusal(checks: Sequence[ModelCheck], why: str, subject: str) -> str:
    failing = "; ".join(c.text() for c in checks if not c.passed)
    return f"{subject} does not meet the privacy models: {failing}; {why}"


@dataclass(frozen=True)
class _GatePlan:
    """What the gate measures on one table, worked out from the schema and the policy.

    ``quasi_identifiers``: the QIs present in the table (the others are ``not_released``);
    ``sensitive``: the attributes the models name, then the extra ones reported on.
    """

    quasi_identifiers: list[str]
    not_released: tuple[str, ...]
    models: list[tuple[PrivacyModel, dict[str, Any]]]
    skipped: list[dict[str, Any]]
    sensitive: list[str]
    sensitive_hierarchies: dict[str, Hierarchy]
    orders: dict[str, tuple[str | int | float, ...]]
    recursive_l: int
    top: int
    #: ``model: population``: the population for the reports (sampling fraction or size)
    population: dict[str, Any] = field(default_factory=dict)
    #: delta-presence: the population table and the QIs' hierarchies to read it with
    presence: PopulationTable | None = None
    qi_hierarchies: dict[str, Hierarchy] = field(default_factory=dict)

    @property
    def report_options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~veil.risk.metrics.report`, but the threshold."""
        return {
            "recursive_l": self.recursive_l,
            "sensitive_hierarchies": self.sensitive_hierarchies,
            "sensitive_orders": self.orders,
            "top": self.top,
            **self.population,
        }

    def result_fields(self, risk: RiskPolicy) -> dict[str, Any]:
        """The :class:`GateResult` fields every outcome shares."""
        return dict(
            quasi_identifiers=tuple(self.quasi_identifiers),
            not_released=self.not_released,
            models=tuple(d for _, d in self.models),
            skipped_models=tuple(self.skipped),
            suppression_limit=risk.suppression_limit,
            auto_generalize=risk.auto_generalize,
        )


def _plan(
    schema: pa.Schema,
    risk: RiskPolicy,
    hierarchies: Mapping[str, Hierarchy],
    quasi_identifiers: Sequence[str],
    sensitive: Sequence[str] = (),
    top: int = 5,
) -> _GatePlan:
    """Which QIs, models and sensitive attributes apply to a table with ``schema``."""
    columns = list(schema.names)
    listed = list(dict.fromkeys(quasi_identifiers))
    qis = [q for q in listed if q in columns]
    pairs, skipped = privacy_models(risk, hierarchies, columns)
    if not qis:  # no QI to tell who is in the table: nothing for delta-presence to check
        skipped += [
            {**d, "reason": "no quasi-identifier released"}
            for m, d in pairs
            if isinstance(m, DeltaPresence)
        ]
        pairs = [(m, d) for m, d in pairs if not isinstance(m, DeltaPresence)]
    sens = list(
        dict.fromkeys(
            [m.attribute for m, _ in pairs if m.attribute is not None]
            + [s for s in sensitive if s in columns and s not in qis]
        )
    )
    return _GatePlan(
        quasi_identifiers=qis,
        not_released=tuple(q for q in listed if q not in columns),
        models=pairs,
        skipped=skipped,
        sensitive=sens,
        sensitive_hierarchies={a: hierarchies[a] for a in sens if a in hierarchies},
        orders={r.attribute: r.order for r in risk.t_closeness if r.order is not None},
        recursive_l=next((int(r.l) for r in risk.l_diversity if r.kind == "recursive"), 2),
        top=top,
        population=_population_options(risk),
    )


def _population_options(risk: RiskPolicy, size: float | None = None) -> dict[str, Any]:
    """The report's population arguments for ``model: population`` (``size``: fixed once
    the table is measured, so that suppression does not shrink the population)."""
    if risk.model != "population":
        return {}
    if size is not None:
        return {"population_size": size, "population_model": risk.population_model}
    return {
        "sampling_fraction": risk.sampling_fraction,
        "population_size": risk.population_size,
        "population_model": risk.population_model,
    }


@dataclass(frozen=True)
class _Measured:
    """Pass 1: the table's aggregate, its report and the models checked on it."""

    rows: int
    classes: EquivalenceClasses
    report: RiskReport
    checks: list[ModelCheck]
    #: the plan's models bound to this table (a population's size fixed)
    models: list[tuple[PrivacyModel, dict[str, Any]]] = field(default_factory=list)

    @property
    def failing(self) -> bool:
        return any(not c.passed for c in self.checks)


def _measure_pass(
    read: Reader, plan: _GatePlan, risk: RiskPolicy, *, track_rows: bool = False
) -> _Measured | None:
    """Pass 1: stream the QI and sensitive columns into the aggregate (sensitive values checked
    against their hierarchies as read) and check every model. None: the table is empty."""
    qis = plan.quasi_identifiers
    agg = ClassAggregator(
        qis or [ALL_RECORDS],
        plan.sensitive,
        hierarchies=plan.sensitive_hierarchies,
        track_rows=track_rows,  # a value a hierarchy lacks is then named with its row
    )
    stream = read([*qis, *plan.sensitive])
    for batch in _with_constant(stream) if not qis else stream:
        agg.update(batch)
    rows = agg.rows
    if rows == 0:
        return None
    ec = agg.finish()
    if plan.presence is not None:
        population = plan.presence.aggregate(qis, plan.qi_hierarchies)
        ec = join_population(ec, population, where=plan.presence.name)
    before = report(
        ec.sample_only(),
        contributions=bool(qis),
        risk_threshold=risk.risk_threshold,
        **plan.report_options,
    )
    if not qis:  # the whole table is one class; there are no QI values to show
        before = replace(before, quasi_identifiers=(), riskiest_classes=())
    if ec.population is not None:
        before = replace(before, presence=presence_figures(ec))
    bound = [(m.bind(rows), d) for m, d in plan.models]
    return _Measured(rows, ec, before, check_models(ec, bound), bound)


def _must_generalize(
    measured: _Measured, plan: _GatePlan, risk: RiskPolicy, *, force: bool, subject: str
) -> bool:
    """Decide: False releases the table as it is; True generalizes it. Raises
    :class:`RunRefused` when it fails and generalization is off or cannot help."""
    if not force and not measured.failing:
        return False
    if not force and not risk.auto_generalize:
        why = "automatic generalization is off (risk.auto_generalize: false)"
    elif not plan.quasi_identifiers:
        why = "no quasi-identifier is released, so generalization cannot help"
    else:
        return True
    raise RunRefused(_refusal(measured.checks, f"{why}: nothing was published", subject))


def _search(
    measured: _Measured,
    plan: _GatePlan,
    risk: RiskPolicy,
    hierarchies: Mapping[str, Hierarchy],
    subject: str,
) -> tuple[AnonymizationResult, dict[str, Hierarchy]]:
    """The optimal generalization, searched on the pass-1 aggregate, and the hierarchies it
    used (``value -> *`` for a QI without one). Refuses when none meets the models."""
    qis, ec = plan.quasi_identifiers, measured.classes
    hs = {
        q: hierarchies[q] if q in hierarchies else _flat_hierarchy(q, ec.dictionaries[j])
        for j, q in enumerate(qis)
    }
    try:
        result = anonymize(
            ec,
            hs,
            [m for m, _ in plan.models],
            suppression_limit=risk.suppression_limit,
            quality=quality_model(risk),
            quasi_identifiers=qis,
            risk_threshold=risk.risk_threshold,
            sensitive_hierarchies=plan.sensitive_hierarchies,
            sensitive_orders=plan.orders,
            report_options={"recursive_l": plan.recursive_l, "top": plan.top, **plan.population},
        )
    except NoSolution:
        rows = measured.rows
        limit = math.floor(risk.suppression_limit * rows + 1e-9)
        raise RunRefused(
            _refusal(
                measured.checks,
                f"no generalization of {', '.join(qis)} with the given hierarchies meets the "
                f"models within the suppression limit ({risk.suppression_limit:.2%}, {limit:,} of "
                f"{rows:,} records): nothing was published",
                subject,
            )
        ) from None
    return result, hs


def _rebase(after: EquivalenceClasses, before: EquivalenceClasses) -> EquivalenceClasses:
    """``after`` with each sensitive distribution compared with the ``before`` table's (as
    the search enforced it), over the ``before`` value domain."""
    sensitive = {}
    for a, sc in after.sensitive.items():
        ref = before.sensitive[a]
        pos = pc.index_in(sc.values, value_set=ref.values)
        if pos.null_count:  # cannot happen: generalization never invents sensitive values
            raise InputError(f"column '{a}' holds a value that the measured table did not")
        remap = pos.to_numpy(zero_copy_only=False).astype(np.int64)
        sensitive[a] = SensitiveCounts(
            a, ref.values, sc.class_index, remap[sc.value_code], sc.counts, ref.totals()
        )
    return replace(after, sensitive=sensitive)


@dataclass(frozen=True)
class _Written:
    """Pass 2: what went into the sink, measured as it went out."""

    rows: int
    after: RiskReport | None
    checks: list[ModelCheck]
    sha256: str
    bytes: int | None


def _output_schema(schema: pa.Schema, levels: Mapping[str, int]) -> pa.Schema:
    """Generalized QIs become strings; the other columns keep their type."""
    return pa.schema(
        [
            pa.field(f.name, pa.string(), nullable=True) if levels.get(f.name, 0) > 0 else f
            for f in schema
        ],
        metadata=schema.metadata,
    )


def _write_generalized(
    read: Reader, result: AnonymizationResult, out_schema: pa.Schema, sink: Sink, plan: _GatePlan
) -> ClassAggregator:
    """Apply the generalization batch by batch into ``sink``, counting what goes out."""
    agg = ClassAggregator(plan.quasi_identifiers, plan.sensitive)
    for batch in result.apply(read(None)):
        if batch.schema != out_schema:
            batch = pa.RecordBatch.from_arrays(
                [batch.column(f.name).cast(f.type) for f in out_schema], schema=out_schema
            )
        if batch.num_rows:
            agg.update(batch)
            sink.write(batch)
    return agg


def _generalize_pass(
    read: Reader,
    schema: pa.Schema,
    result: AnonymizationResult,
    measured: _Measured,
    plan: _GatePlan,
    risk: RiskPolicy,
    *,
    sink_factory: Callable[[pa.Schema], Sink],
    subject: str,
) -> _Written:
    """Pass 2: apply the generalization, measure what goes out, and commit the sink only if
    every model holds on it (the sink is aborted on any failure)."""
    out_schema = _output_schema(schema, result.levels)
    sink = sink_factory(out_schema)
    try:
        agg = _write_generalized(read, result, out_schema, sink, plan)
        rows_out = agg.rows
        expected = result.records - result.suppressed_records
        if rows_out != expected:
            raise InputError(
                f"the table changed between the two passes: {rows_out:,} records written, "
                f"{expected:,} expected"
            )
        after: RiskReport | None = None
        checks_after: list[ModelCheck] = []
        if rows_out:
            after_ec = _rebase(agg.finish(), measured.classes)
            after = report(after_ec, risk_threshold=risk.risk_threshold, **plan.report_options)
            if plan.presence is not None:
                after_ec = released_with_population(
                    after_ec,
                    measured.classes,
                    result.hierarchies,
                    result.node,
                    where=plan.presence.name,
                )
            if after_ec.population is not None and after is not None:
                after = replace(after, presence=presence_figures(after_ec))
            checks_after = check_models(after_ec, plan.models)
            if any(not c.passed for c in checks_after):
                raise RunRefused(
                    _refusal(
                        checks_after,
                        "even after generalization (this is a "
                        "bug: please report it): nothing was published",
                        subject,
                    )
                )
        digest = sink.commit()
    except BaseException:
        sink.abort()
        raise
    return _Written(rows_out, after, checks_after, digest, getattr(sink, "bytes", None))


def enforce(
    read: Reader,
    schema: pa.Schema,
    risk: RiskPolicy,
    hierarchies: Mapping[str, Hierarchy],
    quasi_identifiers: Sequence[str],
    *,
    sink_factory: Callable[[pa.Schema], Sink],
    sensitive: Sequence[str] = (),
    force: bool = False,
    top: int = 5,
    subject: str = "risk gate: the released table",
    population: PopulationTable | None = None,
) -> GateResult:
    """Measure the table ``read`` streams, and generalize it into a sink when it fails.

    ``schema`` is the table's; QIs and attributes not in it are not measured. ``sensitive``
    adds attributes to report on (dataset fields flagged sensitive) without enforcing
    anything on them. ``force``: generalize (and write) even when the table already passes
    (``veil anonymize``); the sink is then always committed. Raises :class:`RunRefused`
    when the table fails and cannot (or may not) be fixed; nothing is committed then.
    ``population``: the population table of delta-presence (``risk.delta_presence``).
    """
    started = time.perf_counter()
    plan = _plan(schema, risk, hierarchies, quasi_identifiers, sensitive, top)
    if any(isinstance(m, DeltaPresence) for m, _ in plan.models):
        if population is None:
            raise InputError("delta-presence needs its population table")
        qh = {q: hierarchies[q] for q in plan.quasi_identifiers if q in hierarchies}
        plan = replace(plan, presence=population, qi_hierarchies=qh)
    fields = plan.result_fields(risk)
    measured = _measure_pass(read, plan, risk, track_rows=force or risk.auto_generalize)
    if measured is None:
        if force:
            raise InputError("empty table: there are no records to anonymize")
        return GateResult(True, None, None, None, **fields, seconds=time.perf_counter() - started)
    rows_in = measured.rows
    size = measured.report.population.population_size if measured.report.population else None
    plan = replace(plan, models=measured.models, population=_population_options(risk, size))
    if not _must_generalize(measured, plan, risk, force=force, subject=subject):
        return GateResult(
            True,
            measured.report,
            None,
            None,
            **fields,
            checks_before=tuple(measured.checks),
            rows_in=rows_in,
            rows_out=rows_in,
            seconds=time.perf_counter() - started,
        )
    result, hs = _search(measured, plan, risk, hierarchies, subject)
    written = _generalize_pass(
        read, schema, result, measured, plan, risk, sink_factory=sink_factory, subject=subject
    )
    return GateResult(
        force and not measured.failing,
        measured.report,
        written.after,
        result,
        **fields,
        checks_before=tuple(measured.checks),
        checks_after=tuple(written.checks),
        rows_in=rows_in,
        rows_out=written.rows,
        hierarchies={q: _source_name(h) for q, h in hs.items()},
        sha256=written.sha256,
        bytes=written.bytes,
        seconds=time.perf_counter() - started,
    )


def parquet_reader(path: Any) -> Reader:
    def read(columns: Sequence[str] | None) -> Iterator[pa.RecordBatch]:
        if isinstance(path, pa.BufferReader):
            path.seek(0)
        with pq.ParquetFile(path) as pf:
            yield from pf.iter_batches(
                batch_size=BATCH_ROWS,
                columns=list(columns) if columns is not None else None,
                use_threads=False,
            )

    return read


def release_gate(
    parquet_path: Path,
    out_path: Path,
    risk: RiskPolicy,
    policy_dir: Path,
    qis: Sequence[str],
    *,
    sensitive: Sequence[str] = (),
    sink_factory: Callable[[pa.Schema], Sink] | None = None,
    decrypt: Callable[[Path], pa.Buffer] | None = None,
) -> GateResult:
    """The run's release gate on its (not yet published) Parquet output.

    ``decrypt`` reads an output that is encrypted at rest: it returns the verified plaintext
    (held in memory while the gate works, so a gated output's size counts against memory).

    ``qis``: the dataset's quasi-identifiers (``risk.resolve_qis(dataset.fields)``); those
    not in the file are not released and not measured. Passing: ``out_path`` is not touched
    and ``result.output`` is ``parquet_path``. Failing with ``auto_generalize``: the
    generalized table is written to ``out_path`` (through a temporary name, or through
    ``sink_factory(schema)``, e.g. an encrypting :class:`~veil.io.writers.ParquetSink`) and
    ``result.output`` is ``out_path``. Failing otherwise: :class:`RunRefused`, ``out_path``
    not created.
    """
    from veil.io.writers import ParquetSink

    parquet_path, out_path = Path(parquet_path), Path(out_path)
    hierarchies = policy_hierarchies(risk, policy_dir)
    source: Any = pa.BufferReader(decrypt(parquet_path)) if decrypt else parquet_path
    try:
        with pq.ParquetFile(source) as pf:
            schema = pf.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"not a readable Parquet file ({str(exc).splitlines()[0]})", where=str(parquet_path)
        ) from None
    factory = sink_factory or (lambda s: ParquetSink(out_path, s))
    result = enforce(
        parquet_reader(source),
        schema,
        risk,
        hierarchies,
        qis,
        sink_factory=factory,
        sensitive=sensitive,
        population=population_table(risk, policy_dir),
    )
    return replace(result, output=out_path if result.generalized else parquet_path)


def population_table(
    risk: RiskPolicy, policy_dir: str | Path, csv_options: CsvOptions | None = None
) -> PopulationTable | None:
    """The delta-presence population table a ``risk:`` section names (None: no
    delta-presence), relative to ``policy_dir``; a CSV is read with ``csv_options`` (the
    input's, for ``veil anonymize``) or else the rule's delimiter."""
    path = risk.population_path(policy_dir)
    if path is None or risk.delta_presence is None:
        return None
    options = csv_options or CsvOptions(delimiter=risk.delta_presence.delimiter)
    return PopulationTable(path, csv_options=options)
