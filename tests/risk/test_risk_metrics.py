"""Every risk metric on small tables whose figures are worked out by hand in the comments."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow as pa
import pytest

from veil.errors import InputError, PolicyError
from veil.risk import Hierarchy, aggregate, measure
from veil.risk import metrics as M

# -- identity disclosure -------------------------------------------------------------------------
#
# zip    age  | class | size
# 47677  20s  |  A    |  3
# 47909  20s  |  B    |  4
# 47677  30s  |  C    |  2
# 47909  40s  |  D    |  1
ROWS = [("47677", "20s")] * 3 + [("47909", "20s")] * 4 + [("47677", "30s")] * 2 + [("47909", "40s")]


@pytest.fixture()
def identity_table() -> pa.Table:
    return pa.table({"zip": [r[0] for r in ROWS], "age": [r[1] for r in ROWS]})


def test_class_sizes_k_and_distribution(identity_table: pa.Table) -> None:
    ec = aggregate(identity_table, ["zip", "age"])
    assert ec.records == 10
    assert ec.classes == 4
    assert sorted(ec.sizes.tolist()) == [1, 2, 3, 4]
    assert M.k_anonymity(ec) == 1
    assert M.class_size_distribution(ec) == {1: 1, 2: 1, 3: 1, 4: 1}


def test_uniqueness_and_prosecutor_risk(identity_table: pa.Table) -> None:
    ec = aggregate(identity_table, ["zip", "age"])
    # one record (D) is alone in its class: 1/10
    assert M.sample_uniqueness(ec) == pytest.approx(0.1)
    # highest = 1/min|E| = 1/1; average (ARX) = #classes/#records = 4/10
    assert M.prosecutor_risk(ec) == pytest.approx((1.0, 0.4))
    # risks: A 1/3, B 1/4, C 1/2, D 1.  > 0.3: A+C+D = 3+2+1 = 6 records
    assert M.records_at_risk(ec, 0.3) == pytest.approx(0.6)
    # > 0.5 (strictly): only D (C's 0.5 is not above 0.5)
    assert M.records_at_risk(ec, 0.5) == pytest.approx(0.1)
    # > 0.2: every record (B's 0.25 too)
    assert M.records_at_risk(ec, 0.2) == pytest.approx(1.0)
    assert M.records_at_risk(ec, 1.0) == 0.0


def test_qi_contribution_and_riskiest_classes(identity_table: pa.Table) -> None:
    ec = aggregate(identity_table, ["zip", "age"])
    # without age, classes are by zip: 47677 x5, 47909 x5 -> no unique: drop 0.1
    # without zip, classes are by age: 20s x7, 30s x2, 40s x1 -> still 1 unique: drop 0
    contrib = M.qi_contributions(ec)
    assert [c.quasi_identifier for c in contrib] == ["age", "zip"]
    assert contrib[0].drop == pytest.approx(0.1)
    assert contrib[0].uniqueness_without == 0.0
    assert contrib[1].drop == pytest.approx(0.0)
    assert contrib[1].uniqueness_without == pytest.approx(0.1)
    risky = M.riskiest_classes(ec, top=2)
    assert [(r.size, r.risk) for r in risky] == [(1, 1.0), (2, 0.5)]
    # values are masked: first character kept
    assert risky[0].values == {"zip": "4****", "age": "4**"}
    assert risky[1].values == {"zip": "4****", "age": "3**"}
    assert M.mask_value(None) == "null"
    assert M.mask_value("*") == "*"
    assert M.mask_value(7) == "*"


def test_report_to_dict_is_json(identity_table: pa.Table) -> None:
    r = measure(identity_table, ["zip", "age"], risk_threshold=0.3, top=1)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["k"] == 1
    assert d["classes"] == 4
    assert d["class_size_distribution"] == {"1": 1, "2": 1, "3": 1, "4": 1}
    assert d["records_at_risk"] == pytest.approx(0.6)
    assert d["prosecutor_risk_average"] == pytest.approx(0.4)
    assert d["riskiest_classes"] == [
        {"size": 1, "risk": 1.0, "values": {"zip": "4****", "age": "4**"}}
    ]


# -- attribute disclosure --------------------------------------------------------------------------
#
# class | disease                        | salary
#   A   | flu, flu, cancer               | 1, 2, 3
#   B   | flu, gastritis, cancer, cancer | 2, 4, 5, 5
#   C   | gastritis, gastritis, flu      | 1, 1, 3
# table: flu 4/10, cancer 3/10, gastritis 3/10; salary 1:.3 2:.2 3:.2 4:.1 5:.2
DISEASE = [
    "flu",
    "flu",
    "cancer",
    "flu",
    "gastritis",
    "cancer",
    "cancer",
    "gastritis",
    "gastritis",
    "flu",
]
SALARY = [1, 2, 3, 2, 4, 5, 5, 1, 1, 3]
CLASS = ["A"] * 3 + ["B"] * 4 + ["C"] * 3
# disease hierarchy (height 2); pneumonia is in the hierarchy but not in the data
DISEASE_H = [
    ["flu", "respiratory", "*"],
    ["cancer", "digestive", "*"],
    ["gastritis", "digestive", "*"],
    ["pneumonia", "respiratory", "*"],
]


@pytest.fixture()
def ec() -> M.EquivalenceClasses:
    t = pa.table({"cls": CLASS, "disease": DISEASE, "salary": SALARY})
    return aggregate(t, ["cls"], ["disease", "salary"])


def test_distinct_and_entropy_l(ec: M.EquivalenceClasses) -> None:
    sc = ec.sensitive["disease"]
    assert M.per_class_distinct(sc, ec.sizes).tolist() == [2, 3, 2]
    assert M.distinct_l_diversity(ec, "disease") == 2
    # H(A) = H(2/3, 1/3) = ln 3 - 2/3 ln 2; H(B) = H(1/4, 1/4, 1/2) = 1.5 ln 2; H(C) = H(A)
    h = M.per_class_entropy(sc, ec.sizes)
    assert h == pytest.approx(
        [math.log(3) - 2 / 3 * math.log(2), 1.5 * math.log(2), math.log(3) - 2 / 3 * math.log(2)]
    )
    # entropy l = exp(min H) = 3 / 2^(2/3) = 1.889881...
    assert M.entropy_l_diversity(ec, "disease") == pytest.approx(3 / 2 ** (2 / 3))


def test_recursive_cl(ec: M.EquivalenceClasses) -> None:
    sc = ec.sensitive["disease"]
    # l = 2: A: r=(2,1) -> 2/1; B: r=(2,1,1) -> 2/(1+1) = 1; C: (2,1) -> 2
    assert M.per_class_recursive_ratio(sc, ec.sizes, 2).tolist() == [2.0, 1.0, 2.0]
    assert M.recursive_cl_diversity(ec, "disease", 2) == 2.0  # satisfied iff c > 2
    # l = 3: A and C have only two values: no c works
    assert M.per_class_recursive_ratio(sc, ec.sizes, 3).tolist() == [math.inf, 2.0, math.inf]
    # l = 1: r1 / (all) -> 2/3, 2/4, 2/3
    assert M.per_class_recursive_ratio(sc, ec.sizes, 1) == pytest.approx([2 / 3, 0.5, 2 / 3])
    with pytest.raises(PolicyError):
        M.recursive_cl_diversity(ec, "disease", 0)


def test_alpha_k(ec: M.EquivalenceClasses) -> None:
    # largest share in a class: A 2/3 (flu), B 1/2 (cancer), C 2/3 (gastritis)
    assert M.alpha_k_anonymity(ec, "disease") == (pytest.approx(2 / 3), 3)
    # share of flu: A 2/3, B 1/4, C 1/3; of cancer: A 1/3, B 1/2, C 0
    assert M.alpha_k_anonymity(ec, "disease", "flu")[0] == pytest.approx(2 / 3)
    assert M.alpha_k_anonymity(ec, "disease", "cancer")[0] == pytest.approx(0.5)
    assert M.alpha_k_anonymity(ec, "disease", "measles")[0] == 0.0
    with pytest.raises(PolicyError, match="does not fit column 'salary'"):
        M.alpha_k_anonymity(ec, "salary", "high")


def test_t_closeness_equal_distance(ec: M.EquivalenceClasses) -> None:
    # A: 1/2 (|2/3-.4| + |1/3-.3| + |0-.3|) = 1/2 (.26667 + .03333 + .3) = .3
    # B: 1/2 (|.25-.4| + |.5-.3| + |.25-.3|) = 1/2 (.15 + .2 + .05) = .2
    # C: 1/2 (|1/3-.4| + |0-.3| + |2/3-.3|) = 1/2 (.06667 + .3 + .36667) = 11/30
    emd = M.per_class_emd_equal(ec.sensitive["disease"], ec.sizes)
    assert emd == pytest.approx([0.3, 0.2, 11 / 30])
    assert M.t_closeness_equal(ec, "disease") == pytest.approx(11 / 30)


def test_t_closeness_hierarchical(ec: M.EquivalenceClasses) -> None:
    h = Hierarchy("disease", DISEASE_H)
    # Li et al.: cost = sum over inner nodes N of height(N)/H * min(pos_e, neg_e), H = 2
    # A: extras flu +.2667, cancer +.0333, gastritis -.3, pneumonia 0
    #    respiratory: min(.2667, 0) = 0; digestive: min(.0333, .3) = .0333 -> 1/2 * .0333
    #    root: respiratory +.2667, digestive -.2667 -> 2/2 * .2667;  total 17/60
    # B: extras flu -.15, cancer +.2, gastritis -.05
    #    respiratory 0; digestive min(.2, .05) -> .025; root min(.15, .15) -> .15; total .175
    # C: extras flu -.0667, cancer -.3, gastritis +.3667
    #    respiratory 0; digestive min(.3667, .3) -> .15; root .0667;  total 13/60
    emd = M.per_class_emd_hierarchical(ec.sensitive["disease"], ec.sizes, h)
    assert emd == pytest.approx([17 / 60, 0.175, 13 / 60])
    assert M.t_closeness_hierarchical(ec, "disease", h) == pytest.approx(17 / 60)
    # With a flat hierarchy (value -> *) it is the equal-distance EMD.
    flat = Hierarchy("disease", [["flu", "*"], ["cancer", "*"], ["gastritis", "*"]])
    assert M.per_class_emd_hierarchical(ec.sensitive["disease"], ec.sizes, flat) == (
        pytest.approx(M.per_class_emd_equal(ec.sensitive["disease"], ec.sizes))
    )


def test_t_closeness_ordered(ec: M.EquivalenceClasses) -> None:
    # m = 5 values, Q cumulative .3 .5 .7 .8 1
    # A: P cum 1/3 2/3 1 1 1 -> |P-Q| = .0333 .1667 .3 .2 0 = .7   -> .7/4 = .175
    # B: P cum 0 .25 .25 .5 1 -> .3 .25 .45 .3 0 = 1.3                -> .325
    # C: P cum 2/3 2/3 1 1 1 -> .3667 .1667 .3 .2 0 = 1.0333           -> .258333
    emd = M.per_class_emd_ordered(ec.sensitive["salary"], ec.sizes)
    assert emd == pytest.approx([0.175, 0.325, 1.0333333333 / 4])
    assert M.t_closeness_ordered(ec, "salary") == pytest.approx(0.325)
    # reversing the order mirrors both CDFs: the distances do not change
    rev = M.per_class_emd_ordered(ec.sensitive["salary"], ec.sizes, order=[5, 4, 3, 2, 1])
    assert rev == pytest.approx(emd)
    # explicit order 1,3,2,4,5: Q cum .3 .5 .7 .8 1
    # A: P cum 1/3 2/3 1 1 1 -> .175;  B: 0 0 .25 .5 1 -> .3+.5+.45+.3 = 1.55 -> .3875
    # C: 2/3 1 1 1 1 -> .3667+.5+.3+.2 = 1.3667 -> .341667
    odd = M.per_class_emd_ordered(ec.sensitive["salary"], ec.sizes, order=[1, 3, 2, 4, 5])
    assert odd == pytest.approx([0.175, 0.3875, 1.3666666667 / 4])
    with pytest.raises(PolicyError):
        M.t_closeness_ordered(ec, "disease")  # strings have no natural order here
    with pytest.raises(PolicyError):
        M.per_class_emd_ordered(ec.sensitive["salary"], ec.sizes, order=[1, 2, 3])


def test_t_closeness_ordered_li_et_al_example() -> None:
    # Li, Li, Venkatasubramanian (ICDE 2007), salary example: Q uniform over 3k..11k,
    # P1 = {3k,4k,5k} -> 0.375, P2 = {6k,8k,11k} -> 0.167 (=1/6); P3 = {7k,9k,10k}:
    # |P-Q| = 1,2,3,4,2,3,1,1,0 (ninths) = 17/9 -> /8 = 17/72
    t = pa.table({"c": [1, 1, 1, 2, 2, 2, 3, 3, 3], "s": [3, 4, 5, 6, 11, 8, 7, 9, 10]})
    ec = aggregate(t, ["c"], ["s"])
    emd = M.per_class_emd_ordered(ec.sensitive["s"], ec.sizes)
    assert emd == pytest.approx([0.375, 1 / 6, 17 / 72])


def test_delta_disclosure(ec: M.EquivalenceClasses) -> None:
    # |log2(p/q)| over present values: A: flu log2(5/3) = .73697, cancer log2(10/9)
    # B: flu |log2(.625)| = .67807, cancer log2(5/3), gastritis |log2(5/6)|
    # C: flu |log2(5/6)|, gastritis log2(20/9) = 1.15200
    d = M.per_class_delta(ec.sensitive["disease"], ec.sizes)
    assert d == pytest.approx([math.log2(5 / 3), math.log2(5 / 3), math.log2(20 / 9)])
    assert M.delta_disclosure(ec, "disease") == pytest.approx(math.log2(20 / 9))


def test_report_sensitive_section(ec: M.EquivalenceClasses) -> None:
    h = Hierarchy("disease", DISEASE_H)
    r = M.report(ec, sensitive_hierarchies={"disease": h})
    s = r.sensitive["disease"]
    assert (s.distinct_l, s.recursive_l, s.recursive_c) == (2, 2, 2.0)
    assert s.entropy_l == pytest.approx(3 / 2 ** (2 / 3))
    assert s.t_equal == pytest.approx(11 / 30)
    assert s.t_hierarchical == pytest.approx(17 / 60)
    assert s.t_ordered is None  # categorical, no order given
    assert s.alpha == pytest.approx(2 / 3)
    assert s.delta == pytest.approx(math.log2(20 / 9))
    assert r.sensitive["salary"].t_ordered == pytest.approx(0.325)
    assert r.sensitive["salary"].t_hierarchical is None


def test_single_class_table_is_trivially_close() -> None:
    t = pa.table({"q": ["x"] * 4, "s": ["a", "b", "a", "c"]})
    r = measure(t, ["q"], ["s"])
    assert r.k == 4 and r.classes == 1
    assert r.sample_uniqueness == 0.0
    s = r.sensitive["s"]
    assert s.t_equal == pytest.approx(0.0)
    assert s.delta == pytest.approx(0.0)
    assert s.distinct_l == 3


def test_nulls_are_a_value() -> None:
    t = pa.table({"q": ["x", None, None, "x"], "r": [1, 2, 2, None]})
    ec = aggregate(t, ["q", "r"])
    assert sorted(ec.sizes.tolist()) == [1, 1, 2]
    assert ec.class_values(int(np.argmax(ec.sizes))) == {"q": None, "r": 2}


def test_batches_of_nulls_then_values() -> None:
    batches = [
        pa.record_batch({"q": pa.nulls(2)}),
        pa.record_batch({"q": pa.array(["a", None, "a"])}),
        pa.record_batch({"q": pa.array([1], pa.int64())}),
    ]
    # the column's type is fixed by the first batch that has values; later ones are cast
    ec = aggregate(batches, ["q"])
    assert ec.dictionaries[0].to_pylist() == ["1", "a", None]
    assert ec.sizes.tolist() == [1, 2, 3]
    bad = [pa.record_batch({"q": pa.array([1, 2])}), pa.record_batch({"q": pa.array(["x"])})]
    with pytest.raises(InputError, match="column 'q' changes type from int64 to string"):
        aggregate(bad, ["q"])


def test_streaming_merges_partials_with_bounded_buffer(identity_table: pa.Table) -> None:
    agg = M.ClassAggregator(["zip", "age"], buffer_rows=2)
    for batch in identity_table.to_batches(max_chunksize=1):
        agg.update(batch)
    ec = agg.finish()
    # compaction ran (more partial rows than the buffer) and the result is exact
    assert agg._parts[None].merged > 0 and len(agg._parts[None].keys) <= 4
    assert sorted(ec.sizes.tolist()) == [1, 2, 3, 4]


def test_wide_codes_fall_back_to_arrow_grouping() -> None:
    # 7 columns of 1000 distinct values need 7 x 11 bits > 63: partials move to group_by
    rows = 3000
    cols = {f"c{j}": [(i * (j + 3)) % 1000 for i in range(rows)] for j in range(7)}
    cols["s"] = [i % 3 for i in range(rows)]
    t = pa.table(cols)
    agg = M.ClassAggregator([f"c{j}" for j in range(7)], ["s"], buffer_rows=500)
    for batch in t.to_batches(max_chunksize=256):
        agg.update(batch)
    assert agg._parts[None].tables is not None
    ec = agg.finish()
    # every row is its own class (c0 = i mod 1000 and c1 = 4i mod 1000 ... repeat only
    # with period 1000, and c0..c6 together with period 1000 too): 1000 classes of 3
    assert ec.classes == 1000 and set(ec.sizes.tolist()) == {3}
    assert ec.sensitive["s"].counts.sum() == rows
    # rows i, i+1000, i+2000 have s = i, i+1, i+2 (mod 3): three values in every class
    assert M.distinct_l_diversity(ec, "s") == 3
    assert M.entropy_l_diversity(ec, "s") == pytest.approx(3.0)


def test_bad_input() -> None:
    t = pa.table({"a": [1, 2]})
    with pytest.raises(InputError, match="column 'b' is not in the data"):
        measure(t, ["b"])
    with pytest.raises(InputError, match="empty table"):
        measure(t.slice(0, 0), ["a"])
    with pytest.raises(PolicyError, match="at least one quasi-identifier"):
        aggregate(t, [])
    with pytest.raises(PolicyError, match="both quasi-identifier and sensitive"):
        measure(t, ["a"], ["a"])
    with pytest.raises(PolicyError, match="not aggregated as a sensitive"):
        M.distinct_l_diversity(aggregate(t, ["a"]), "a")
