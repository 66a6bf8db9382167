"""ARX's published optima on UCI Adult for the newer privacy and quality models.

Every expected node and loss below is copied from ARX's test suite (arx-deidentifier/arx):

* ``TestAnonymizationBLikeness`` @ f8518512: basic / enhanced beta-likeness, Loss metric;
* ``TestAnonymizationEntropyLDiversity`` @ ad8324a8: entropy l-diversity with the Shannon and
  Grassberger estimators, non-monotonic non-uniform entropy (``createPrecomputedEntropyMetric(
  0.1, false)``);
* ``TestAnonymizationKAnonymity`` @ 78829501: k-anonymity with ``createEntropyMetric(true)``
  (monotonic non-uniform entropy), all nine columns as QIs;
* ``TestRiskMetrics.testAverageRisk2`` @ 9f5b7004: the average risk after 2-anonymity with
  the Loss metric and the RANK aggregate.

The sensitive-attribute cases use the eight columns other than ``occupation`` as QIs, in the
file's order (ARX's transformation arrays follow it).
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from veil.risk import (
    Anonymizer,
    EntropyLDiversity,
    KAnonymity,
    Loss,
    NonUniformEntropy,
    NoSolution,
    aggregate,
    anonymize,
)
from veil.risk.likeness import grassberger_g
from veil.risk.privacy import BasicBetaLikeness, EnhancedBetaLikeness
from veil.risk.quality_simple import MonotonicNonUniformEntropy

SENSITIVE = "occupation"


@pytest.fixture(scope="module")
def eight(adult_table: pa.Table, adult_hierarchies: dict):
    qis = [c for c in adult_table.column_names if c != SENSITIVE]
    hs = {q: adult_hierarchies[q] for q in qis}
    return aggregate(adult_table, qis, [SENSITIVE], hierarchies=hs), hs


def optimum(eight, models, limit, quality):
    ec, hs = eight
    best, _ = Anonymizer(ec, hs, models, suppression_limit=limit, quality=quality).search()
    return best


@pytest.mark.parametrize(
    ("model", "limit", "loss", "node"),
    [
        (EnhancedBetaLikeness(SENSITIVE, 2), 0.0, 0.759176305345683, (1, 4, 1, 1, 3, 2, 2, 0)),
        (BasicBetaLikeness(SENSITIVE, 5), 0.4, 0.23350465152356303, (0, 2, 0, 0, 2, 0, 1, 0)),
        (BasicBetaLikeness(SENSITIVE, 3), 0.5, 0.34883856157237925, (0, 3, 0, 0, 2, 0, 1, 0)),
        (EnhancedBetaLikeness(SENSITIVE, 10), 1.0, 0.3419039849540606, (0, 3, 0, 0, 3, 1, 2, 0)),
    ],
)
def test_beta_likeness(eight, model, limit, loss, node) -> None:
    best = optimum(eight, [model], limit, Loss())
    assert best.node == node
    assert best.loss == pytest.approx(loss, rel=1e-9)


@pytest.mark.parametrize(
    ("model", "limit", "loss", "node"),
    [
        (EntropyLDiversity(SENSITIVE, 5), 0.04, 228878.2039109517, (1, 0, 1, 1, 2, 2, 2, 1)),
        (
            EntropyLDiversity(SENSITIVE, 5, "grassberger"),
            0.0,
            324620.5269918692,
            (1, 1, 1, 1, 3, 2, 2, 1),
        ),
    ],
)
def test_entropy_l_diversity(eight, model, limit, loss, node) -> None:
    best = optimum(eight, [model], limit, NonUniformEntropy())
    assert best.node == node
    assert best.loss == pytest.approx(loss, rel=1e-9)


def test_entropy_l_100_has_no_solution(eight) -> None:
    with pytest.raises(NoSolution):
        optimum(eight, [EntropyLDiversity(SENSITIVE, 100)], 0.04, NonUniformEntropy())


def test_grassberger_with_suppression_beats_arx_published_optimum(
    eight, adult_path: Path
) -> None:
    """ARX publishes (1,0,1,0,3,2,2,0), loss 216092.124, for Grassberger l = 5 at 4%. Veil
    finds (1,0,1,1,2,2,2,0) with a lower loss, and that node meets ARX's own criterion
    (``EntropyLDiversity.isAnonymous``: at least ceil(l) values and ``sum n G(n) <= N (G(N) -
    ln l)``), recomputed here in plain Python: 1,107 records fail, 1,206 may be suppressed.
    ARX's loss at its own node (216092.124) does not match the one Veil computes there
    either (215062.364 with 922 suppressed), so the published figure reflects a different
    set of suppressed classes; Veil keeps the definition."""
    model = EntropyLDiversity(SENSITIVE, 5, "grassberger")
    best = optimum(eight, [model], 0.04, NonUniformEntropy())
    assert best.node == (1, 0, 1, 1, 2, 2, 2, 0)
    assert best.loss < 216092.124036387
    with open(adult_path / "adult.csv", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    header, rows = rows[0], rows[1:]
    levels = {}
    for q in header:
        with open(adult_path / f"adult_hierarchy_{q}.csv", newline="") as fh:
            levels[q] = {r[0]: r for r in csv.reader(fh, delimiter=";")}
    qis = [q for q in header if q != SENSITIVE]
    classes: dict[tuple, Counter] = defaultdict(Counter)
    for r in rows:
        key = tuple(levels[q][r[header.index(q)]][lv] for q, lv in zip(qis, best.node, strict=True))
        classes[key][r[header.index(SENSITIVE)]] += 1

    def g(n: int) -> float:
        return float(grassberger_g(np.array([n]))[0])

    failing = 0
    for counts in classes.values():
        n = sum(counts.values())
        ok = len(counts) >= 5 and sum(c * g(c) for c in counts.values()) <= n * (
            g(n) - math.log(5)
        )
        failing += 0 if ok else n
    assert failing == best.suppressed == 1107
    assert failing <= math.floor(0.04 * len(rows))


@pytest.mark.parametrize(
    ("k", "limit", "loss", "node"),
    [
        (5, 0.04, 255559.85455731067, (1, 0, 1, 1, 3, 2, 2, 0, 1)),
        (100, 0.04, 379417.3460570988, (1, 1, 1, 1, 3, 2, 2, 1, 1)),
        (5, 0.0, 407289.5388925293, (1, 2, 1, 1, 3, 2, 2, 1, 1)),
        (100, 0.0, 453196.8932458743, (0, 4, 1, 1, 3, 2, 2, 1, 1)),
    ],
)
def test_monotonic_non_uniform_entropy(
    adult_table: pa.Table, adult_hierarchies: dict, k, limit, loss, node
) -> None:
    ec = aggregate(adult_table, adult_table.column_names, hierarchies=adult_hierarchies)
    engine = Anonymizer(
        ec,
        adult_hierarchies,
        [KAnonymity(k)],
        suppression_limit=limit,
        quality=MonotonicNonUniformEntropy(),
    )
    best, _ = engine.search()
    assert best.node == node
    assert best.loss == pytest.approx(loss, rel=1e-9)


def test_rank_aggregate_reproduces_arx_average_risk(
    adult_table: pa.Table, adult_hierarchies: dict
) -> None:
    """2-anonymity, no suppression, Loss with RANK: ARX's average risk after is
    0.001922949406538028 (and 0.6465751607983555 before)."""
    r = anonymize(
        adult_table,
        adult_hierarchies,
        [KAnonymity(2)],
        suppression_limit=0.0,
        quality=Loss(aggregate="rank"),
        quasi_identifiers=adult_table.column_names,
    )
    assert r.before.prosecutor_risk_average == pytest.approx(0.6465751607983555, rel=1e-15)
    assert r.after is not None
    assert r.after.prosecutor_risk_average == pytest.approx(0.001922949406538028, rel=1e-15)
