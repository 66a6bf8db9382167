"""Free-text columns: long, varied strings whose embedded personal data is summarized with
the span finder of :mod:`veil.detect.text` (per type: how many values hold one, and two
masked examples), on up to ``text_sample`` distinct values per column."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.detect.masking import mask
from veil.detect.text import SpanFinder
from veil.discovery.column_state import ColumnState


def looks_like_text(
    st: ColumnState, values: pa.Array, counts: np.ndarray, lengths: np.ndarray
) -> bool:
    """A string column whose values are long (25+ characters), wordy (4+ words) and varied."""
    if st.kind != "string":
        return False
    total = counts.sum()
    if total == 0:
        return False
    mean_len = float((np.minimum(lengths, 2000) * counts).sum() / total)
    spaces = pc.count_substring(values, " ").to_numpy(zero_copy_only=False)
    mean_words = float(((np.minimum(spaces, 400) + 1) * counts).sum() / total)
    distinct_ratio = len(values) / total
    return mean_len >= 25 and mean_words >= 4 and (distinct_ratio >= 0.2 or len(values) >= 50)


class TextSummary:
    """Finds the spans in a free-text column's distinct values and counts them by type."""

    def __init__(self, finder: SpanFinder, text_sample: int | None) -> None:
        self.finder = finder
        self.text_sample = text_sample

    def add(self, st: ColumnState, values: pa.Array, counts: np.ndarray) -> None:
        rep = st.report
        rep.free_text = True
        if self.text_sample is not None:
            room = self.text_sample - st.text_seen
            if room <= 0:
                return
            if len(values) > room:
                values = values.slice(0, room)
                counts = counts[:room]
        scan = self.finder.scan(values)
        st.text_seen += len(values)
        rep.text_values_scanned += len(values)
        for i, (spans, cnt) in enumerate(zip(scan.spans, counts.tolist(), strict=True)):
            seen: set[str] = set()
            for sp in spans:
                if sp.type in seen:
                    continue
                seen.add(sp.type)
                rep.embedded[sp.type] = rep.embedded.get(sp.type, 0) + cnt
                acc = st.acc("_text:" + sp.type)
                if len(acc.examples) < 2:
                    v = values[i].as_py()
                    acc.examples.append(mask(v[sp.start : sp.end], sp.type))
