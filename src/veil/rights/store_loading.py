"""Writing a file's batches into a freshly created store table by the database's bulk path.

`veil dsr load-store` fills a table of up to millions of rows. SQLAlchemy's ``insert()`` with a
dict per row spends most of its time on per-row parameter work, so the rows go in as the
database takes them fastest: PostgreSQL ``COPY ... FROM STDIN`` through psycopg, SQLite one
``executemany`` of tuples per batch inside the caller's transaction. Values are converted by
the column types' own SQLAlchemy bind processors (SQLite stores dates and times as text), so
what SQLAlchemy reads back later is exactly what its ``insert()`` would have written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

__all__ = ["batch_writer"]


def batch_writer(conn: sa.Connection, table: sa.Table,
                 columns: Sequence[str]) -> Callable[[pa.RecordBatch], int]:
    """A function that writes one batch (its columns in ``columns`` order) into ``table``
    inside ``conn``'s open transaction and returns the rows written. Database errors are
    raised as ``sqlalchemy.exc.DBAPIError``, as the caller's other statements raise them."""
    prep = conn.dialect.identifier_preparer
    target = f"{prep.format_table(table)} ({', '.join(prep.quote(c) for c in columns)})"
    if conn.dialect.name == "postgresql":
        return _copy_writer(conn, f"COPY {target} FROM STDIN")
    dialect = conn.dialect
    procs = [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {target} VALUES ({', '.join([mark] * len(columns))})"

    def write(batch: pa.RecordBatch) -> int:
        cols = [c.to_pylist() if p is None else list(map(p, c.to_pylist()))
                for c, p in zip(batch.columns, procs, strict=True)]
        if batch.num_rows:
            conn.exec_driver_sql(sql, list(zip(*cols, strict=True)))  # type: ignore[arg-type]
        return batch.num_rows

    return write


def _copy_writer(conn: sa.Connection, sql: str) -> Callable[[pa.RecordBatch], int]:
    """COPY in text format; psycopg adapts each Python value (dates, times with their zone,
    decimals, booleans) as it would for a bound parameter."""
    dbapi = conn.dialect.loaded_dbapi

    def write(batch: pa.RecordBatch) -> int:
        if not batch.num_rows:
            return 0
        rows: Any = zip(*(c.to_pylist() for c in batch.columns), strict=True)
        cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cur.copy(sql) as cp:
                for row in rows:
                    cp.write_row(row)
        except dbapi.Error as exc:  # as SQLAlchemy would wrap it for any other statement
            raise sa.exc.DBAPIError.instance(sql, None, exc, dbapi.Error) from None
        finally:
            cur.close()
        return batch.num_rows

    return write
