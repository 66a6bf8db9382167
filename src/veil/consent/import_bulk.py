"""`veil consent import` over columns: the CSV read a chunk at a time, checked column by column
(:mod:`~veil.consent.columns_bulk`), appended by the database's bulk paths
(:mod:`~veil.consent.append_bulk`) with its audit events built per chunk
(:mod:`~veil.consent.audit_bulk`), all in ONE transaction as the row-by-row import
(:func:`~veil.consent.streaming.append_stream` over :func:`~veil.consent.interchange.iter_csv`)
does it: the same stored events, states and audit events, the same first error, nothing
written on any error.

The CSV is parsed by the standard library's reader (its quoting rules and line numbers are the
ones the row path gives); a record the reader refuses, or one with a wrong number of fields,
ends the chunk and is raised unless a row before it in the chunk fails its own checks first, as
in the row path.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.consent.append_bulk import new_states, resolve_notices, stored_ids, write_chunk
from veil.consent.audit_bulk import audit_events
from veil.consent.audit_trail import screen_consent_text
from veil.consent.columns_bulk import Chunk, checked_columns
from veil.consent.interchange import open_csv, read_error, read_header, row_event
from veil.consent.models import now_us
from veil.errors import ConsentError
from veil.store.transactions import retrying

if TYPE_CHECKING:
    from veil.consent.interchange import ImportReport
    from veil.consent.ledger import Ledger

__all__ = ["import_columns"]


def _chunks(path: Path, delimiter: str, encoding: str, collector: str | None,
            size: int) -> Iterator[tuple[Chunk, ConsentError | None]]:
    """Chunks of records; a record that cannot be read ends its chunk with the error (raised
    after the rows before it are judged)."""
    name = path.name
    with open_csv(path, encoding) as fh:
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        header = read_header(_first(reader, name), name, collector)
        width = len(header)
        chunk = Chunk(name, header)
        rows, lines = chunk.rows, chunk.lines
        prev = reader.line_num
        try:
            for row in reader:  # the hot loop: one record, its first line
                start, prev = prev + 1, reader.line_num
                if len(row) != width:
                    if not row or (len(row) == 1 and not row[0].strip()):
                        continue  # a blank line
                    row_event(header, row, f"{name}:{start}", None, collector)  # raises
                rows.append(row)
                lines.append(start)
                if len(rows) >= size:
                    yield chunk, None
                    chunk = Chunk(name, header)
                    rows, lines = chunk.rows, chunk.lines
        except (UnicodeDecodeError, csv.Error) as exc:
            yield chunk, read_error(exc, name, reader.line_num)
            return
        except ConsentError as exc:
            yield chunk, exc
            return
        if rows:
            yield chunk, None


def _first(reader: Any, name: str) -> Iterator[tuple[int, list[str]]]:
    """The header record, as ``interchange._records`` gives it."""
    start = reader.line_num + 1
    try:
        row = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise read_error(exc, name, reader.line_num) from None
    if row is not None:
        yield start, row


def import_columns(ledger: Ledger, path: Path, *, collector: str | None, delimiter: str,
                   encoding: str, chunk: int, report: Callable[..., ImportReport]
                   ) -> ImportReport:
    """Import a consent CSV (see the module docstring); returns what it imported."""
    ledger.ref.key()  # the audit trail needs it: no KEK, no write
    from veil.audit.log import AuditLog

    log = AuditLog(ledger.workspace)
    now = now_us()
    name = path.name

    def write(conn: Any) -> tuple[int, Counter[str], set[str], set[str]]:
        kinds: Counter[str] = Counter()
        subjects: set[str] = set()
        purposes: set[str] = set()
        n = 0
        for part, pending in _chunks(path, delimiter, encoding, collector, chunk):
            cols = checked_columns(part, ledger, collector, now, pending)
            hits = stored_ids(conn, cols["event_id"])
            _refuse_repeats(cols, hits, now, name)
            screen_consent_text(set(cols["collector"]), set(cols["channel"]))
            if hits:
                first = next(i for i, e in enumerate(cols["event_id"]) if e in hits)
                raise ConsentError("duplicate event id: the ledger already has an event with "
                                   "this id", where=cols["source"][first])
            resolve_notices(conn, cols)
            write_chunk(conn, cols, new_states(conn, cols, ledger.ref))
            log.append_in(conn, audit_events(ledger.ref, cols))
            kinds.update(cols["kind"])
            subjects.update(cols["subject"])
            purposes.update(cols["purpose"])
            n += len(cols["kind"])
        return n, kinds, subjects, purposes

    n, kinds, subjects, purposes = retrying(ledger.engine, "appending consent events", write)
    return report(file=str(path), events=n, by_event=dict(sorted(kinds.items())),
                  subjects=len(subjects), purposes=sorted(purposes))


def _refuse_repeats(cols: dict[str, list[Any]], hits: dict[str, tuple[int, str | None]],
                    now: int, name: str) -> None:
    """An event id seen earlier in the file (this chunk, or an earlier chunk already written in
    this transaction): refused naming both places, at the first such row. Ids stored before
    the import are left to the stored-id check (after the text screen, as in the row path);
    ``hits`` keeps only those."""
    ids = cols["event_id"]
    first: dict[str, int] = {}
    mine = {e for e, (rec, src) in hits.items()
            if rec == now and src is not None and src.startswith(name + ":")}
    repeat = None
    for i, e in enumerate(ids) if len(set(ids)) < len(ids) or mine else ():
        if e in mine or e in first:
            repeat = i
            break
        first[e] = i
    if repeat is not None:
        e = ids[repeat]
        src = hits[e][1] if e in mine else cols["source"][first[e]]
        also = f" (first at {src})" if src else ""
        raise ConsentError(f"duplicate event id{also}", where=cols["source"][repeat])
    for e in mine:
        del hits[e]
