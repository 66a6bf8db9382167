"""The UCI Adult table (30,162 rows) with ARX's hierarchies, all nine columns as QIs.

Figures asserted here were computed two independent ways: with this package, and with plain
Python (``csv`` + ``collections.Counter`` + ``math.log2``) in the same test.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from veil.risk import (
    Anonymizer,
    KAnonymity,
    Loss,
    NonUniformEntropy,
    aggregate,
    anonymize,
    load_hierarchies,
    measure,
)

QIS = [
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
]
# k = 5, 4% suppression, non-uniform entropy (gs-factor 0.5): the optimum, by brute force
OPTIMUM = {
    "sex": 1,
    "age": 0,
    "race": 1,
    "marital-status": 1,
    "education": 3,
    "native-country": 2,
    "workclass": 2,
    "occupation": 0,
    "salary-class": 1,
}
OPTIMUM_LOSS = 264971.582558082
OPTIMUM_SUPPRESSED = 906
# the same with ARX's Loss metric (geometric mean): another optimum (brute force agreed
# during development; the test below re-checks the entropy one exhaustively)
LOSS_OPTIMUM = {
    "sex": 0,
    "age": 3,
    "race": 0,
    "marital-status": 1,
    "education": 1,
    "native-country": 1,
    "workclass": 1,
    "occupation": 2,
    "salary-class": 0,
}


@pytest.fixture(scope="module")
def adult_dir(conformance_dir: Path) -> Path:
    return conformance_dir / "adult"


@pytest.fixture(scope="module")
def adult(adult_dir: Path) -> pa.Table:
    table = pacsv.read_csv(adult_dir / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";"))
    assert table.column_names == QIS
    return table


@pytest.fixture(scope="module")
def hierarchies(adult_dir: Path) -> dict:
    return load_hierarchies(sorted(adult_dir.glob("adult_hierarchy_*.csv")))


@pytest.fixture(scope="module")
def rows(adult_dir: Path) -> list[tuple[str, ...]]:
    with (adult_dir / "adult.csv").open(newline="") as fh:
        reader = csv.reader(fh, delimiter=";")
        assert next(reader) == QIS
        return [tuple(r) for r in reader]


@pytest.fixture(scope="module")
def plain_hierarchies(adult_dir: Path) -> dict[str, dict[str, list[str]]]:
    out = {}
    for q in QIS:
        with (adult_dir / f"adult_hierarchy_{q}.csv").open(newline="") as fh:
            out[q] = {r[0]: r for r in csv.reader(fh, delimiter=";")}
    return out


def test_k_and_classes_before(adult: pa.Table, rows: list[tuple[str, ...]]) -> None:
    # plain Python
    counts = Counter(rows)
    assert len(rows) == 30162
    assert len(counts) == 19502
    assert min(counts.values()) == 1
    assert sum(c for c in counts.values() if c == 1) == 15512
    # this package, streamed in small batches
    r = measure(adult.to_batches(max_chunksize=4096), QIS)
    assert (r.records, r.classes, r.k) == (30162, 19502, 1)
    assert r.class_size_distribution[1] == 15512
    assert r.sample_uniqueness == pytest.approx(15512 / 30162)
    assert r.prosecutor_risk_highest == 1.0
    assert r.prosecutor_risk_average == pytest.approx(19502 / 30162)
    # age is the QI whose removal lowers uniqueness most
    assert r.qi_contributions[0].quasi_identifier == "age"
    without_age = Counter(row[:1] + row[2:] for row in rows)
    uniq = sum(c for c in without_age.values() if c == 1) / 30162
    assert r.qi_contributions[0].uniqueness_without == pytest.approx(uniq)


def _plain_entropy(
    rows: list[tuple[str, ...]], hs: dict, levels: list[int], k: int
) -> tuple[int, float, int]:
    """(suppressed, non-uniform entropy, classes) computed with plain Python."""
    gen = [tuple(hs[q][v][lv] for q, v, lv in zip(QIS, row, levels, strict=True)) for row in rows]
    classes = Counter(gen)
    suppressed_rows = [g for g in gen if classes[g] < k]
    s_total = len(suppressed_rows)
    loss = 0.0
    for j, q in enumerate(QIS):
        c = Counter(row[j] for row in rows)
        cg = Counter(hs[q][row[j]][levels[j]] for row in rows)
        loss += sum(n * math.log2(cg[hs[q][v][levels[j]]] / n) for v, n in c.items())
        s = Counter(g[j] for g in suppressed_rows)
        loss += sum(n * math.log2(s_total / n) for n in s.values())
    return s_total, loss, len(classes)


def test_optimum_k5_four_percent(
    adult: pa.Table, hierarchies: dict, rows: list[tuple[str, ...]], plain_hierarchies: dict
) -> None:
    res = anonymize(
        adult, hierarchies, [KAnonymity(5)], suppression_limit=0.04, quality=NonUniformEntropy()
    )
    assert res.levels == OPTIMUM
    assert res.info_loss == pytest.approx(OPTIMUM_LOSS, rel=1e-12)
    assert res.suppressed_records == OPTIMUM_SUPPRESSED
    assert res.suppressed_share <= 0.04  # 906 <= 1206
    assert res.after is not None and res.after.k >= 5
    assert res.after.records == 30162 - 906
    assert res.nodes_evaluated < 300  # pruning: the lattice has 12,960 nodes
    # independent check of that node: plain Python generalization, counting and entropy
    sup, loss, _ = _plain_entropy(rows, plain_hierarchies, [OPTIMUM[q] for q in QIS], 5)
    assert sup == OPTIMUM_SUPPRESSED
    assert loss == pytest.approx(OPTIMUM_LOSS, rel=1e-9)
    # applying it: the written table is 5-anonymous (checked with pyarrow's group_by)
    out = pa.Table.from_batches(list(res.apply(adult.to_batches(max_chunksize=5000))))
    assert out.num_rows == 30162 - 906
    sizes = out.group_by(QIS).aggregate([([], "count_all")])["count_all"].to_numpy()
    assert sizes.min() >= 5
    assert out.column("age").type == pa.int64()  # level 0: values untouched
    assert set(out.column("education").to_pylist()) == {"*"}


def test_loss_metric_optimum(adult: pa.Table, hierarchies: dict) -> None:
    res = anonymize(adult, hierarchies, [KAnonymity(5)], suppression_limit=0.04, quality=Loss())
    assert res.levels == LOSS_OPTIMUM
    assert res.info_loss == pytest.approx(0.26611081921434865, rel=1e-12)
    assert res.suppressed_records == 1178
    assert res.after is not None and res.after.k >= 5


def test_optimum_is_the_best_of_all_12960_nodes(
    adult: pa.Table, hierarchies: dict, rows: list[tuple[str, ...]], plain_hierarchies: dict
) -> None:
    ec = aggregate(adult, QIS, hierarchies=hierarchies)
    eng = Anonymizer(
        ec, hierarchies, [KAnonymity(5)], suppression_limit=0.04, quality=NonUniformEntropy()
    )
    brute = eng.evaluate_all()
    assert len(brute.nodes) == 12960
    anon = brute.anonymous
    best = brute.optimum()
    assert dict(zip(QIS, brute.nodes[best].tolist(), strict=True)) == OPTIMUM
    assert brute.loss[best] == pytest.approx(OPTIMUM_LOSS, rel=1e-12)
    # every other anonymous node loses more information
    others = np.delete(np.flatnonzero(anon), np.flatnonzero(np.flatnonzero(anon) == best))
    assert (brute.loss[others] > brute.loss[best]).all()
    # the brute force's own numbers agree with plain Python on a sample of nodes
    rng = np.random.default_rng(5)
    for i in rng.choice(len(brute.nodes), size=4, replace=False):
        levels = brute.nodes[i].tolist()
        sup, loss, _ = _plain_entropy(rows, plain_hierarchies, levels, 5)
        assert sup == brute.suppressed[i]
        assert loss == pytest.approx(brute.loss[i], rel=1e-9)
        assert anon[i] == (sup <= 1206)
    # the search found it with the pruned lattice
    found, evaluated = eng.search()
    assert found.node == tuple(brute.nodes[best].tolist())
    assert evaluated < 300
