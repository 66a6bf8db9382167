"""Scan an upload for personal data (``veil scan`` over the API). The upload streams to a
temporary file (size-limited) that is deleted after the scan; the report masks every value."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from veil.errors import InputError, VeilError
from veil.service.auth import require
from veil.service.deps import ERRORS, Caller, service_of

router = APIRouter(prefix="/v1", responses=ERRORS)

SCAN_PATH = "/v1/scan"  # the one path whose body may be as large as max_upload_bytes

_SUFFIX = {"csv": ".csv", "parquet": ".parquet", "jsonl": ".jsonl", "text": ".txt"}


@router.post("/scan", response_model=dict[str, Any], tags=["scan"],
             openapi_extra={"x-permission": "scan", "requestBody": {
                 "required": True, "description": "The file's bytes (size-limited: 413 beyond "
                 "max_upload_bytes).",
                 "content": {"application/octet-stream": {
                     "schema": {"type": "string", "format": "binary"}}}}},
             dependencies=[Depends(require("scan"))])
async def scan(
    request: Request,
    who: Caller,
    format: Annotated[Literal["csv", "parquet", "jsonl", "text"], Query(
        description="How to read the upload")],
    sample: Annotated[int | None, Query(ge=1, le=10_000_000,
                                        description="Scan the first N rows only")] = None,
    name: Annotated[str | None, Query(max_length=128, pattern=r"^[A-Za-z0-9._-]+$",
                                      description="A name for the upload in the report")] = None,
) -> dict[str, Any]:
    """Scan an uploaded file (CSV, Parquet, JSON lines or text) for personal data: per column the
    types found, confidence, masked examples and a suggested rule (``veil scan``'s report).
    Values are never returned unmasked; the upload is deleted after the scan."""
    import anyio

    from veil.discovery import scan_source
    from veil.discovery.scan import record_scan

    svc = service_of(request)
    fd, tmp = tempfile.mkstemp(prefix="veil-upload-", suffix=_SUFFIX[format])
    try:
        size = 0
        # anyio's file object writes in a worker thread: up to max_upload_bytes of disk writes
        # must not stall the event loop (and every other request with it).
        async with anyio.wrap_file(os.fdopen(fd, "wb")) as fh:
            async for chunk in request.stream():
                size += len(chunk)
                if size > svc.config.max_upload_bytes:
                    raise HTTPException(413, f"upload is larger than "
                                        f"{svc.config.max_upload_bytes} bytes")
                if chunk:
                    await fh.write(chunk)
        if size == 0:
            raise InputError("empty upload: nothing to scan", where="body")
        label = name or f"upload{_SUFFIX[format]}"
        try:
            result = await run_in_threadpool(scan_source, tmp, format=format, sample=sample,
                                             policy=svc.policy)
        except VeilError as exc:
            where = label if exc.where and tmp in exc.where else exc.where
            raise type(exc)(exc.message.replace(tmp, label), where=where) from None
        report = result.to_dict()
        report["source"]["ref"] = label
        # the library's one scan event, the same the CLI and a Python caller write
        await run_in_threadpool(record_scan, svc.audit, result, actor=who.actor,
                                source_name=label, size_bytes=size)
        return report
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


__all__ = ["SCAN_PATH", "router"]
