"""`AsyncDecisionLedger`: the ledger's methods for async code (the service, an async scoring
loop). Each call runs the synchronous method in a worker thread, so the event loop never waits
on the database or the key store; the ledger underneath is thread-safe (its key cache and audit
log lock)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from veil.decisions.ledger import DecisionLedger

if TYPE_CHECKING:  # pragma: no cover
    from veil.store.workspace import Workspace

__all__ = ["AsyncDecisionLedger"]

T = TypeVar("T")

_METHODS = ("record", "record_batch", "get", "list", "for_subject", "history", "inputs",
            "contest", "review", "review_queue", "review_queue_counted", "record_actual",
            "record_actuals", "sessions")


class AsyncDecisionLedger:
    """The same methods as `DecisionLedger`, awaitable: ``await ledger.record(...)``."""

    def __init__(self, workspace: Workspace, policy: Any) -> None:
        self.sync = DecisionLedger(workspace, policy)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _METHODS:
            raise AttributeError(name)
        method = getattr(self.sync, name)

        @functools.wraps(method)
        async def call(*args: Any, **kw: Any) -> Any:
            return await asyncio.to_thread(method, *args, **kw)

        return call
