"""What the risk search's property tests share: small random tables with four-level
hierarchies, and the non-monotone models by name with one strength parameter ``x`` in [0, 1]."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import strategies as st

from veil.risk.hierarchy import Hierarchy
from veil.risk.privacy import (
    AlphaKAnonymity,
    BasicBetaLikeness,
    DeltaDisclosure,
    EnhancedBetaLikeness,
    EntropyLDiversity,
    EqualDistanceTCloseness,
    HierarchicalDistanceTCloseness,
)

S_HIERARCHY = Hierarchy("s", [[str(v), f"p{v // 2}", "*"] for v in range(4)])


def model_of(kind: str, x: float):
    return {
        "delta": lambda: DeltaDisclosure("s", 0.2 + 3 * x),
        "basic": lambda: BasicBetaLikeness("s", 0.1 + 3 * x),
        "enhanced": lambda: EnhancedBetaLikeness("s", 0.1 + 3 * x),
        "equal": lambda: EqualDistanceTCloseness("s", x),
        "hierarchical": lambda: HierarchicalDistanceTCloseness("s", x / 2, S_HIERARCHY),
        "entropy": lambda: EntropyLDiversity("s", 1.0 + 2.5 * x),
        "alpha": lambda: AlphaKAnonymity("s", 0.2 + 0.8 * x, 1),
    }[kind]()


@st.composite
def tables(draw: st.DrawFn, max_rows: int = 40,
           text: bool = False) -> tuple[pa.Table, dict[str, Hierarchy]]:
    """1-3 quasi-identifiers q0.. with domains of 1-8 values and a sensitive ``s`` of 4 values
    (as integers, or with ``text`` as strings)."""
    rows = draw(st.integers(2, max_rows))
    cols: dict[str, list] = {}
    hs: dict[str, Hierarchy] = {}
    for j in range(draw(st.integers(1, 3))):
        domain = draw(st.integers(1, 8))
        values = draw(st.lists(st.integers(0, domain - 1), min_size=rows, max_size=rows))
        cols[f"q{j}"] = [str(v) for v in values] if text else values
        hs[f"q{j}"] = Hierarchy(
            f"q{j}", [[str(v), f"p{v // 2}", f"q{v // 4}", "*"] for v in range(domain)]
        )
    s = draw(st.lists(st.integers(0, 3), min_size=rows, max_size=rows))
    cols["s"] = [str(v) for v in s] if text else s
    return pa.table(cols), hs
