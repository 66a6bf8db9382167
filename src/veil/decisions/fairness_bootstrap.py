"""Bootstrap confidence intervals for group fairness figures, from cell counts.

Every figure of a fairness report (selection rate, false positive and false negative rates per
group; demographic-parity and equalized-odds differences) depends only on how many decisions fall
in each cell (group, actual outcome: unknown/0/1, selected: 0/1). Resampling the n decisions with
replacement (the ordinary row bootstrap) therefore draws the cell counts from a multinomial
distribution with the observed cell proportions; drawing those counts directly is the same
bootstrap at a cost independent of n (1M decisions cost what 1,000 do). Intervals are percentile
intervals; the generator is ``numpy.random.default_rng(seed)`` (seed 0 by default), so a report is
reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["NEG", "POS", "UNKNOWN", "CellCounts", "bootstrap_intervals", "cell_counts", "figures"]

UNKNOWN, NEG, POS = 0, 1, 2  # actual outcome states


@dataclass(frozen=True)
class CellCounts:
    """counts[g, a, s]: decisions of group g with actual state a (unknown, 0, 1), selected s."""

    groups: list[str]
    counts: Any  # int64 array (G, 3, 2)


def cell_counts(group_codes: Any, groups: list[str], actual: Any, selected: Any) -> CellCounts:
    """Counts from per-decision arrays: ``group_codes`` (ints into ``groups``), ``actual``
    (float: NaN unknown, else 0/1), ``selected`` (bool)."""
    a = np.where(np.isnan(actual), UNKNOWN, np.where(actual > 0, POS, NEG)).astype(np.int64)
    flat = (group_codes.astype(np.int64) * 3 + a) * 2 + selected.astype(np.int64)
    counts = np.bincount(flat, minlength=len(groups) * 6).reshape(len(groups), 3, 2)
    return CellCounts(groups, counts)


def figures(counts: Any) -> dict[str, Any]:
    """The figures from counts of shape (..., G, 3, 2); leading axes are resamples. They follow
    Fairlearn's definitions (``selection_rate``, ``false_positive_rate``,
    ``false_negative_rate``, ``demographic_parity_difference``, ``equalized_odds_difference``,
    each group's rates from its own rows, the differences between groups, the worst of the
    true and false positive rate differences): an error rate is NaN for a group with no known
    outcome (Fairlearn never sees the group) and 0 where the group has known outcomes but none
    of the rate's class (scikit-learn's confusion matrix, normalised, turns 0/0 into 0).
    Differences skip NaN groups (a resample may leave a group out)."""
    c = counts.astype(float)
    known = c[..., NEG:, :].sum(axis=(-2, -1)) > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        selection = c[..., 1].sum(axis=-1) / c.sum(axis=(-2, -1))
        neg, pos = c[..., NEG, :].sum(axis=-1), c[..., POS, :].sum(axis=-1)
        rates = [np.where(known, np.where(d > 0, x / np.where(d > 0, d, 1), 0.0), np.nan)
                 for x, d in ((c[..., NEG, 1], neg), (c[..., POS, 0], pos),
                              (c[..., POS, 1], pos))]
    fpr, fnr, tpr = rates
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: no such figure
        dp = np.nanmax(selection, axis=-1) - np.nanmin(selection, axis=-1)
        eo = np.maximum(np.nanmax(tpr, axis=-1) - np.nanmin(tpr, axis=-1),
                        np.nanmax(fpr, axis=-1) - np.nanmin(fpr, axis=-1))
    return {"selection_rate": selection, "false_positive_rate": fpr,
            "false_negative_rate": fnr, "demographic_parity_difference": dp,
            "equalized_odds_difference": eo}


def bootstrap_intervals(cells: CellCounts, *, resamples: int = 1000, seed: int = 0,
                        level: float = 0.95) -> dict[str, Any]:
    """Percentile intervals (lower, upper arrays) for each of `figures`' entries."""
    flat = cells.counts.reshape(-1)
    n = int(flat.sum())
    if n == 0 or resamples <= 0:
        return {}
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n, flat / n, size=resamples).reshape((resamples, *cells.counts.shape))
    boot = figures(draws)
    lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
    import warnings

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, values in boot.items():
            out[name] = (np.nanquantile(values, lo, axis=0), np.nanquantile(values, hi, axis=0))
    return out
