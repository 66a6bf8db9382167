"""ARX's other quality models, by ARX's names and definitions (``org.deidentifier.arx.metric.v2``).

* :class:`DMStar` (``MetricSDDiscernability``, "monotonic discernibility"):
  ``DM* = sum_E |E|^2`` over every class, suppressed or not.
* :class:`MonotonicNonUniformEntropy` (``MetricMDNUEntropyPrecomputed``): the generalization
  part of non-uniform entropy only, ``sum_j sum_v c_j(v) log2(c_j(g_j(v)) / c_j(v))``;
  suppressed records cost nothing more, so the loss depends on the levels alone.
* :class:`Precision` (``MetricMDNMPrecision``, Sweeney 2002): per QI,
  ``(kept * level / height + suppressed) / N``; aggregated by the arithmetic mean (ARX's
  default) or another aggregate.
* :class:`Height` (``MetricMDHeight``): the sum of the levels.
* :class:`AECS` (``MetricSDAECS``, LeFevre et al. 2006, not normalized): ``N / (kept classes
  + 1 if any record is suppressed)``.

Empty classes (a population table's classes without sample records) are not classes of the
release and count nowhere.
"""

from __future__ import annotations

import numpy as np

from veil.risk.lattice import ClassState
from veil.risk.quality import LatticeTables, QualityModel, aggregate_losses, check_aggregate

__all__ = ["AECS", "DMStar", "Height", "MonotonicNonUniformEntropy", "Precision"]


def _present_labels(lattice: LatticeTables) -> list[np.ndarray]:
    """Per QI and level: how many labels hold at least one record."""
    return [
        np.array(
            [
                np.count_nonzero(
                    np.bincount(
                        h.code_map[:, lv],
                        weights=lattice.value_counts[j],
                        minlength=h.domain_size(lv),
                    )
                )
                for lv in range(h.levels)
            ],
            dtype=float,
        )
        for j, h in enumerate(lattice.hierarchies)
    ]


def _max_classes(present: list[np.ndarray], nodes: np.ndarray, records: float) -> np.ndarray:
    """An upper bound of the number of classes at each node (monotone: shrinks upwards)."""
    groups = np.ones(len(nodes))
    for j, p in enumerate(present):
        groups = np.minimum(groups * p[nodes[:, j]], records)
    return np.maximum(groups, 1.0)


class DMStar(QualityModel):
    """ARX's monotonic discernibility ``DM* = sum_E |E|^2`` (suppression ignored)."""

    name = "dm*"
    bottom_up = True

    def prepare(self, lattice: LatticeTables) -> None:
        self._n = float(lattice.records)
        self._present = _present_labels(lattice)

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        # sum |E|^2 >= N^2 / G (Cauchy-Schwarz), G an upper bound of the classes
        return self._n * self._n / _max_classes(self._present, nodes, self._n)

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        sizes = state.sizes.astype(float)
        dm = float(np.dot(sizes, sizes))
        return dm, dm


class MonotonicNonUniformEntropy(QualityModel):
    """ARX's monotonic non-uniform entropy: the generalization part only (see module doc)."""

    name = "monotonic non-uniform entropy"

    def prepare(self, lattice: LatticeTables) -> None:
        self._gen = []
        for j, h in enumerate(lattice.hierarchies):
            c = lattice.value_counts[j].astype(float)
            nz = c > 0
            per_level = np.zeros(h.levels)
            for lv in range(h.levels):
                labels = h.code_map[:, lv]
                c_label = np.bincount(labels, weights=c, minlength=h.domain_size(lv))
                per_level[lv] = float(np.sum(c[nz] * np.log2(c_label[labels[nz]] / c[nz])))
            self._gen.append(per_level)

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        acc = np.zeros(len(nodes))
        for j, gen in enumerate(self._gen):
            acc += gen[nodes[:, j]]
        return acc

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        return float(sum(gen[int(node[j])] for j, gen in enumerate(self._gen))), None


class Precision(QualityModel):
    """ARX's precision (Sweeney 2002): per QI ``(kept * level / height + suppressed) / N``,
    aggregated (``arithmetic`` mean by default, as ARX)."""

    name = "precision"

    def __init__(self, aggregate: str = "arithmetic") -> None:
        self.aggregate = check_aggregate(aggregate)

    def prepare(self, lattice: LatticeTables) -> None:
        self._heights = np.array([h.height for h in lattice.hierarchies], dtype=float)
        self._n = float(lattice.records)

    def _shares(self, nodes: np.ndarray) -> list[np.ndarray]:
        return [
            nodes[:, j] / h if h > 0 else np.zeros(len(nodes))
            for j, h in enumerate(self._heights)
        ]

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return aggregate_losses(self.aggregate, self._shares(nodes))

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        suppressed = float(state.sizes[outliers].sum())
        kept = self._n - suppressed
        shares = self._shares(np.asarray(node)[None, :])
        values = [(kept * s + suppressed) / self._n for s in shares]
        return float(aggregate_losses(self.aggregate, values)[0]), None


class Height(QualityModel):
    """ARX's height: the sum of the generalization levels."""

    name = "height"

    def prepare(self, lattice: LatticeTables) -> None:
        return None

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return nodes.sum(axis=1).astype(float)

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        return float(np.sum(node)), None


class AECS(QualityModel):
    """ARX's average equivalence class size: ``N / (kept classes + 1 if any suppressed)``."""

    name = "aecs"
    bottom_up = True

    def prepare(self, lattice: LatticeTables) -> None:
        self._n = float(lattice.records)
        self._present = _present_labels(lattice)

    def static_bounds(self, nodes: np.ndarray) -> np.ndarray:
        return self._n / _max_classes(self._present, nodes, self._n)

    def loss(
        self, lattice: LatticeTables, node: np.ndarray, state: ClassState, outliers: np.ndarray
    ) -> tuple[float, float | None]:
        present = state.sizes > 0
        classes = int(np.count_nonzero(present))
        kept = int(np.count_nonzero(present & ~outliers))
        groups = kept + (1 if kept != classes else 0)
        # every successor has at most `classes` classes, so AECS >= N / classes there
        return self._n / max(groups, 1), self._n / max(classes, 1)
