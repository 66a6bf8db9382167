"""Minimized events out to a JetStream subject, one message per row, idempotently.

Each row goes out as a JSON object with ``Nats-Msg-Id: <file>:<row>``: the id depends only on
the published micro-batch file, so publishing a file again (after a crash between its publish
and its acknowledgement) is dropped by JetStream's duplicate window, not seen twice downstream.
The rows are read back from the published file (`veil.keys.files.read`: decrypted and
authenticated), so what the subject carries is exactly what the folder holds.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

from veil.errors import InputError
from veil.store.workspace import Workspace


def _plain(v: Any) -> Any:
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    if isinstance(v, bytes):
        return base64.b64encode(v).decode("ascii")
    raise TypeError(type(v).__name__)


class SubjectPublisher:
    """Publishes published micro-batch files to ``subject`` (a stream must capture it)."""

    def __init__(self, js: Any, subject: str, ws: Workspace, timeout: float = 10.0) -> None:
        self.js, self.subject, self.ws, self.timeout = js, subject, ws, timeout
        self.done: set[str] = set()  # files published to the subject by this process

    async def check(self) -> None:
        from nats.js.errors import NotFoundError

        try:
            await self.js.find_stream_name_by_subject(self.subject)
        except NotFoundError:
            raise InputError("no JetStream stream captures this subject: add one (e.g. `nats "
                             "stream add`) with a duplicate window", where=self.subject) from None

    async def publish_file(self, path: Path) -> int:
        """Every row of the file at ``path``; returns the number of rows."""
        if path.name in self.done:
            return 0
        from veil.keys.files import read

        rows = read(path, self.ws).to_pylist()
        futures = []
        for i, row in enumerate(rows):
            data = json.dumps(row, default=_plain, ensure_ascii=False).encode()
            futures.append(await self.js.publish_async(
                self.subject, data, headers={"Nats-Msg-Id": f"{path.name}:{i}"}))
        if futures:
            await asyncio.wait_for(asyncio.gather(*futures), self.timeout)
        self.done.add(path.name)
        return len(rows)
