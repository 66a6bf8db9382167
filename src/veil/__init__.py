"""Veil: GDPR-compliant data pipelines for financial AI.

The public API is small; everything else is internal and free to change::

    import veil
    policy = veil.load_policy("policy.yaml")
    result = veil.run(policy, "credit_scoring", "transactions.csv", "credit.parquet")
    print(result.receipt["rows"])
"""

__version__ = "0.1.0"

from veil.errors import (  # noqa: E402
    InputError,
    PolicyError,
    RunRefused,
    StoreError,
    VeilError,
)
from veil.pipeline.run import RunResult, run  # noqa: E402
from veil.policy import Policy, load_policy  # noqa: E402
from veil.ropa import build_ropa, write_ropa  # noqa: E402
from veil.store.workspace import Workspace, init_workspace  # noqa: E402

__all__ = [
    "InputError",
    "Policy",
    "PolicyError",
    "RunRefused",
    "RunResult",
    "StoreError",
    "VeilError",
    "Workspace",
    "build_ropa",
    "init_workspace",
    "load_policy",
    "run",
    "write_ropa",
]
