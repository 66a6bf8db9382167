"""The COPY text a PostgreSQL batch is written with (`veil.decisions.copy_text`) stores exactly
what psycopg's own row-by-row ``write_row`` stores: same rows, same table, compared value by
value; and a batch with awkward reasons and outcomes reads back as recorded."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest

from veil.decisions.copy_text import copy_text, value_text

AWKWARD = ["plain", "tab\there", "line\nbreak", "cr\rhere", "back\\slash", "\\N", "",
           "ünïcødé ✓", '{"a": "q\\"uote"}', "\\x00", "end\\"]


def test_values_in_the_text_format() -> None:
    assert value_text(None) == "\\N"
    assert value_text("a\tb\\c\nd\re") == "a\\tb\\\\c\\nd\\re"
    assert value_text(b"\x00\xff") == "\\\\x00ff"
    assert value_text(True) == "t"
    assert value_text(1.5) == "1.5" and value_text(-3) == "-3"
    when = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert value_text(when) == "2026-01-02T03:04:05.000006+00:00"


def test_constant_columns_and_mixed_columns_give_the_same_lines_as_value_by_value() -> None:
    rows = [("same", 1, None, AWKWARD[i % len(AWKWARD)], float(i) / 7, i, b"k%d" % i,
             "x" if i % 2 else None) for i in range(40)]
    want = "".join("\t".join(map(value_text, r)) + "\n" for r in rows).encode()
    assert copy_text(rows) == want
    assert copy_text([]) == b""


def test_signed_zeros_and_equal_numbers_keep_their_own_text() -> None:
    """0.0 == -0.0 and 1 == 1.0 == True: a column is "constant" only by its texts."""
    for column in ([0.0, -0.0, 0.0], [-0.0, 0.0], [0, 0, 0], [0.0, 0.0]):
        rows = [(v,) for v in column]
        want = "".join(value_text(v) + "\n" for v in column).encode()
        assert copy_text(rows) == want, column
    assert copy_text([(1,), (1.0,), (True,)]) == b"1\n1.0\nt\n"


@pytest.mark.postgres
def test_copy_text_stores_what_psycopg_write_row_stores(workspace) -> None:
    if workspace.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite batches use INSERT statements")
    t0 = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
    rows = [(f"id{i:04d}", AWKWARD[i % len(AWKWARD)], i - 20, i / 3 - 5.5,
             t0 + timedelta(days=i), None if i % 3 else b"\x00\t\n\\" + bytes([i]),
             "const", (1 << 62) - i) for i in range(50)]
    ddl = ("(id text primary key, s text, n int, f double precision, t timestamptz, "
           "b bytea, c text, big bigint)")
    raw = workspace.engine.raw_connection()
    try:
        with contextlib.closing(raw.cursor()) as cur:
            for name in ("via_ours", "via_psycopg"):
                cur.execute(f"CREATE TEMP TABLE {name} {ddl}")
            with cur.copy("COPY via_ours FROM STDIN") as copy:
                copy.write(copy_text(rows))
            with cur.copy("COPY via_psycopg FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(r)
            cur.execute("SELECT * FROM via_ours ORDER BY id")
            ours = cur.fetchall()
            cur.execute("SELECT * FROM via_psycopg ORDER BY id")
            theirs = cur.fetchall()
        raw.rollback()
    finally:
        raw.close()
    assert len(ours) == len(rows)
    assert [tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in ours] == [
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in theirs]
    assert ours[1][1] == "tab\there" and ours[0][5] == b"\x00\t\n\\\x00"


def test_a_batch_with_awkward_texts_reads_back_as_recorded(ledger) -> None:
    n = len(AWKWARD)
    subjects = [f"C-{i}" for i in range(n)]
    feats = {"annual_income": [float(i) for i in range(n)],
             "account_balance": [1.0] * n}
    reasons = [[(AWKWARD[i], -0.5)] for i in range(n)]
    outcomes = [f"o{AWKWARD[i]}"[:64] for i in range(n)]
    ids = ledger.record_batch("credit-pd", subjects, feats, [0.2] * n, reasons=reasons,
                              outcomes=outcomes)
    for i, did in enumerate(ids):
        rec = ledger.get(did)
        assert rec.outcome == outcomes[i]
        assert [(r.feature, r.contribution) for r in rec.reasons] == [(AWKWARD[i], -0.5)]
        assert ledger.inputs(did) == {"annual_income": float(i), "account_balance": 1.0}
