"""`SubjectKeys._put_many` (how a batch's primitives enter the LRU cache) leaves the cache as
a least-recently-used cache of ``cache_size`` entries would be after those subjects were used
in turn: same entries, same order (a subject used again moves to the newest end)."""

from __future__ import annotations

import os
from collections import OrderedDict

from hypothesis import given, settings
from hypothesis import strategies as st

from veil.kek.providers import StaticKEK
from veil.keys.subject_keys import SubjectKeys


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 6),
       batches=st.lists(st.lists(st.integers(0, 9), unique=True, max_size=8), max_size=5))
def test_put_many_is_an_lru_used_in_turn(size: int, batches: list[list[int]]) -> None:
    keys = SubjectKeys(StaticKEK(os.urandom(32)), cache_size=size)
    model: OrderedDict[str, object] = OrderedDict()
    for batch in batches:
        pairs = [(f"s{i}", object()) for i in batch]
        for s, p in pairs:
            model.pop(s, None)
            model[s] = p
            while len(model) > size:
                model.popitem(last=False)
        keys._put_many(pairs)  # type: ignore[arg-type]
        assert list(keys._cache.items()) == list(model.items())
