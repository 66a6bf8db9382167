"""A refused consent row is named by file:line and column and what the column expects, never by
its value: a cell holding personal data (an e-mail address in the time column, a name in the
purpose or notice column, a subject id where the header should be) stays out of the error,
whichever import (bulk or row by row) refuses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.consent.interchange import import_csv, import_rows
from veil.errors import ConsentError

PII = "jane.doe@example.com"
NAME = "JaneDoe"  # a value the id and version formats accept
HEADER = "subject,purpose,event,time,channel,action,notice_version,expires,age,event_id\n"
OK = {"subject": "C-1", "purpose": "offers", "event": "granted",
      "time": "2025-03-01T09:30:00Z", "channel": "app", "action": "clicked 'I agree'",
      "notice_version": "1", "expires": "", "age": "", "event_id": ""}


def _line(**cells: str) -> str:
    return ",".join({**OK, **cells}.values()) + "\n"


CASES = [  # (file body after the header, the value, what the message says)
    (_line(time=PII), PII, "column 'time' is not an ISO 8601 time"),
    (_line(time="2025-03-01T09:30:00"), "2025-03-01T09:30:00", "column 'time' has no UTC offset"),
    (_line(expires=PII), PII, "column 'expires' is not an ISO 8601 time"),
    (_line(age=PII), PII, "column 'age' is not a whole number"),
    (_line(event=PII), PII, "column 'event' is not one of"),
    (_line(channel=PII), PII, "unknown channel (known:"),
    (_line(purpose=PII), PII, "not a purpose id"),
    (_line(purpose=f"{NAME} offers"), NAME, "one purpose per consent"),
    (_line(purpose=NAME), NAME, "unknown purpose (known:"),
    (_line(action=f"{NAME} pre-ticked"), NAME, "is not an explicit action"),
    (_line(notice_version=PII), PII, "notice version must be"),
    (_line(notice_version=NAME), NAME, "unknown notice version of purpose 'offers'"),
    (_line(event="withdrawn", action="", notice_version=NAME), NAME, "unknown notice version"),
    (_line(event_id=PII), PII, "event id must be"),
    (_line(event_id=NAME) + _line(subject="C-2", event_id=NAME), NAME,
     "duplicate event id (first at c.csv:2)"),
]


@pytest.fixture
def ledger_with_notice(ledger):
    ledger.add_notice("offers", "1", "Offers.", created_by="dpo", effective="2024-01-01T00:00:00Z")
    return ledger


@pytest.mark.parametrize("importer", [import_csv, import_rows])
@pytest.mark.parametrize(("body", "value", "says"), CASES, ids=[c[2] for c in CASES])
def test_a_refused_cell_is_named_not_repeated(ledger_with_notice, tmp_path: Path, importer,
                                              body: str, value: str, says: str) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + body, "utf-8")
    with pytest.raises(ConsentError) as info:
        importer(ledger_with_notice, path, collector="importer", chunk=1)
    assert says in info.value.message
    assert info.value.where and info.value.where.startswith("c.csv:")
    assert value not in str(info.value)
    assert ledger_with_notice.count() == 0


@pytest.mark.parametrize("importer", [import_csv, import_rows])
def test_an_id_already_in_the_ledger_is_named_by_its_row(ledger_with_notice, tmp_path: Path,
                                                         importer) -> None:
    path = tmp_path / "c.csv"
    path.write_text(HEADER + _line(event_id=NAME), "utf-8")
    importer(ledger_with_notice, path, collector="importer")
    with pytest.raises(ConsentError) as info:
        importer(ledger_with_notice, path, collector="importer")
    assert "duplicate event id: the ledger already has" in info.value.message
    assert info.value.where == "c.csv:2" and NAME not in str(info.value)


@pytest.mark.parametrize("importer", [import_csv, import_rows])
def test_a_file_without_header_does_not_repeat_its_first_row(ledger_with_notice, tmp_path: Path,
                                                             importer) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"{PII},offers,granted,2025-03-01T09:30:00Z,app,clicked\n", "utf-8")
    with pytest.raises(ConsentError) as info:
        importer(ledger_with_notice, path, collector="importer")
    assert "unknown column name in column 1 of the header" in info.value.message
    assert info.value.where == "c.csv:1" and PII not in str(info.value)
