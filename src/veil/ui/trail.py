"""Audit events of the pages themselves: login, logout, refusals and exports.

What a page changes through a library function (run a request, record a notification) is
recorded by that function with the person's identity as actor; this module records only what
the pages do on their own. The actor is the session's person as audit events name people
(``key:<id>``, or the name given to ``veil ui``), never an e-mail or a real name."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from veil.ui.host import host_of

PURPOSE = "service-access"
BASIS = "Art. 32 security of processing"


async def record(request: Request, actor: str, action: str, *, outcome: str = "success",
                 details: dict[str, Any] | None = None) -> None:
    """Append one ``ui.*`` event (in the thread pool: the audit log writes synchronously)."""
    audit = host_of(request).audit
    await run_in_threadpool(audit.record, actor, action, purpose=PURPOSE, legal_basis=BASIS,
                            outcome=outcome, details={"via": "ui", **(details or {})})


__all__ = ["BASIS", "PURPOSE", "record"]
