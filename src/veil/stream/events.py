"""One micro-batch of JSON events as a `veil.io.readers.Source`, so `veil.pipeline.run`
treats it exactly as a batch input: same plan, stages, receipt and audit events.

A rejected event is named by its stream and sequence (``nats://…/ORDERS: sequence 17, column
'amount'``), never by its values. An event without a field the purpose needs is a schema change:
a reject, which fails the micro-batch unless the dataset quarantines bad rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from veil.io.readers import OnReject, Reject, Source, json_column
from veil.io.types import conform


@dataclass
class EventReject(Reject):
    """A reject whose ``record`` is the event's stream sequence."""

    def place(self, source: str) -> str:
        col = f", column '{self.column}'" if self.column else ""
        return f"{source}: sequence {self.record}{col}"


class EventSource(Source):
    """JSON events ``(stream sequence, payload)``; ``required``: the fields the purpose reads
    (listed in the header even when no event has them, so a missing one is named per event)."""

    format = "nats-jetstream"

    def __init__(self, name: str, events: Sequence[tuple[int, bytes]],
                 required: Sequence[str]) -> None:
        super().__init__(name)
        self.events = list(events)
        self.required = list(required)
        self.size = sum(len(d) for _, d in self.events)
        seqs = [s for s, _ in self.events]
        self.snapshot = {"sequences": ranges(seqs), "events": len(seqs)}
        self._objects: list[tuple[int, Any, bytes]] | None = None

    def _parsed(self) -> list[tuple[int, Any, bytes]]:
        if self._objects is None:
            out = []
            for seq, data in self.events:
                try:
                    obj: Any = json.loads(data)
                except (UnicodeDecodeError, json.JSONDecodeError):
                    obj = None
                out.append((seq, obj, data))
            self._objects = out
        return self._objects

    def header(self) -> list[str]:
        keys: dict[str, None] = {}
        for _, obj, _ in self._parsed():
            if isinstance(obj, dict):
                keys.update(dict.fromkeys(obj))
        keys.update(dict.fromkeys(self.required))
        return list(keys)

    def batches(self, columns: Sequence[str], types: dict[str, str],
                on_reject: OnReject) -> Iterator[pa.RecordBatch]:
        h = hashlib.sha256()
        rows: list[dict[str, Any]] = []
        seqs: list[int] = []
        for seq, obj, data in self._parsed():
            h.update(data)
            self.position += len(data)
            if not isinstance(obj, dict):
                on_reject(EventReject(seq, None, None, "an event must be a JSON object",
                                      data.decode("utf-8", "replace")))
                continue
            missing = [c for c in self.required if c not in obj]
            if missing:
                on_reject(EventReject(seq, None, missing[0], "field missing from the event "
                                      "(a schema change?)", obj))
                continue
            rows.append(obj)
            seqs.append(seq)
        self._digest = h.hexdigest()
        arrays = [json_column([r.get(c) for r in rows], types.get(c, "string")) for c in columns]
        batch = pa.RecordBatch.from_arrays(arrays, names=list(columns))
        out, bad = conform(batch, types)
        if bad:
            for b in bad:
                on_reject(EventReject(seqs[b.row], None, b.column, b.reason, rows[b.row]))
            badrows = {b.row for b in bad}
            out = out.filter(pa.array([i not in badrows for i in range(out.num_rows)]))
        if out.num_rows:
            yield out


def ranges(seqs: Sequence[int]) -> list[list[int]]:
    """Sorted sequences as ``[[first, last], ...]`` runs (the receipt stays small)."""
    out: list[list[int]] = []
    for s in sorted(set(seqs)):
        if out and s == out[-1][1] + 1:
            out[-1][1] = s
        else:
            out.append([s, s])
    return out
