"""ARX's simpler quality models (Precision, Height, AECS, DM*) and the aggregates of per-QI
losses (arithmetic, sum, max, geometric) computed by hand on a small table, and the search's
optimum under each model equal to the brute force's."""

from __future__ import annotations

import pyarrow as pa
import pytest

from veil.risk import Anonymizer, Hierarchy, KAnonymity, aggregate
from veil.risk.quality_simple import AECS, DMStar, Height, Precision

# one QI, 10 records; level 1 pairs the values (v // 2), level 2 is "*" (height 2)
TABLE = pa.table({"a": [0, 0, 1, 2, 2, 3, 4, 4, 5, 6]})
HS = {"a": Hierarchy("a", [[str(v), f"p{v // 2}", "*"] for v in range(7)])}


def engine(quality) -> Anonymizer:
    ec = aggregate(TABLE, ["a"])
    return Anonymizer(ec, HS, [KAnonymity(2)], suppression_limit=0.2, quality=quality)


# node (1,): classes p0 = {0, 0, 1}, p1 = {2, 2, 3}, p2 = {4, 4, 5} (3 records each) and
# p3 = {6} (1 record, under k = 2: suppressed; the limit is 2 records)
@pytest.mark.parametrize(
    ("quality", "expected"),
    [
        (Precision(), (9 * 1 / 2 + 1) / 10),  # (kept * level / height + suppressed) / N
        (Height(), 1.0),  # the sum of the levels
        (AECS(), 10 / (3 + 1)),  # N / (kept classes + 1, as a record is suppressed)
        (DMStar(), 3 * 3**2 + 1**2),  # sum |E|^2 over every class
    ],
)
def test_the_loss_at_a_node_by_hand(quality, expected: float) -> None:
    ev = engine(quality).evaluate((1,))
    assert ev.anonymous and ev.suppressed == 1
    assert ev.loss == pytest.approx(expected)


@pytest.mark.parametrize("quality", [Precision(), Height(), AECS(), DMStar()])
def test_the_search_agrees_with_the_brute_force(quality) -> None:
    # level 0 suppresses 1, 3, 5 and 6 (4 records > 2): the optimum is generalized
    brute = engine(quality).evaluate_all()
    best, _ = engine(quality).search()
    assert best.node == tuple(int(v) for v in brute.nodes[brute.optimum()])
    assert best.node != (0,)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("arithmetic", (0.55 + 1.0) / 2),
        ("sum", 0.55 + 1.0),
        ("max", 1.0),
        ("geometric", ((0.55 + 1) * (1.0 + 1)) ** 0.5 - 1),
    ],
)
def test_the_aggregates_of_per_qi_losses_by_hand(how: str, expected: float) -> None:
    # a second QI, constant, generalized to "*" (height 1): its precision is (9 + 1) / 10;
    # the first's is 0.55 as above (node (1, 1) has the classes of (1,))
    table = TABLE.append_column("b", pa.array([0] * 10))
    hs = {**HS, "b": Hierarchy("b", [["0", "*"]])}
    ec = aggregate(table, ["a", "b"])
    eng = Anonymizer(ec, hs, [KAnonymity(2)], suppression_limit=0.2, quality=Precision(how))
    assert eng.evaluate((1, 1)).loss == pytest.approx(expected)
