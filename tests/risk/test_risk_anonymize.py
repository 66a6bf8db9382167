"""The lattice search on a table small enough to work out every node by hand."""

from __future__ import annotations

import math

import pyarrow as pa
import pytest

from veil.errors import InputError, PolicyError
from veil.risk import (
    AlphaKAnonymity,
    Anonymizer,
    DeltaDisclosure,
    Discernibility,
    DistinctLDiversity,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
    Hierarchy,
    KAnonymity,
    Loss,
    NonUniformEntropy,
    OrderedDistanceTCloseness,
    RecursiveCLDiversity,
    aggregate,
    anonymize,
    measure,
)

# age sex | age hierarchy: value; decade; *     sex: value; *
# 21  M   |
# 22  M   | lattice (age level, sex level), k = 2, suppressed records per node:
# 23  M   |   (0,0) 8   (0,1) 8   all ages distinct
# 27  F   |   (1,0) 3   20-29/M 3, 20-29/F 2, 30-39/M 1, 30-39/F 1, 50-59/F 1
# 28  F   |   (1,1) 1   20-29 5, 30-39 2, 50-59 1
# 35  M   |   (2,0) 0   M 4, F 4
# 36  F   |   (2,1) 0   all 8
# 52  F   |
AGES = [21, 22, 23, 27, 28, 35, 36, 52]
SEX = list("MMMFFMFF")
AGE_H = Hierarchy("age", [[str(a), f"{a // 10 * 10}-{a // 10 * 10 + 9}", "*"] for a in AGES])
SEX_H = Hierarchy("sex", [["M", "*"], ["F", "*"]])
H = {"age": AGE_H, "sex": SEX_H}
LOG2_5 = math.log2(5)


@pytest.fixture()
def table() -> pa.Table:
    return pa.table({"age": AGES, "sex": SEX, "id": list(range(8))})


def engine(
    table: pa.Table, limit: float, quality: object, models: list | None = None
) -> Anonymizer:
    ec = aggregate(table, ["age", "sex"])
    return Anonymizer(ec, H, models or [KAnonymity(2)], suppression_limit=limit, quality=quality)  # type: ignore[arg-type]


# Non-uniform entropy (g = s = 1), by hand:
#  age: 8 values of count 1. level 1: 20-29 covers 5, 30-39 2, 50-59 1:
#       5 log2 5 + 2 log2 2 + 1 log2 1 = 13.60964;   level 2: 8 log2 8 = 24
#  sex: M 4, F 4.  level 1: 8 log2(8/4) = 8
#  suppression part: sum over the suppressed records' labels x of s(x) log2(S / s(x))
#  (1,1): gen 13.60964 + 8; suppressed 50-59/* (S=1): 0          -> 21.60964
#  (1,0): gen 13.60964; suppressed 30-39/M, 30-39/F, 50-59/F (S=3):
#         age: 2 log2(3/2) + log2 3 = 2.754888, sex: M 1, F 2: the same  -> 19.119415
#  (2,0): 24;  (2,1): 24 + 8 = 32;  (0,0): all 8 suppressed: 8 log2 8 + 8 = 32
ENTROPY = {
    (0, 0): 32.0,
    (0, 1): 32.0,
    (1, 0): 5 * LOG2_5 + 2 + 2 * (2 * math.log2(1.5) + math.log2(3)),
    (1, 1): 5 * LOG2_5 + 2 + 8,
    (2, 0): 24.0,
    (2, 1): 32.0,
}
# Loss (ARX, geometric mean), by hand: share = values covered / domain size;
#  age domain 8, min = 8/8 = 1, max 8; sex domain 2, min = 8/2 = 4, max 8
#  (2,0): age raw 8 -> 1; sex raw 8 * 1/2 = 4 -> 0;   sqrt(2 * 1) - 1 = 0.414214
#  (1,1): age 5*5/8 + 2*2/8 + 1 (suppressed) = 4.625 -> 3.625/7; sex 8 -> 1
#         sqrt((1 + 3.625/7) * 2) - 1 = 0.742330
#  (1,0): age 5*5/8 + 3 = 6.125 -> 5.125/7; sex 5/2 + 3 = 5.5 -> 1.5/4
#         sqrt((1 + 5.125/7) * 1.375) - 1 = 0.543275
LOSS = {
    (2, 0): math.sqrt(2) - 1,
    (1, 1): math.sqrt((1 + 3.625 / 7) * 2) - 1,
    (1, 0): math.sqrt((1 + 5.125 / 7) * 1.375) - 1,
    (2, 1): 1.0,
}
# Discernibility (N = 8): (2,0) 16 + 16 = 32; (2,1) 64; (1,1) 25 + 4 + 8*1 = 37;
#  (1,0) 9 + 4 + 8*3 = 37
DM = {(2, 0): 32.0, (2, 1): 64.0, (1, 1): 37.0, (1, 0): 37.0}
SUPPRESSED = {(0, 0): 8, (0, 1): 8, (1, 0): 3, (1, 1): 1, (2, 0): 0, (2, 1): 0}


@pytest.mark.parametrize(
    "quality,expected", [(NonUniformEntropy(), ENTROPY), (Loss(), LOSS), (Discernibility(), DM)]
)
def test_every_node_by_hand(table: pa.Table, quality: object, expected: dict) -> None:
    eng = engine(table, 3 / 8, quality)
    for node, loss in expected.items():
        ev = eng.evaluate(node)
        assert ev.suppressed == SUPPRESSED[node]
        assert ev.anonymous == (SUPPRESSED[node] <= 3)
        assert ev.loss == pytest.approx(loss), node


@pytest.mark.parametrize(
    "limit,quality,node,loss,suppressed",
    [
        (0.0, NonUniformEntropy(), (2, 0), 24.0, 0),  # only (2,0) and (2,1) are anonymous
        (1 / 8, NonUniformEntropy(), (1, 1), ENTROPY[(1, 1)], 1),
        (3 / 8, NonUniformEntropy(), (1, 0), ENTROPY[(1, 0)], 3),
        (3 / 8, Loss(), (2, 0), LOSS[(2, 0)], 0),
        (3 / 8, Discernibility(), (2, 0), 32.0, 0),
        (1 / 8, Discernibility(), (2, 0), 32.0, 0),
    ],
)
def test_optimum(
    table: pa.Table, limit: float, quality: object, node: tuple, loss: float, suppressed: int
) -> None:
    res = anonymize(table, H, [KAnonymity(2)], suppression_limit=limit, quality=quality)  # type: ignore[arg-type]
    assert res.node == node
    assert res.info_loss == pytest.approx(loss)
    assert res.suppressed_records == suppressed
    assert res.levels == {"age": node[0], "sex": node[1]}
    assert res.nodes_total == 6
    assert res.before.k == 1 and res.after is not None and res.after.k >= 2
    assert res.after.records == 8 - suppressed


def test_apply_generalizes_and_suppresses(table: pa.Table) -> None:
    res = anonymize(table, H, [KAnonymity(2)], suppression_limit=3 / 8)
    assert res.node == (1, 0)
    out = pa.Table.from_batches(list(res.apply(table.to_batches(max_chunksize=3))))
    # 35/M, 36/F, 52/F are suppressed; ages become decades; sex stays as it was
    assert out.column("id").to_pylist() == [0, 1, 2, 3, 4]
    assert out.column("age").to_pylist() == ["20-29"] * 5
    assert out.column("sex").to_pylist() == list("MMMFF")
    assert measure(out, ["age", "sex"]).k == 2
    # sex stays at level 0; as large_string it shows that masked QIs become strings in every
    # batch, also in the first one, which suppresses nothing
    wide = table.set_column(1, "sex", table.column("sex").cast(pa.large_string()))
    batches = list(res.apply(wide.to_batches(max_chunksize=4), suppression="mask"))
    assert batches[0].schema == batches[1].schema
    assert batches[0].schema.field("sex").type == pa.string()
    masked = pa.Table.from_batches(batches)
    assert masked.num_rows == 8
    assert masked.column("age").to_pylist()[5:] == ["*", "*", "*"]
    assert masked.column("sex").to_pylist() == list("MMMFF") + ["*", "*", "*"]
    with pytest.raises(PolicyError):
        list(res.apply(table, suppression="drop"))  # type: ignore[arg-type]


def test_apply_refuses_changed_data(table: pa.Table) -> None:
    res = anonymize(table, H, [KAnonymity(2)], suppression_limit=0.0)
    assert res.node == (2, 0)
    other = pa.table({"age": [21], "sex": ["X"], "id": [9]})
    with pytest.raises(InputError, match="value 'X'"):
        list(res.apply(other))
    res2 = anonymize(table, H, [KAnonymity(2)], suppression_limit=3 / 8)
    shifted = pa.table({"age": [52], "sex": ["M"], "id": [9]})  # 50-59/M never seen
    with pytest.raises(InputError, match="never saw"):
        list(res2.apply(shifted))


def test_no_solution_is_a_policy_error(table: pa.Table) -> None:
    with pytest.raises(PolicyError, match="no generalization satisfies"):
        anonymize(table, H, [KAnonymity(9)])
    # ... unless everything may be suppressed
    res = anonymize(table, H, [KAnonymity(9)], suppression_limit=1.0)
    assert res.suppressed_records == 8 and res.after is None


def test_result_to_dict(table: pa.Table) -> None:
    d = anonymize(table, H, [KAnonymity(2)], suppression_limit=1 / 8).to_dict()
    assert d["levels"] == {"age": 1, "sex": 1}
    assert d["suppressed_records"] == 1
    assert d["suppressed_share"] == pytest.approx(1 / 8)
    assert d["after"]["k"] == 2 and d["before"]["k"] == 1


# -- privacy models with a sensitive attribute -------------------------------------------------
#
# The same 8 people with a diagnosis. At (2,0) the classes are M = {21,22,23,35} and
# F = {27,28,36,52}.
DIAG = ["flu", "flu", "flu", "cancer", "cancer", "flu", "cancer", "asthma"]


@pytest.fixture()
def sens_table() -> pa.Table:
    return pa.table({"age": AGES, "sex": SEX, "diag": DIAG, "n": [1, 2, 3, 4, 5, 6, 7, 8]})


def test_models_at_one_node(sens_table: pa.Table) -> None:
    ec = aggregate(sens_table, ["age", "sex"], ["diag", "n"])

    def anon(*models: object) -> bool:
        eng = Anonymizer(ec, H, list(models))  # type: ignore[arg-type]
        return eng.evaluate((2, 0)).anonymous

    # M: flu x4 (1 distinct value); F: cancer x3, asthma x1
    assert anon(DistinctLDiversity("diag", 1)) and not anon(DistinctLDiversity("diag", 2))
    # alpha: M has flu at 100%
    assert anon(AlphaKAnonymity("diag", 1.0, 4)) and not anon(AlphaKAnonymity("diag", 0.9, 2))
    assert not anon(AlphaKAnonymity("diag", 1.0, 5))
    assert anon(AlphaKAnonymity("diag", 0.5, 2, value="cancer")) is False  # F: 3/4 cancer
    assert anon(AlphaKAnonymity("diag", 0.75, 2, value="cancer"))
    # equal-distance t: table flu .5, cancer .375, asthma .125.
    # M: 1/2(|1-.5| + .375 + .125) = .5;  F: 1/2(.5 + |.75-.375| + |.25-.125|) = .5
    assert anon(EqualDistanceTCloseness("diag", 0.5))
    assert not anon(EqualDistanceTCloseness("diag", 0.49))
    # entropy l: M has entropy 0 -> fails any l > 1
    assert anon(EntropyLDiversity("diag", 1)) and not anon(EntropyLDiversity("diag", 1.01))
    # recursive (c, 1): r1 < c * n -> M: 4 < c*4 needs c > 1
    assert anon(RecursiveCLDiversity("diag", 1.01, 1))
    assert not anon(RecursiveCLDiversity("diag", 1.0, 1))
    # delta: M: |log2(1/.5)| = 1; F: log2(.75/.375) = 1, log2(.25/.125) = 1 -> delta must be > 1
    assert anon(DeltaDisclosure("diag", 1.01)) and not anon(DeltaDisclosure("diag", 1.0))
    # ordered t on n = 1..8 (uniform): M = {1,2,3,6}, F = {4,5,7,8}
    # M cum .25 .5 .75 .75 .75 1 1 1 vs Q i/8: |.125 .25 .375 .25 .125 .25 .125| = 1.5 -> /7
    assert anon(OrderedDistanceTCloseness("n", 1.5 / 7))
    assert not anon(OrderedDistanceTCloseness("n", 1.4 / 7))
    # hierarchical t with a flat hierarchy equals the equal-distance one (.5)
    flat = Hierarchy("diag", [["flu", "*"], ["cancer", "*"], ["asthma", "*"]])
    assert anon(HierarchicalDistanceTCloseness("diag", 0.5, flat))
    assert not anon(HierarchicalDistanceTCloseness("diag", 0.45, flat))


def test_monotonicity_flags() -> None:
    assert KAnonymity(2).monotonic_suppression and DistinctLDiversity("a", 2).monotonic_suppression
    for m in (
        EntropyLDiversity("a", 2),
        RecursiveCLDiversity("a", 2, 2),
        EqualDistanceTCloseness("a", 0.2),
        AlphaKAnonymity("a", 0.5, 2),
    ):
        assert m.monotonic_generalization and not m.monotonic_suppression
    assert not DeltaDisclosure("a", 1).monotonic_generalization
    assert KAnonymity(3).min_class_size == 3 and EntropyLDiversity("a", 2.5).min_class_size == 3


def test_non_monotone_search_matches_brute_force(sens_table: pa.Table) -> None:
    ec = aggregate(sens_table, ["age", "sex"], ["diag"])
    for models in (
        [KAnonymity(2), EqualDistanceTCloseness("diag", 0.5)],
        [DeltaDisclosure("diag", 1.01)],
        [KAnonymity(2), EntropyLDiversity("diag", 1.0)],
    ):
        for limit in (0.0, 0.25, 0.5):
            eng = Anonymizer(ec, H, models, suppression_limit=limit)
            ev = eng.evaluate_all()
            opt = ev.optimum()
            if opt < 0:
                with pytest.raises(PolicyError):
                    eng.search()
                continue
            best, _ = eng.search()
            assert best.node == tuple(int(x) for x in ev.nodes[opt])
            assert best.loss == ev.loss[opt]


def test_bad_configuration(sens_table: pa.Table) -> None:
    ec = aggregate(sens_table, ["age", "sex"])
    with pytest.raises(PolicyError, match="at least one privacy model"):
        Anonymizer(ec, H, [])
    with pytest.raises(PolicyError, match="suppression limit"):
        Anonymizer(ec, H, [KAnonymity(2)], suppression_limit=1.5)
    with pytest.raises(PolicyError, match="not aggregated as a sensitive"):
        Anonymizer(ec, H, [DistinctLDiversity("diag", 2)])
    with pytest.raises(PolicyError, match="k >= 1"):
        KAnonymity(0)
    with pytest.raises(PolicyError, match="gs_factor"):
        NonUniformEntropy(1.5)
    eng = Anonymizer(ec, H, [KAnonymity(2)])
    with pytest.raises(PolicyError, match="not in the lattice"):
        eng.evaluate((3, 0))


def test_gs_factor_weights_suppression(table: pa.Table) -> None:
    # gs = 0 -> suppression is free (s = 0): (1,0) costs only its generalization 13.60964
    # gs = 1 -> generalization is free (g = 0): (2,0) costs 0 and wins
    eng0 = engine(table, 3 / 8, NonUniformEntropy(0.0))
    assert eng0.evaluate((1, 0)).loss == pytest.approx(5 * LOG2_5 + 2)
    # gs = 1: (1,1), (2,0), (2,1) all cost 0 (one suppressed label costs 1 log2(1/1) = 0);
    # ties go to the lower node, then the lexicographically smaller one: (1,1)
    res = anonymize(
        table, H, [KAnonymity(2)], suppression_limit=3 / 8, quality=NonUniformEntropy(1.0)
    )
    assert (res.node, res.info_loss) == ((1, 1), 0.0)
    assert engine(table, 3 / 8, NonUniformEntropy(1.0)).evaluate((1, 0)).loss == (
        pytest.approx(2 * (2 * math.log2(1.5) + math.log2(3)))
    )


def test_codes_wider_than_64_bits() -> None:
    # 7 QIs with 1,003 values each: keys need 7 x 10 bits > 63, so the aggregate, the lattice
    # and apply() all take their rank-compression paths. Rows i and i + 1000 are equal
    # (classes of 2); three extra rows are unique and must be suppressed.
    n, d = 2000, 7
    cols = {
        f"c{j}": [(i * (j + 3)) % 1000 for i in range(n)] + [1000, 1001, 1002] for j in range(d)
    }
    t = pa.table(cols)
    hs = {f"c{j}": Hierarchy(f"c{j}", [[str(v), "*"] for v in range(1003)]) for j in range(d)}
    res = anonymize(t, hs, [KAnonymity(2)], suppression_limit=3 / 2003)
    assert res.node == (0,) * d
    assert res.suppressed_records == 3
    # non-uniform entropy: no generalization; the 3 suppressed records have 3 distinct values
    # in each of the 7 columns: 7 * 3 * log2(3 / 1)
    assert res.info_loss == pytest.approx(21 * math.log2(3))
    out = pa.Table.from_batches(list(res.apply(t.to_batches(max_chunksize=500))))
    assert out.num_rows == 2000
    assert out.column("c0").to_pylist() == cols["c0"][:2000]
    assert measure(out, list(cols)).k == 2
