"""Veil: GDPR-compliant data pipelines for financial AI.

The public API is small; everything else is internal and free to change::

    import veil
    policy = veil.load_policy("policy.yaml")
    result = veil.run(policy, "credit_scoring", "transactions.csv", "credit.parquet")
    print(result.receipt["rows"])

Names are imported on first use, so `import veil` stays cheap for tools that need one part.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports
from veil._version import __version__ as __version__

_EXPORTS = {
    "VeilError": "veil.errors",
    "PolicyError": "veil.errors",
    "InputError": "veil.errors",
    "StoreError": "veil.errors",
    "RunRefused": "veil.errors",
    "CryptoError": "veil.errors",
    "AuditError": "veil.errors",
    "ConsentError": "veil.errors",
    "run": "veil.pipeline.run",
    "read": "veil.keys.files",
    "RunResult": "veil.pipeline.run",
    "Policy": "veil.policy",
    "load_policy": "veil.policy",
    "build_ropa": "veil.ropa",
    "write_ropa": "veil.ropa",
    "Workspace": "veil.store.workspace",
    "init_workspace": "veil.store.workspace",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs
    from veil.errors import (  # noqa: F401
        AuditError,
        ConsentError,
        CryptoError,
        InputError,
        PolicyError,
        RunRefused,
        StoreError,
        VeilError,
    )
    from veil.keys.files import read  # noqa: F401
    from veil.pipeline.run import RunResult, run  # noqa: F401
    from veil.policy import Policy, load_policy  # noqa: F401
    from veil.ropa import build_ropa, write_ropa  # noqa: F401
    from veil.store.workspace import Workspace, init_workspace  # noqa: F401
