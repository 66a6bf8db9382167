"""The figures cache: a small ledger is aggregated in the request (always current); a large one
in the background, the page showing the last figures meanwhile, at most once per period; an
error is shown, not raised."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from veil.errors import StoreError
from veil.ui.pages.consent_cache import FiguresCache
from veil.ui.pages.consent_figures import ConsentFigures


def figures(seconds: float, n: int = 0) -> ConsentFigures:
    return ConsentFigures(at=datetime.now(UTC), purposes=[], weeks=[], in_force={},
                          activity={}, events=n, seconds=seconds)


class Counting:
    def __init__(self, seconds: float, gate: threading.Event | None = None) -> None:
        self.calls, self.seconds, self.gate = 0, seconds, gate

    def __call__(self) -> ConsentFigures:
        if self.gate is not None:
            assert self.gate.wait(10)
        self.calls += 1
        return figures(self.seconds, self.calls)


def test_a_small_ledger_is_aggregated_in_every_request() -> None:
    compute = Counting(0.01)
    cache = FiguresCache(compute, lambda: 10)
    first, second = cache.get(), cache.get()
    assert not first.computing and first.figures is not None and first.figures.events == 1
    assert second.figures is not None and second.figures.events == 2


def test_a_large_ledger_is_aggregated_in_the_background() -> None:
    gate = threading.Event()
    compute = Counting(3.0, gate)
    cache = FiguresCache(compute, lambda: 10_000_000, min_age=60)
    snap = cache.get()
    assert snap.computing and snap.figures is None  # the page says "being computed"
    assert cache.get().computing and compute.calls == 0  # one computation at a time
    gate.set()
    cache.wait(10)
    done = cache.get()
    assert not done.computing and done.figures is not None and done.figures.events == 1
    assert cache.get().figures is done.figures and compute.calls == 1  # kept within the period


def test_old_figures_are_shown_while_newer_ones_are_computed() -> None:
    gate = threading.Event()
    gate.set()
    compute = Counting(0.5, gate)
    cache = FiguresCache(compute, lambda: 10_000_000, min_age=0)
    cache.get()
    cache.wait(10)
    gate.clear()
    cache._taken -= 10  # older than 10 x its cost
    stale = cache.get()
    assert stale.computing and stale.figures is not None and stale.figures.events == 1
    gate.set()
    cache.wait(10)
    assert cache.get().figures.events == 2


def test_a_failed_computation_is_shown_and_tried_again() -> None:
    calls = []

    def broken() -> ConsentFigures:
        calls.append(1)
        raise StoreError("database is locked")

    cache = FiguresCache(broken, lambda: 10_000_000)
    cache.get()
    cache.wait(10)
    snap = cache.get()  # starts a new attempt, showing the last error meanwhile
    assert snap.figures is None and snap.error is not None and "database is locked" in snap.error
    cache.wait(10)
    assert len(calls) == 2
