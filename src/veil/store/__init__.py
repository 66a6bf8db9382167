"""The store: one SQLAlchemy metadata, Alembic migrations, and the workspace that holds it."""

from veil.store.db import create_engine, current_revision, head_revision, upgrade
from veil.store.workspace import Workspace, init_workspace

__all__ = ["Workspace", "create_engine", "current_revision", "head_revision", "init_workspace",
           "upgrade"]
