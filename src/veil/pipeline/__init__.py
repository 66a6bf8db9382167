"""The run: the pipeline of stages between a source and a sink.

Names are imported on first use, so a command that needs one part (run recovery, the history)
does not load the whole run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "Plan": "veil.pipeline.plan",
    "RunContext": "veil.pipeline.context",
    "RunResult": "veil.pipeline.run",
    "Stage": "veil.pipeline.stage",
    "make_plan": "veil.pipeline.plan",
    "run": "veil.pipeline.run",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.pipeline.context import RunContext  # noqa: F401
    from veil.pipeline.plan import Plan, make_plan  # noqa: F401
    from veil.pipeline.run import RunResult, run  # noqa: F401
    from veil.pipeline.stage import Stage  # noqa: F401
