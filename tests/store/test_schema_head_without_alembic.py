"""The schema check reads the head revision from the migration files and the database's
revision with SQLAlchemy core, so commands never load Alembic unless they migrate."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from veil.errors import StoreError
from veil.store import db


def test_head_from_the_files_is_alembics_head() -> None:
    assert db.head_revision() == ScriptDirectory(str(db.MIGRATIONS)).get_current_head()


def _versions(tmp_path: Path, files: dict[str, str], monkeypatch) -> None:
    (tmp_path / "versions").mkdir()
    for name, text in files.items():
        (tmp_path / "versions" / name).write_text(text)
    monkeypatch.setattr(db, "MIGRATIONS", tmp_path)
    db.head_revision.cache_clear()


def test_alembic_style_annotations_are_read(tmp_path: Path, monkeypatch) -> None:
    _versions(tmp_path, {
        "a.py": 'revision: str = "a1"\ndown_revision: Union[str, None] = None\n',
        "b.py": '"""Revision ID: b2"""\nrevision = \'b2\'\ndown_revision = "a1"\n',
    }, monkeypatch)
    try:
        assert db.head_revision() == "b2"
    finally:
        db.head_revision.cache_clear()


def test_alembic_decides_when_the_files_branch(tmp_path: Path, monkeypatch) -> None:
    _versions(tmp_path, {"a.py": 'revision = "a"\ndown_revision = None\n',
                         "b.py": 'revision = "b"\ndown_revision = "a"\n',
                         "c.py": 'revision = "c"\ndown_revision = "a"\n'}, monkeypatch)
    monkeypatch.setattr(db, "_alembic_head", lambda: "alembic says")
    try:
        assert db.head_revision() == "alembic says"
    finally:
        db.head_revision.cache_clear()


def test_current_revision_and_the_refusal(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert db.current_revision(engine) is None
        with pytest.raises(StoreError, match="revision none, this Veil needs"):
            db.require_current(engine)
        assert db.upgrade(engine) == db.head_revision()
        db.require_current(engine)
        assert db.upgrade(engine) == db.head_revision()  # nothing to do: Alembic not asked
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO alembic_version VALUES ('0001')"))
        with pytest.raises(StoreError, match="several schema revisions"):
            db.current_revision(engine)
    finally:
        engine.dispose()
