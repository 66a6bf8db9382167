"""Figures kept between requests when they are costly to compute: the Consent page's (and the
Decisions page's 30-day counts, by the same rule).

A ledger of a million subjects takes seconds to aggregate (a full pass over its tables), far
more than a page may take. So: a small ledger (its figures computed in under
:data:`FRESH_BELOW` seconds, or fewer than :data:`INLINE_EVENTS` events before the first
computation) is aggregated on every request and always current; a large one is aggregated in a
background thread, at most once per ``max(MIN_AGE, 10 x the last computation's time)``, and
the page shows the last figures with the time they were computed ("as of"). Only a page view
starts a computation: nobody looking, no load. One computation at a time per workspace.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    """Figures that say how long they took to compute."""

    @property
    def seconds(self) -> float: ...


F = TypeVar("F", bound=Timed)

FRESH_BELOW = 0.2  # seconds: figures this quick to compute are computed on every request
INLINE_EVENTS = 100_000  # events: the first computation below this size runs in the request
MIN_AGE = 60.0  # seconds: large figures are recomputed at most this often (or 10x their cost)


@dataclass(frozen=True)
class Snapshot(Generic[F]):
    """What the page shows: the figures (None before the first computation ends), whether a
    computation is running, and the last computation's error (None when it succeeded)."""

    figures: F | None
    computing: bool
    error: str | None = None


class FiguresCache(Generic[F]):
    """The last figures of one workspace; :meth:`get` never waits for a large ledger."""

    def __init__(self, compute: Callable[[], F], size: Callable[[], int], *,
                 fresh_below: float = FRESH_BELOW, inline_events: int = INLINE_EVENTS,
                 min_age: float = MIN_AGE) -> None:
        self._compute, self._size = compute, size
        self.fresh_below, self.inline_events, self.min_age = fresh_below, inline_events, min_age
        self._lock = threading.Lock()
        self._figures: F | None = None
        self._taken = 0.0  # monotonic time the figures were computed
        self._thread: threading.Thread | None = None
        self._error: str | None = None

    def get(self) -> Snapshot[F]:
        """The figures to show now (computed in this call when that is cheap)."""
        with self._lock:
            figures, running = self._figures, self._running()
        if running:
            return Snapshot(figures, True, self._error)
        if figures is None:
            if self._size() < self.inline_events:
                return self._inline()
            return self._start(None)
        if figures.seconds < self.fresh_below:
            return self._inline()
        if time.monotonic() - self._taken > max(self.min_age, 10 * figures.seconds):
            return self._start(figures)
        return Snapshot(figures, False, self._error)

    @property
    def computing(self) -> bool:
        """Whether a background computation is running now."""
        return self._running()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a running computation (tests and the benchmark)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _inline(self) -> Snapshot[F]:
        self._store(self._compute())
        return Snapshot(self._figures, False, None)

    def _store(self, figures: F) -> None:
        with self._lock:
            self._figures, self._taken, self._error = figures, time.monotonic(), None

    def _start(self, figures: F | None) -> Snapshot[F]:
        with self._lock:
            if not self._running():
                self._thread = threading.Thread(target=self._background, daemon=True,
                                                name="veil-ui-consent-figures")
                self._thread.start()
        return Snapshot(figures, True, self._error)

    def _background(self) -> None:
        try:
            self._store(self._compute())
        except Exception as exc:  # shown on the page; the next view tries again
            from veil.errors import VeilError

            message = exc.message if isinstance(exc, VeilError) else type(exc).__name__
            with self._lock:
                self._error, self._taken = f"the figures could not be computed: {message}", 0.0


__all__ = ["FRESH_BELOW", "INLINE_EVENTS", "MIN_AGE", "FiguresCache", "Snapshot", "Timed"]
