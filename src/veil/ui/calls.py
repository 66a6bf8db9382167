"""Calling the library from a page: in the thread pool (the library is synchronous and owns its
transactions), with its errors turned into a page that says what went wrong in one line.

A stale form (a request already closed, a breach closed meanwhile), a reference that does not
exist, a bad value: the library refuses before it changes anything (one transaction), and the
person sees its message with the status a REST caller would get. Server paths are scrubbed
from the message as the REST API scrubs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from veil.errors import (
    ConflictError,
    InputError,
    NotFoundError,
    RunRefused,
    StoreError,
    VeilError,
)
from veil.ui.host import host_of
from veil.ui.problems import PageProblem

T = TypeVar("T")

# error family -> (HTTP status, the page's title); first match wins
STATUS: list[tuple[type[VeilError], int, str]] = [
    (NotFoundError, 404, "Not found"), (ConflictError, 409, "Not possible now"),
    (RunRefused, 409, "Refused"), (InputError, 422, "Check the form"),
    (StoreError, 503, "The store is unavailable"), (VeilError, 422, "Refused"),
]


def problem(request: Request, exc: VeilError) -> PageProblem:
    """The page for a library error: status and title by family, the message scrubbed."""
    status, title = next((s, t) for cls, s, t in STATUS if isinstance(exc, cls))
    scrub = getattr(host_of(request), "scrub", None)
    message = exc.message
    if callable(scrub):
        message = scrub(message) or message
    # the library checks input and state before it writes (one transaction)
    changing = request.method == "POST" and isinstance(exc, InputError)
    return PageProblem(status, title, f"{message} Nothing was changed." if changing else message)


async def call(request: Request, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
    """``fn(*args, **kw)`` in the thread pool; a VeilError becomes a :class:`PageProblem`."""
    try:
        return await run_in_threadpool(fn, *args, **kw)
    except VeilError as exc:
        raise problem(request, exc) from None


__all__ = ["STATUS", "call", "problem"]
