"""Consent checks on an async driver (aiosqlite, or psycopg's async mode), for callers that
live on an event loop. The engine belongs to the loop that created it: a check from another
loop gets a new one."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from veil.consent.models import check_version
from veil.errors import ConsentError, StoreError
from veil.store.schema import consent_notices
from veil.store.transactions import db_error

__all__ = ["AsyncChecks"]


class AsyncChecks:
    """The async engine of one database URL, created on first use in a running loop."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._engine: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def engine(self) -> Any:
        """The running loop's async engine (a missing driver is a StoreError saying which)."""
        loop = asyncio.get_running_loop()
        if self._engine is not None and self._loop is loop:
            return self._engine
        from sqlalchemy.ext.asyncio import create_async_engine

        url = _async_url(self.database_url)
        try:
            self._engine = create_async_engine(url)
        except ImportError as exc:
            raise StoreError(f"async checks need SQLAlchemy's asyncio extension: {exc}") from None
        self._loop = loop
        return self._engine

    async def fetch(self, statement: sa.Select[Any], params: dict[str, Any], purpose: str,
                    notice_version: str | None) -> tuple[Any, int | None]:
        """The check's row and the sequence number of ``notice_version`` (when named)."""
        n = consent_notices.c
        try:
            async with self.engine().connect() as conn:
                row = (await conn.execute(statement, params)).first()
                extra = None
                if notice_version is not None:
                    extra = (await conn.execute(sa.select(n.seq).where(
                        n.purpose == purpose, n.version == check_version(notice_version))
                    )).scalar()
                    if extra is None:
                        raise ConsentError(f"unknown notice version '{notice_version}' of "
                                           f"purpose '{purpose}'")
        except sa.exc.DBAPIError as exc:
            raise db_error(exc, "checking consent") from None
        return row, extra

    async def close(self) -> None:
        """Dispose of the engine (call from the event loop that used it)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._loop = None


def _async_url(database_url: str) -> sa.URL:
    """The workspace's URL with its async driver."""
    url = sa.make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        try:
            import aiosqlite  # noqa: F401
        except ImportError:
            raise StoreError("async checks on SQLite need the aiosqlite package "
                             "(pip install aiosqlite)") from None
        return url.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise StoreError(f"no async driver for {backend} databases")
