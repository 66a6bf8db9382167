"""Consent interchange: CSV import, ISO/IEC TS 27560-structured records, JSON-lines export.

CSV import
    One event per row; a header names the columns (any order):

    ===============  ========  ===============================================================
    column           required  meaning
    ===============  ========  ===============================================================
    subject          yes       the subject id, as it appears in the data
    purpose          yes       one purpose id of the policy (no lists: consent is per purpose)
    event            yes       granted, renewed, withdrawn or expired
    time             yes       ISO 8601 with Z or an offset (2025-03-01T09:30:00Z)
    channel          yes       web_form, app, branch, call_recording, api, paper_form, email
                               (system: expiries only)
    action           grants    the explicit action taken ("clicked 'I agree'")
    notice_version   no        the notice shown (default: the one in effect at that time)
    evidence         no        sha256:<hex> of the signed form / UI snapshot / recording
    collector        no*       who recorded it (*else the importer's ``collector``)
    expires          no        when a grant lapses
    age, guardian    no        age at consent; holder of parental responsibility (Art. 8)
    event_id         no        unique id; default: a keyed digest of the row, so importing the
                               same file twice is refused as duplicates instead of counted twice
    ===============  ========  ===============================================================

    The whole file is one transaction: a malformed row (named ``file:line``) or a rule broken by
    any row leaves the ledger as it was.

Exports
    :func:`subject_record` gives one subject's records as a JSON document structured after
    ISO/IEC TS 27560:2023 (record header, PII processing, parties, events; field names as the W3C
    DPV community group's implementation guide writes them). :func:`export_ledger` writes every
    event as JSON lines, in append order.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.consent.models import (
    KINDS,
    REASONS,
    ConsentEvent,
    Event,
    format_us,
    now_us,
    parse_time,
)
from veil.errors import ConsentError, ConsentInputError

if TYPE_CHECKING:
    from veil.consent.ledger import Ledger
    from veil.policy.model import Policy

COLUMNS: tuple[str, ...] = ("event_id", "subject", "purpose", "event", "time", "notice_version",
                            "channel", "action", "evidence", "collector", "expires", "age",
                            "guardian")
REQUIRED: tuple[str, ...] = ("subject", "purpose", "event", "time", "channel")
_ID_COLUMNS = tuple(c for c in COLUMNS if c != "event_id")  # what a derived event id covers
MAX_FIELD = 4096


@dataclass
class ImportReport:
    file: str
    events: int
    by_event: dict[str, int] = field(default_factory=dict)
    subjects: int = 0
    purposes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "events": self.events, "by_event": self.by_event,
                "subjects": self.subjects, "purposes": self.purposes}


def _records(fh: io.TextIOBase, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, fields) for each CSV record; decoding errors name the line."""
    reader = csv.reader(fh, delimiter=delimiter, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except (UnicodeDecodeError, csv.Error) as exc:
            raise read_error(exc, name, reader.line_num) from None
        yield start, row


def read_error(exc: UnicodeDecodeError | csv.Error, name: str, line_num: int) -> ConsentError:
    """The error of a record the csv reader refused (``line_num``: the reader's, then)."""
    if isinstance(exc, UnicodeDecodeError):
        return ConsentError(f"not valid text in the file's encoding ({exc.reason})",
                            where=f"{name}:{line_num + 1}")
    return ConsentError(f"malformed CSV: {exc}", where=f"{name}:{line_num}")


def read_csv(path: str | os.PathLike[str], *, ledger: Ledger | None = None,
             collector: str | None = None, delimiter: str = ",",
             encoding: str = "utf-8") -> list[ConsentEvent]:
    """Parse a consent CSV into events (each with ``source`` = ``file:line``); no store access.

    Missing event ids are derived from the row with the ledger's key (or, without a ledger, an
    unkeyed SHA-256)."""
    return list(iter_csv(path, ledger=ledger, collector=collector, delimiter=delimiter,
                         encoding=encoding))


def iter_csv(path: str | os.PathLike[str], *, ledger: Ledger | None = None,
             collector: str | None = None, delimiter: str = ",",
             encoding: str = "utf-8") -> Iterator[ConsentEvent]:
    """:func:`read_csv` one event at a time (the file is opened on the first ``next``)."""
    p = Path(path)
    name = p.name
    with open_csv(p, encoding) as fh:
        records = _records(fh, name, delimiter)
        header = read_header(records, name, collector)
        for line, row in records:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # a blank line
            yield row_event(header, row, f"{name}:{line}", ledger, collector)


def open_csv(p: Path, encoding: str) -> io.TextIOBase:
    """The file opened for the csv module; a missing or unreadable file is one clear line."""
    try:
        return open(p, encoding=encoding, newline="")  # type: ignore[return-value]  # noqa: SIM115
    except FileNotFoundError:
        raise ConsentInputError("file not found", where=str(p)) from None
    except OSError as exc:
        raise ConsentInputError(f"cannot read file: {exc.strerror}", where=str(p)) from None
    except LookupError:
        raise ConsentError(f"unknown text encoding '{encoding}'") from None


def read_header(records: Iterator[tuple[int, list[str]]], name: str,
                collector: str | None) -> list[str]:
    """The header's column names (lower case), refusing unknown, repeated or missing ones."""
    first = next(records, None)
    if first is None:
        raise ConsentError("empty file: expected a header line naming the columns "
                           f"({', '.join(REQUIRED)}, ...)", where=f"{name}:1")
    hline, header = first
    header = [h.strip().lstrip("\ufeff").lower() for h in header]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise ConsentError(f"unknown column name in column {header.index(unknown[0]) + 1} "
                           f"of the header (known: {', '.join(COLUMNS)})",
                           where=f"{name}:{hline}")
    dupes = [h for h, n in Counter(header).items() if n > 1]
    if dupes:
        raise ConsentError(f"column '{dupes[0]}' appears twice", where=f"{name}:{hline}")
    missing = [c for c in REQUIRED if c not in header]
    if "collector" not in header and not collector:
        missing.append("collector")
    if missing:
        raise ConsentError(f"missing column{'s' if len(missing) > 1 else ''} "
                           f"{', '.join(missing)}", where=f"{name}:{hline}")
    return header


def row_event(header: list[str], row: list[str], where: str, ledger: Ledger | None,
              collector: str | None) -> ConsentEvent:
    """One record (not blank) as an event: the field count, the length limit, then the
    columns' own checks (the row's first refusal, named by ``where``)."""
    if len(row) != len(header):
        raise ConsentError(f"expected {len(header)} fields, found {len(row)}", where=where)
    values = {h: (v.strip() or None) for h, v in zip(header, row, strict=True)}
    too_long = next((h for h, v in values.items() if v and len(v) > MAX_FIELD), None)
    if too_long:
        raise ConsentError(f"column '{too_long}' is longer than {MAX_FIELD} characters",
                           where=where)
    return _event(values, where, ledger, collector)


def _event(v: dict[str, str | None], where: str, ledger: Ledger | None,
           collector: str | None) -> ConsentEvent:
    for col in REQUIRED:
        if not v.get(col):
            raise ConsentError(f"column '{col}' is empty", where=where)
    kind = (v["event"] or "").lower()
    if kind not in KINDS:
        raise ConsentError(f"column 'event' is not one of {', '.join(KINDS)}", where=where)
    try:
        t = parse_time(v["time"] or "", "column 'time'")
        raw_expires = v.get("expires")
        expires = parse_time(raw_expires, "column 'expires'") if raw_expires else None
    except ConsentError as exc:
        raise ConsentError(exc.message, where=where) from None
    age: int | None = None
    if v.get("age"):
        try:
            age = int(v["age"] or "")
        except ValueError:
            raise ConsentError("column 'age' is not a whole number of years", where=where) from None
    event_id = v.get("event_id")
    if not event_id:
        canon = "\x1f".join([v.get(c) or "" for c in _ID_COLUMNS]).encode("utf-8",
                                                                          "surrogatepass")
        # = ledger.ref.token(canon): HMAC-SHA256 under the ledger's key, one-shot
        digest = (hmac.digest(ledger.ref.key(), canon, "sha256").hex() if ledger is not None
                  else hashlib.sha256(canon).hexdigest())
        event_id = f"csv-{digest[:32]}"
    return ConsentEvent(
        subject=v["subject"] or "", purpose=v["purpose"] or "", kind=kind,
        channel=v["channel"] or "", collector=v.get("collector") or collector or "",
        time=t, notice_version=v.get("notice_version"), action=v.get("action"),
        evidence=v.get("evidence"), expires=expires, age=age, guardian=v.get("guardian"),
        event_id=event_id, source=where)


def import_csv(ledger: Ledger, path: str | os.PathLike[str], *, collector: str | None = None,
               delimiter: str = ",", encoding: str = "utf-8",
               chunk: int = 50_000) -> ImportReport:
    """Import a consent CSV into the ledger, all or nothing (see the module docstring), in
    chunks of one transaction: memory stays bounded. Each chunk is checked a column at a time
    and written by the database's bulk path (:mod:`~veil.consent.import_bulk`); what is stored
    and the first error are those of :func:`import_rows`."""
    from veil.consent.import_bulk import import_columns

    return import_columns(ledger, Path(path), collector=collector, delimiter=delimiter,
                          encoding=encoding, chunk=chunk, report=ImportReport)


def import_rows(ledger: Ledger, path: str | os.PathLike[str], *, collector: str | None = None,
                delimiter: str = ",", encoding: str = "utf-8",
                chunk: int = 50_000) -> ImportReport:
    """:func:`import_csv` one row at a time (events through ``Ledger``'s validation and append
    in chunks of one transaction, :mod:`~veil.consent.streaming`): the reference the columnar
    import is tested against."""
    from veil.consent.streaming import append_stream

    kinds: Counter[str] = Counter()
    subjects: set[str] = set()
    purposes: set[str] = set()

    def tally(stored: list[Event]) -> None:
        kinds.update(e.kind for e in stored)
        subjects.update(e.subject for e in stored)
        purposes.update(e.purpose for e in stored)

    def events() -> Iterator[ConsentEvent]:
        kinds.clear()  # a retried transaction starts over
        subjects.clear()
        purposes.clear()
        return iter_csv(path, ledger=ledger, collector=collector, delimiter=delimiter,
                        encoding=encoding)

    n = append_stream(ledger, events, tally, chunk=chunk)
    return ImportReport(file=str(path), events=n, by_event=dict(sorted(kinds.items())),
                        subjects=len(subjects), purposes=sorted(purposes))


# --------------------------------------------------------------------------- exports

_EVENT_TYPE = {"granted": "consent_given", "renewed": "consent_renewed",
               "withdrawn": "consent_withdrawn", "expired": "consent_expired"}
_EVENT_STATE = {"granted": "dpv:ConsentGiven", "renewed": "dpv:RenewedConsentGiven",
                "withdrawn": "dpv:ConsentWithdrawn", "expired": "dpv:ConsentExpired"}
_STATUS = {"ok": "given", "no consent": "not_given", "consent withdrawn": "withdrawn",
           "consent expired": "expired", "consent under an outdated notice": "invalidated"}
_RECORD_NS = uuid.UUID("6f9c1d2e-6b1a-4f43-9a3c-8f0e2c5d7a41")


def subject_record(ledger: Ledger, subject: str, *, policy: Policy | None = None,
                   with_notice_text: bool = True) -> dict[str, Any]:
    """A subject's consent records (one per purpose), structured after ISO/IEC TS 27560.

    For the subject's own copy (Art. 15) or another system: this is the one export that names
    the subject, so write it only where the subject's data may go."""
    from veil._version import __version__

    pol = policy or ledger.policy
    events = ledger.history(subject)  # raises for an unknown subject
    by_purpose: dict[str, list[Event]] = {}
    for e in events:
        by_purpose.setdefault(e.purpose, []).append(e)
    now = now_us()
    records = []
    for purpose, evs in sorted(by_purpose.items()):
        status = ledger.check(subject, purpose)
        versions = sorted({e.notice_version for e in evs if e.notice_version})
        notices = {n.version: n for n in ledger.notices(purpose, with_text=with_notice_text)}
        ev_json = [_event_json(e) for e in evs]
        canon = json.dumps(ev_json, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        records.append({
            "record_id": f"urn:uuid:{uuid.uuid5(_RECORD_NS, purpose + chr(0) + subject)}",
            "consent_status": _STATUS.get(status.reason, status.reason),
            "valid_at_export": status.valid,
            "reason": status.reason,
            "privacy_notices": [
                (notices[v].to_json(with_text=with_notice_text) if v in notices
                 else {"version": v, "not_filled": "the notice text is not in the ledger"})
                for v in versions],
            "processing": _processing(pol, purpose),
            "events": ev_json,
            "integrity": {"events_sha256": hashlib.sha256(canon.encode()).hexdigest()},
        })
    return {
        "schema_version": "veil.consent-record/1",
        "conforms_to": "ISO/IEC TS 27560:2023 consent record information structure",
        "record_type": "consent_record",
        "generator": f"veil {__version__}",
        "generated_at": format_us(now),
        "pii_principal_id": subject,
        "pii_controllers": _controllers(pol),
        "records": records,
    }


def _event_json(e: Event) -> dict[str, Any]:
    d: dict[str, Any] = {
        "event_id": e.event_id,
        "event_time": format_us(e.time_us),
        "event_type": _EVENT_TYPE[e.kind],
        "event_state": _EVENT_STATE[e.kind],
        "event_by": "pii_principal" if e.kind != "expired" else "pii_controller",
        "collection_method": e.channel,
        "action": e.action,
        "notice_version": e.notice_version,
        "evidence": e.evidence,
        "collector": e.collector,
        "expiry": format_us(e.expires_us),
        "recorded_at": format_us(e.recorded_us),
    }
    if e.age is not None or e.minor is not None or e.guardian is not None:
        d["age"] = e.age
        d["minor"] = e.minor
        d["guardian"] = e.guardian
    return d


def _controllers(pol: Policy | None) -> list[dict[str, Any]]:
    if pol is None:
        return []
    c = pol.controller
    d: dict[str, Any] = {"pii_controller_name": c.name, "contact": c.contact,
                         "address": c.address}
    if c.dpo:
        d["dpo"] = c.dpo.line()
    if c.eu_representative:
        d["eu_representative"] = c.eu_representative.line()
    return [d]


def _processing(pol: Policy | None, purpose: str) -> dict[str, Any]:
    p = pol.purposes.get(purpose) if pol is not None else None
    if p is None or pol is None:
        return {"purposes": [{"purpose": purpose}],
                "not_filled": "no policy given: description, lawful basis, data and retention "
                              "come from the policy"}
    categories: dict[str, dict[str, Any]] = {}
    for ds_id, use in p.datasets.items():
        ds = pol.datasets[ds_id]
        for f in use.fields:
            cat_id = ds.fields[f].category
            cat = pol.category(cat_id)
            entry = categories.setdefault(cat_id, {"category": cat_id,
                                                   "description": cat.description,
                                                   "sensitive": cat.special, "fields": []})
            entry["fields"].append(f"{ds_id}.{f}")
    return {
        "purposes": [{"purpose": purpose, "description": p.description,
                      "lawful_basis": p.legal_basis_text}],
        "pii_information": list(categories.values()),
        "retention_period": p.retention,
        "recipients": list(p.recipients),
        "transfers": [t.model_dump() for t in p.transfers],
    }


def export_ledger(ledger: Ledger, path: str | os.PathLike[str]) -> int:
    """Write every event as one JSON line, in append order; published atomically. Returns the
    number of events."""
    from veil.io.writers import open_private, publish, temp_path_for

    target = Path(path)
    tmp = temp_path_for(target)
    n = 0
    try:
        with open_private(tmp, "w", encoding="utf-8") as fh:
            for e in ledger.events():
                fh.write(json.dumps(e.to_json(), ensure_ascii=False) + "\n")
                n += 1
        publish(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConsentError(f"cannot write the export: {exc.strerror}", where=str(target)) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return n


def write_subject_record(ledger: Ledger, subject: str,
                         path: str | os.PathLike[str]) -> dict[str, Any]:
    """Write :func:`subject_record` as a JSON file (all or nothing); returns the record."""
    from veil.io.writers import atomic_write_bytes

    rec = subject_record(ledger, subject)
    text = json.dumps(rec, indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write_bytes(Path(path), text.encode("utf-8"))
    except OSError as exc:
        raise ConsentError(f"cannot write the export: {exc.strerror}", where=str(path)) from None
    return rec


def write_csv(rows: list[dict[str, str]], path: str | os.PathLike[str]) -> None:
    """Write consent rows (as :func:`veil.consent.sample.sample_consents` makes) as a CSV."""
    from veil.io.writers import atomic_write_bytes

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=[c for c in COLUMNS if any(c in r for r in rows)] or
                       list(REQUIRED), lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(Path(path), buf.getvalue().encode("utf-8"))


__all__ = ["COLUMNS", "REASONS", "ImportReport", "export_ledger", "import_csv", "import_rows",
           "iter_csv",
           "read_csv", "subject_record", "write_csv", "write_subject_record"]
