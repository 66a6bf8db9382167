"""The error of a verification that found the log (or an export of it) altered."""

from __future__ import annotations

from veil.errors import AuditError


class AuditVerifyError(AuditError):
    """:meth:`AuditLog.verify` (or :func:`verify_export`) found the log altered.

    ``index`` is the first bad leaf index (for a head: its tree size), ``check`` names the check
    that failed: ``deleted leaf``, ``inserted leaf``, ``reordered leaf``, ``modified event``,
    ``filter columns``, ``missing node``, ``bad node``, ``inserted node``, ``head root mismatch``,
    ``bad signature``, ``head altered``, ``state`` or ``truncated export``.
    """

    def __init__(self, index: int, check: str, detail: str, *, where: str | None = None) -> None:
        self.index = index
        self.check = check
        self.detail = detail
        super().__init__(f"verification failed at index {index}: {check}: {detail}", where=where)
