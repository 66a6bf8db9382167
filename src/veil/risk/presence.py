"""delta-presence on files: the population table, read and matched with a sample's classes.

The sample (the released table, or the file ``veil risk`` measures) and the population table
are aggregated on their own, each in its own types (a run's Parquet output holds integers
where a population CSV holds text); their classes are then matched on the QI values' text
form. Every sample class must be a class of the population, with no more records: anything
else means the table is not a sample of that population, and is an :class:`InputError`
naming the population file. A bad row or a value a hierarchy lacks in the population table
is named with its file and line (or row).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, VeilError
from veil.io.readers import CsvOptions, Reject, open_source
from veil.risk.classes import (
    ClassAggregator,
    EquivalenceClasses,
    SensitiveCounts,
    combine_codes,
    group_keys,
)
from veil.risk.hierarchy import Hierarchy, to_string

__all__ = ["PopulationTable", "at_node", "join_population", "presence_figures", "subset"]

_NO_ROW = np.iinfo(np.int64).max


@dataclass(frozen=True)
class PopulationTable:
    """A population table file (CSV, Parquet or JSON lines) and how to read it."""

    path: Path
    input_format: str | None = None
    csv_options: CsvOptions | None = None

    @property
    def name(self) -> str:
        return str(self.path)

    def aggregate(
        self, quasi_identifiers: Sequence[str], hierarchies: Mapping[str, Hierarchy] | None = None
    ) -> EquivalenceClasses:
        """The population's classes over ``quasi_identifiers`` (read as text; every value
        checked against its hierarchy, if any, and a miss named with its row)."""
        if not Path(self.path).is_file():
            raise InputError("population table not found", where=self.name)
        src = open_source(self.path, format=self.input_format, csv_options=self.csv_options)
        qis = list(quasi_identifiers)
        try:
            header = src.header()
            for q in qis:
                if q not in header:
                    raise InputError(
                        f"quasi-identifier '{q}' is not a column of the population table "
                        f"(columns: {', '.join(header)})"
                    )
            hs = {q: hierarchies[q] for q in qis if hierarchies and q in hierarchies}
            agg = ClassAggregator(qis, hierarchies=hs, track_rows=True)

            def reject(r: Reject) -> None:
                raise InputError(r.reason, where=r.place(src.name))

            for batch in src.batches(qis, {q: "string" for q in qis}, reject):
                agg.update(batch)
            if agg.rows == 0:
                raise InputError("empty population table: it has no records")
            return agg.finish()
        except VeilError as exc:
            if exc.where is None:
                raise type(exc)(exc.message, where=src.name) from None
            raise


def _text_dictionary(
    sample: pa.Array, population: pa.Array
) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(sorted union of both dictionaries as text, sample code -> union code, population
    code -> union code)."""
    s, p = to_string(sample), to_string(population)
    union = pc.unique(pa.concat_arrays([p, s]))
    union = union.take(pc.array_sort_indices(union, null_placement="at_end"))

    def codes(values: pa.Array) -> np.ndarray:
        return pc.index_in(values, value_set=union).to_numpy(zero_copy_only=False).astype(np.int64)

    return union, codes(s), codes(p)


def join_population(
    sample: EquivalenceClasses, population: EquivalenceClasses, *, where: str | None = None
) -> EquivalenceClasses:
    """The population's classes, with the records the sample holds in each (``sizes``,
    possibly 0) and the population's (``population``); sensitive counts come from the
    sample. QIs are matched on their text; dictionaries become text. ``where`` names the
    population table in errors."""
    qis = sample.quasi_identifiers
    if population.quasi_identifiers != qis:
        raise InputError("the population table's quasi-identifiers differ from the sample's")
    dicts, scodes, pcodes, first_rows = [], [], [], []
    for j in range(len(qis)):
        union, smap, pmap = _text_dictionary(sample.dictionaries[j], population.dictionaries[j])
        dicts.append(union)
        scodes.append(smap[sample.codes[:, j]])
        pcodes.append(pmap[population.codes[:, j]])
        if sample.first_rows is not None:
            rows = np.full(len(union), _NO_ROW, dtype=np.int64)
            rows[smap] = sample.first_rows[j]
            first_rows.append(rows)
    radices = [len(d) for d in dicts]
    keys, _ = combine_codes(
        [np.concatenate([p, s]) for p, s in zip(pcodes, scodes, strict=True)], radices
    )
    pkeys, skeys = keys[: len(population.sizes)], keys[len(population.sizes) :]
    order = np.argsort(pkeys, kind="stable")
    pos = np.clip(np.searchsorted(pkeys[order], skeys), 0, max(len(pkeys) - 1, 0))
    target = order[pos]
    missing = pkeys[target] != skeys
    if missing.any():
        raise InputError(
            f"{int(sample.sizes[missing].sum()):,} records of the table fall in "
            f"{int(missing.sum()):,} classes the population table does not have: the table "
            f"must be a sample of the population",
            where=where,
        )
    sizes = np.zeros(len(population.sizes), dtype=np.int64)
    np.add.at(sizes, target, sample.sizes)
    over = sizes > population.sizes
    if over.any():
        raise InputError(
            f"{int(over.sum()):,} classes hold more records in the table than in the "
            f"population table: the table must be a sample of the population",
            where=where,
        )
    sens = {
        a: SensitiveCounts(
            a, sc.values, target[sc.class_index], sc.value_code, sc.counts, sc.reference
        )
        for a, sc in sample.sensitive.items()
    }
    codes = np.stack(pcodes, axis=1) if pcodes else population.codes
    return EquivalenceClasses(
        qis,
        tuple(dicts),
        codes,
        sizes,
        sens,
        population=population.sizes.astype(np.int64),
        first_rows=tuple(first_rows) if first_rows else None,
    )


def subset(ec: EquivalenceClasses, keep: np.ndarray) -> EquivalenceClasses:
    """The classes of ``ec`` that ``keep`` marks (population counts and sensitive counts
    kept along)."""
    new_index = np.cumsum(keep) - 1
    sensitive = {}
    for a, sc in ec.sensitive.items():
        m = keep[sc.class_index]
        sensitive[a] = SensitiveCounts(
            a,
            sc.values,
            new_index[sc.class_index[m]],
            sc.value_code[m],
            sc.counts[m],
            sc.reference,
        )
    pop = None if ec.population is None else ec.population[keep]
    return replace(
        ec, codes=ec.codes[keep], sizes=ec.sizes[keep], sensitive=sensitive, population=pop
    )


def at_node(
    ec: EquivalenceClasses, hierarchies: Sequence[Hierarchy], levels: Sequence[int]
) -> EquivalenceClasses:
    """The classes (and population counts) of ``ec`` generalized to ``levels``; the
    dictionaries become the levels' labels. Sensitive counts are dropped."""
    cols, radices = [], []
    for j, (h, lv) in enumerate(zip(hierarchies, levels, strict=True)):
        leaf = h.encode(ec.dictionaries[j], row_offset=None)
        cols.append(h.code_map[leaf, int(lv)][ec.codes[:, j]])
        radices.append(h.domain_size(int(lv)))
    key, space = combine_codes(cols, radices)
    inverse, first, groups = group_keys(key, space)
    sizes = np.bincount(inverse, weights=ec.sizes, minlength=groups).astype(np.int64)
    pop = None
    if ec.population is not None:
        pop = np.bincount(inverse, weights=ec.population, minlength=groups).astype(np.int64)
    return EquivalenceClasses(
        ec.quasi_identifiers,
        tuple(h.labels(int(lv)) for h, lv in zip(hierarchies, levels, strict=True)),
        np.stack([c[first] for c in cols], axis=1),
        sizes,
        population=pop,
    )


def presence_figures(ec: EquivalenceClasses) -> dict[str, Any]:
    """delta = f / F over the classes of a sample joined with its population: the smallest
    and largest delta among the classes the sample holds, and how many population classes
    (and records) the sample does not reach at all (their delta is 0)."""
    assert ec.population is not None
    held = ec.sizes > 0
    delta = ec.sizes[held] / ec.population[held]
    return {
        "population_records": int(ec.population.sum()),
        "population_classes": int(len(ec.sizes)),
        "delta_min": float(delta.min()) if len(delta) else 0.0,
        "delta_max": float(delta.max()) if len(delta) else 0.0,
        "classes_not_in_sample": int((~held).sum()),
        "records_not_in_sample": int(ec.population[~held].sum()),
    }


def released_with_population(
    released: EquivalenceClasses,
    measured: EquivalenceClasses,
    hierarchies: Sequence[Hierarchy],
    levels: Sequence[int],
    *,
    where: str | None = None,
) -> EquivalenceClasses:
    """The released (generalized, suppressed) table's classes joined with the population
    generalized the same way (``measured``: the input joined with its population).
    Population classes whose sample records were all suppressed are left out: they are not
    released, so there is nothing to be present in; those the sample never reached stay
    (delta 0)."""
    node = at_node(measured, hierarchies, levels)
    as_population = EquivalenceClasses(
        node.quasi_identifiers,
        node.dictionaries,
        node.codes,
        node.population,  # type: ignore[arg-type]
    )
    joined = join_population(released, as_population, where=where)
    return subset(joined, (joined.sizes > 0) | (node.sizes == 0))
