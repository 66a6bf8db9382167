"""A scan is a processing operation too: :func:`record_scan` appends its one audit event.

The CLI (``veil scan``), the service (``POST /v1/scan``) and a Python caller all record a scan
with this function, so each leaves the same trace: action ``discovery.scan``, counts and a
findings summary (rows, columns holding personal data, their data categories, skipped rows),
the input's digest when the whole file was read. Never a value: examples stay out of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil._actor import default_actor
from veil.discovery.scan_results import ScanResult, SourceScan

if TYPE_CHECKING:
    from veil.audit.log import AuditLog
    from veil.store.workspace import Workspace

SCAN_ACTION = "discovery.scan"
SCAN_PURPOSE = "discovery"
SCAN_LEGAL_BASIS = "Art. 5(2), 30 and 35 accountability"
"""Accountability (Art. 5(2)): knowing where personal data is, for the records of processing
(Art. 30) and impact assessments (Art. 35)."""
MAX_SOURCE_CHARS = 500


def record_scan(
    workspace: Workspace | AuditLog | str | Path,
    result: ScanResult,
    *,
    actor: str | None = None,
    source_name: str | None = None,
    size_bytes: int | None = None,
) -> int:
    """Append the audit event of a scan to ``workspace``'s audit log (a :class:`Workspace`,
    its :class:`AuditLog`, or the workspace's folder); returns the event's index.

    ``actor`` defaults to ``VEIL_ACTOR`` or the OS user; ``source_name`` replaces the scanned
    file's path in the event (an upload's name instead of its temporary file); ``size_bytes``
    the input's size when the result does not know it.
    """
    from veil.audit.log import AuditLog
    from veil.store.workspace import Workspace

    if isinstance(workspace, AuditLog):
        return _append(workspace, result, actor, source_name, size_bytes)
    if isinstance(workspace, Workspace):
        return _append(AuditLog(workspace), result, actor, source_name, size_bytes)
    with Workspace.open(workspace).ready() as ws:
        return _append(AuditLog(ws), result, actor, source_name, size_bytes)


def _append(
    log: AuditLog,
    result: ScanResult,
    actor: str | None,
    source_name: str | None,
    size_bytes: int | None,
) -> int:
    return log.record(
        default_actor(actor),
        SCAN_ACTION,
        purpose=SCAN_PURPOSE,
        legal_basis=SCAN_LEGAL_BASIS,
        outcome="success",
        data_categories=scan_categories(result),
        counts=scan_counts(result, size_bytes),
        digests=_digests(result),
        details={
            "source": str(source_name or result.source)[:MAX_SOURCE_CHARS],
            "format": str(result.format),
            "mode": _mode(result),
            "kind": str(result.kind),
        },
    )


def scan_counts(result: ScanResult, size_bytes: int | None = None) -> dict[str, int]:
    """Counts only: rows (lines of a text file), columns and columns holding personal data
    (tables), spans found (text), rows skipped, and the input's size when known."""
    counts = {"skipped": int(result.skipped.count)}
    if isinstance(result, SourceScan):
        counts.update(
            rows=int(result.rows),
            columns=len(result.report.columns),
            pii_columns=len(result.report.pii_columns),
        )
    else:
        counts.update(rows=int(result.lines), spans=int(result.spans_total))
    size = size_bytes if size_bytes is not None else result.size
    if size is not None:
        counts["bytes"] = int(size)
    return counts


def scan_categories(result: ScanResult) -> list[str]:
    """The data categories of the columns found to hold personal data (tables)."""
    if not isinstance(result, SourceScan):
        return []
    report = result.report
    pii = [report.column(n) for n in report.pii_columns]
    return sorted({c.category for c in pii if c is not None and c.category})


def _digests(result: ScanResult) -> dict[str, str]:
    """The input's digest, when the scan read the whole file (a text-file scan has none)."""
    digest = getattr(result, "sha256", None)
    return {"input": f"sha256:{digest}"} if digest else {}


def _mode(result: Any) -> str:
    if isinstance(result, SourceScan):
        return str(result.mode)
    return "sample" if result.sampled else "full"
