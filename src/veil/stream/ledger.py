"""Which stream sequences an output folder holds already: the dedupe behind at-least-once.

A micro-batch is published by a `veil.pipeline.run` whose receipt names the sequences it read
(``input.snapshot.sequences``); the store commits that receipt in the same transaction that
makes the run succeed. So the store, read at start and kept up to date after each micro-batch,
says exactly which events are out: a redelivered one is acknowledged, never written twice,
whatever crashed between the publish and the acknowledgement.
"""

from __future__ import annotations

import bisect
from pathlib import Path

import sqlalchemy as sa

from veil.store.schema import runs
from veil.store.workspace import Workspace

PREFIX = "batch-"


def batch_name(first: int, last: int) -> str:
    """The file of a micro-batch, named by its first and last stream sequence."""
    return f"{PREFIX}{first:012d}-{last:012d}.parquet"


class Ledger:
    """The published sequences of one stream in one output folder, as sorted ranges."""

    def __init__(self, ws: Workspace, stream_ref: str, folder: Path) -> None:
        self.stream_ref = stream_ref
        self._starts: list[int] = []
        self._ranges: list[tuple[int, int, str]] = []  # (first, last, file), sorted by first
        prefix = str(folder / PREFIX)
        with ws.engine.connect() as conn:
            rows = conn.execute(sa.select(runs.c.output_ref, runs.c.receipt).where(
                runs.c.status == "succeeded", runs.c.input_ref == stream_ref,
                runs.c.output_ref.startswith(prefix, autoescape=True)))
            for out_ref, receipt in rows:
                snap = ((receipt or {}).get("input") or {}).get("snapshot") or {}
                self.add(Path(out_ref).name, [tuple(r) for r in snap.get("sequences", [])])

    def add(self, name: str, seq_ranges: list[tuple[int, ...]] | list[list[int]]) -> None:
        for first, last in seq_ranges:
            i = bisect.bisect(self._starts, first)
            self._starts.insert(i, first)
            self._ranges.insert(i, (first, last, name))

    def file_of(self, seq: int) -> str | None:
        """The published file that holds ``seq``, or None."""
        i = bisect.bisect(self._starts, seq) - 1
        if i >= 0:
            first, last, name = self._ranges[i]
            if first <= seq <= last:
                return name
        return None

    def __len__(self) -> int:
        return sum(last - first + 1 for first, last, _ in self._ranges)
