"""The outcome of the optimal generalization, and the second pass that applies it.

:class:`AnonymizationResult` holds the chosen node, its figures, and the classes the search
saw at that node; :meth:`AnonymizationResult.apply` generalizes a stream of batches to the
node and suppresses the records of the outlier classes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.errors import InputError, PolicyError
from veil.risk.classes import DataSource, combine_codes, iter_batches
from veil.risk.hierarchy import Hierarchy
from veil.risk.metrics import RiskReport
from veil.risk.utility import Utility

__all__ = ["AnonymizationResult"]


@dataclass(frozen=True, eq=False)
class AnonymizationResult:
    """The optimal node and what applying it does to the table."""

    quasi_identifiers: tuple[str, ...]
    node: tuple[int, ...]
    quality_model: str
    info_loss: float
    records: int
    suppressed_records: int
    suppression_limit: float
    before: RiskReport
    after: RiskReport | None
    nodes_total: int
    nodes_evaluated: int
    elapsed_seconds: float
    hierarchies: tuple[Hierarchy, ...] = field(repr=False)
    _class_codes: np.ndarray = field(repr=False)
    _suppressed_class: np.ndarray = field(repr=False)
    #: discernibility, DM*, AECS and (with a target) the classification metric of the
    #: released table (:mod:`veil.risk.utility`)
    utility: Utility | None = None

    @property
    def levels(self) -> dict[str, int]:
        return dict(zip(self.quasi_identifiers, self.node, strict=True))

    @property
    def suppressed_share(self) -> float:
        return self.suppressed_records / self.records

    def to_dict(self) -> dict[str, Any]:
        return {
            "quasi_identifiers": list(self.quasi_identifiers),
            "levels": self.levels,
            "quality_model": self.quality_model,
            "info_loss": self.info_loss,
            "records": self.records,
            "suppressed_records": self.suppressed_records,
            "suppressed_share": self.suppressed_share,
            "suppression_limit": self.suppression_limit,
            "nodes_total": self.nodes_total,
            "nodes_evaluated": self.nodes_evaluated,
            "elapsed_seconds": self.elapsed_seconds,
            "before": self.before.to_dict(),
            "after": self.after.to_dict() if self.after is not None else None,
            "utility": self.utility.to_dict() if self.utility is not None else None,
        }

    def apply(
        self, data: DataSource, *, suppression: Literal["remove", "mask"] = "remove"
    ) -> Iterator[pa.RecordBatch]:
        """Generalize the QIs of each batch to the node and suppress the outliers.

        ``remove`` drops suppressed records; ``mask`` keeps them with every QI set to ``*``
        (QIs then become strings). The stream must be the one that was measured: a record
        whose generalized QIs form a class unknown to the search is an :class:`InputError`.
        """
        if suppression not in ("remove", "mask"):
            raise PolicyError(f"suppression must be 'remove' or 'mask', not {suppression!r}")
        radices = [h.domain_size(lv) for h, lv in zip(self.hierarchies, self.node, strict=True)]
        index = _RowIndex(self._class_codes, radices)
        offset = 0
        for batch in iter_batches(data):
            n = batch.num_rows
            level_cols = []
            for h, lv, q in zip(self.hierarchies, self.node, self.quasi_identifiers, strict=True):
                if q not in batch.schema.names:
                    raise InputError(f"column '{q}' is not in the data")
                leaf = h.encode(batch.column(q), row_offset=offset)
                level_cols.append(h.code_map[leaf, lv])
            idx = index.lookup(np.stack(level_cols, axis=1))
            if (idx < 0).any():
                row = offset + int(np.flatnonzero(idx < 0)[0])
                raise InputError(
                    f"row {row} (0-based) falls in an equivalence class the search never saw: "
                    f"the data changed since it was measured"
                )
            suppressed = self._suppressed_class[idx]
            columns = []
            for name in batch.schema.names:
                col = batch.column(name)
                if name in self.quasi_identifiers:
                    j = self.quasi_identifiers.index(name)
                    h, lv = self.hierarchies[j], self.node[j]
                    if lv > 0:
                        col = h.labels(lv).take(pa.array(level_cols[j]))
                    if suppression == "mask":  # always strings: one schema for every batch
                        col = pc.cast(col, pa.string())
                        if suppressed.any():
                            col = pc.if_else(pa.array(suppressed), pa.scalar("*"), col)
                columns.append(col)
            out = pa.RecordBatch.from_arrays(columns, names=batch.schema.names)
            if suppression == "remove" and suppressed.any():
                out = out.filter(pa.array(~suppressed))
            offset += n
            yield out


class _RowIndex:
    """Finds the row of a fixed table of code rows equal to each query row (-1 if none).

    Mixed-radix keys when the radices fit 62 bits (the table is sorted once); otherwise keys
    are ranked over the table and each query together (slower, exact)."""

    def __init__(self, table: np.ndarray, radices: Sequence[int]) -> None:
        self.table = table
        self.radices = list(radices)
        self.direct = math.prod(max(r, 1) for r in radices) < (1 << 62)
        if self.direct:
            keys, _ = combine_codes([table[:, j] for j in range(table.shape[1])], radices)
            self.order = np.argsort(keys, kind="stable")
            self.sorted = keys[self.order]

    def lookup(self, query: np.ndarray) -> np.ndarray:
        d = self.table.shape[1]
        if self.direct:
            order, sorted_keys = self.order, self.sorted
            qkeys, _ = combine_codes([query[:, j] for j in range(d)], self.radices)
        else:
            both = np.concatenate([self.table, query])
            keys, _ = combine_codes([both[:, j] for j in range(d)], self.radices)
            tkeys, qkeys = keys[: len(self.table)], keys[len(self.table) :]
            order = np.argsort(tkeys, kind="stable")
            sorted_keys = tkeys[order]
        if not len(sorted_keys):
            return np.full(len(qkeys), -1, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_keys, qkeys), 0, len(sorted_keys) - 1)
        return np.where(sorted_keys[pos] == qkeys, order[pos], -1)
