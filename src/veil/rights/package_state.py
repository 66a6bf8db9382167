"""What an access or portability request's package is now, not when it was made: a later
erasure destroys it ("package destroyed by erasure <id> on <date>"), a file can go missing
("package file missing"); only when every file is there is it "package ready"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["READY", "honest_result", "package_state"]

READY = "package ready"


def package_state(kind: str, result: dict[str, Any] | None,
                  detail: dict[str, Any] | None) -> str | None:
    """The package's state now (None for a request without a package). ``detail`` is the
    request's recorded ``package`` step (an erasure marks it ``destroyed_by``)."""
    if kind not in ("access", "portability") or not isinstance(result, dict):
        return None
    if result.get("outcome") != READY:
        return None
    detail = detail or {}
    if detail.get("destroyed_by"):
        on = str(detail.get("destroyed_at") or "")[:10]
        return f"package destroyed by erasure {detail['destroyed_by']} on {on}"
    files = detail.get("files") or result.get("files") or []
    if not files or any(not Path(str(f.get("path", ""))).is_file() for f in files):
        return "package file missing"
    return READY


def honest_result(result: dict[str, Any] | None, state: str | None) -> dict[str, Any] | None:
    """The stored answer, with its outcome and text replaced when the package is gone."""
    if result is None or state is None or state == READY:
        return result
    return {**result, "outcome": state, "recorded_outcome": result.get("outcome"), "files": [],
            "answer": f"{state}: nothing can be exported (the answer recorded when the request "
                      "ran said the package was ready)"}
