"""The utility of a released table: how much an analyst can still tell apart and predict.

Computed on the classes of the chosen node (suppressed classes marked), so the figures are
those of the table the second pass writes:

* ``discernibility`` (ARX ``MetricSDNMDiscernability``, Bayardo & Agrawal 2005):
  ``sum_(kept E) |E|^2 + sum_(suppressed E) N |E|``; ``dm_star``: ``sum_E |E|^2``;
* ``aecs`` (ARX ``MetricSDAECS``): ``N / (kept classes + 1 if any record is suppressed)``;
* ``classification`` (Iyengar 2002, ARX ``MetricSDClassification`` with its default
  penalties of 1): the share of records a majority vote per class cannot classify - in a
  kept class, the records outside its majority value of the target attribute (all of them
  when no value is a strict majority, i.e. the two most frequent tie), plus every
  suppressed record. 0 is perfect, 1 the worst.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from veil.risk.lattice import ClassState, SensitivePairs

__all__ = ["Utility", "utility_of"]


@dataclass(frozen=True)
class Utility:
    """Utility figures of a released table (see the module doc)."""

    records: int
    released: int
    suppressed: int
    classes: int
    discernibility: float
    dm_star: float
    aecs: float
    classification: float | None = None
    target: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _classification(pairs: SensitivePairs, sizes: np.ndarray, out: np.ndarray) -> float:
    """Iyengar's classification metric (penalties 1) over the kept classes + suppression."""
    n = len(sizes)
    order = np.lexsort((-pairs.counts, pairs.class_index))
    ci, c = pairs.class_index[order], pairs.counts[order].astype(float)
    top1, top2 = np.zeros(n), np.zeros(n)
    if len(ci):
        starts = np.flatnonzero(np.r_[True, ci[1:] != ci[:-1]])
        top1[ci[starts]] = c[starts]
        second = starts + 1
        has2 = second < len(ci)
        has2[has2] = ci[second[has2]] == ci[starts[has2]]
        top2[ci[starts[has2]]] = c[second[has2]]
    kept = ~out & (sizes > 0)
    penalty = np.where(top1 > top2, sizes - top1, sizes)
    total = float(sizes.sum())
    return float(penalty[kept].sum() + sizes[out].sum()) / total if total else 0.0


def utility_of(state: ClassState, out: np.ndarray, target: str | None = None) -> Utility:
    """The utility of the classes ``state`` with the ``out`` ones suppressed; ``target``: a
    sensitive attribute aggregated in ``state`` for the classification metric."""
    sizes = state.sizes.astype(float)
    present = sizes > 0
    n = float(sizes.sum())
    squares = sizes * sizes
    kept = present & ~out
    classes = int(np.count_nonzero(present))
    kept_classes = int(np.count_nonzero(kept))
    suppressed = int(sizes[out].sum())
    groups = kept_classes + (1 if kept_classes != classes else 0)
    classification = None
    if target is not None:
        classification = _classification(state.pairs[target], state.sizes, out)
    return Utility(
        records=int(n),
        released=int(n) - suppressed,
        suppressed=suppressed,
        classes=kept_classes,
        discernibility=float(np.sum(np.where(out, n * sizes, squares))),
        dm_star=float(squares.sum()),
        aecs=n / max(groups, 1),
        classification=classification,
        target=target,
    )
