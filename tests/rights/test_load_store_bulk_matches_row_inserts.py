"""`load_store` writes by the database's bulk path (COPY / executemany): what SQLAlchemy reads
back is exactly what its row-by-row ``insert()`` writes for the same file, for every field type,
on SQLite and PostgreSQL; a bad row names its line and leaves no table behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from veil.errors import InputError
from veil.policy import load_policy
from veil.rights import Store, load_store

POLICY = """\
version: 1
controller: {name: Test Bank SE, contact: privacy@test-bank.example}
datasets:
  people:
    subject_id: cid
    store: {url: "${T_STORE:-sqlite:///store.db}", table: people}
    fields:
      cid: direct_identifier
      n: {category: income_credit, type: integer}
      x: {category: income_credit, type: float}
      d: {category: income_credit, type: decimal}
      ok: {category: income_credit, type: boolean}
      day: {category: income_credit, type: date}
      at: {category: income_credit, type: timestamp}
      note: {category: income_credit, type: string}
purposes:
  scoring:
    description: Credit scoring
    legal_basis: legitimate_interests
    legitimate_interest: Responsible lending
    retention: 1 year
    datasets:
      people: {fields: {cid: keep, n: keep}}
"""

TYPES = {"string": sa.Text, "integer": sa.BigInteger, "float": sa.Float, "decimal": sa.Numeric,
         "boolean": sa.Boolean, "date": sa.Date, "timestamp": sa.DateTime(timezone=True)}

CSV = """\
cid,n,x,d,ok,day,at,note
C-1,1,0.1,12.50,true,2024-02-29,2024-05-01T12:00:00.123456Z,"a, ""quoted"" note"
C-2,,1e300,,false,1999-12-31,2024-05-01T14:00:00+02:00,
C-3,-9007199254740993,-0.0,-0.001,,,,"é ü 日本 \U0001f600"
C-4,42,,3,true,2000-01-01,1970-01-01T00:00:00Z,"line
break"
"""


@pytest.fixture
def people(workspace, database_url, monkeypatch, tmp_path: Path):
    if database_url.startswith("postgresql"):
        monkeypatch.setenv("T_STORE", database_url)
    else:
        monkeypatch.delenv("T_STORE", raising=False)
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY, "utf-8")
    return load_policy(p)


def _rows(store: Store, table: str) -> list[tuple]:
    t = sa.Table(table, sa.MetaData(), autoload_with=store.engine)
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(t).order_by(t.c.cid))]


def test_bulk_load_reads_back_as_row_inserts_do(people, workspace, tmp_path: Path) -> None:
    from veil.io.readers import open_source

    src_file = tmp_path / "people.csv"
    src_file.write_text(CSV, "utf-8")
    assert load_store(people, "people", src_file, workspace) == 4
    store = Store(people, "people", workspace)
    # the reference: the same batches through SQLAlchemy's insert(), one dict per row
    with store.engine.begin() as conn:
        ds = people.datasets["people"]
        cols = list(ds.fields)
        ref = sa.Table("people_ref", sa.MetaData(),
                       *[sa.Column(c, TYPES[ds.fields[c].type]) for c in cols])
        ref.create(conn)
        for b in open_source(src_file).batches(cols, {c: ds.fields[c].type for c in cols},
                                               lambda r: None):
            conn.execute(ref.insert(), b.to_pylist())
    got, want = _rows(store, "people"), _rows(store, "people_ref")
    assert got == want
    assert got[0][7] == 'a, "quoted" note' and got[1][1] is None and len(got) == 4
    names = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("people")}
    assert "ix_people_cid" in names  # the subject index, built after the rows


def test_a_bad_row_names_its_line_and_writes_nothing(people, workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(CSV.replace("C-4,42,", "C-4,forty-two,"), "utf-8")
    with pytest.raises(InputError) as err:
        load_store(people, "people", bad, workspace)
    assert "bad.csv:" in str(err.value.where)
    assert not Store(people, "people", workspace, create=True).exists()


def test_a_bad_file_with_replace_keeps_the_table_it_would_replace(people, workspace,
                                                                   tmp_path: Path) -> None:
    """All or nothing with --replace too: the DROP of the old table is undone with the rest
    (SQLite's driver runs DDL outside its implicit transaction unless told BEGIN)."""
    good, bad = tmp_path / "people.csv", tmp_path / "bad.csv"
    good.write_text(CSV, "utf-8")
    bad.write_text(CSV.replace("C-4,42,", "C-4,forty-two,"), "utf-8")
    assert load_store(people, "people", good, workspace) == 4
    store = Store(people, "people", workspace)
    before = _rows(store, "people")
    with pytest.raises(InputError):
        load_store(people, "people", bad, workspace, replace=True)
    assert _rows(store, "people") == before
    names = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("people")}
    assert "ix_people_cid" in names
    assert load_store(people, "people", good, workspace, replace=True) == 4  # and it still works
    assert _rows(store, "people") == before
