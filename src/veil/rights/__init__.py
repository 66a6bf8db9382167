"""Data-subject rights (GDPR Art. 12-21): requests with deadlines, access and portability
packages, erasure with crypto-shredding and a certificate, restriction, objection,
rectification, all recorded step by step and in the audit log.

    from veil.rights import Requests
    reqs = Requests(workspace, policy)
    r = reqs.open("erasure", "CUST-0000042", verification="ID checked at branch")
    reqs.run(r.id).result      # what was done, legal holds, outputs/models to rebuild

Subjects are named by keyed pseudonym everywhere (columns, audit events, messages); see
`veil.rights.requests` for how the subject id is kept (sealed) and `veil.rights.steps` for what
each kind of request does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "KINDS": "veil.rights.requests",
    "RequestRecord": "veil.rights.requests",
    "Requests": "veil.rights.requests",
    "StepContext": "veil.rights.context",
    "StepHooks": "veil.rights.context",
    "Store": "veil.rights.stores",
    "decrypt_values": "veil.rights.values",
    "load_store": "veil.rights.stores",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.rights.context import StepContext, StepHooks  # noqa: F401
    from veil.rights.requests import KINDS, RequestRecord, Requests  # noqa: F401
    from veil.rights.stores import Store, load_store  # noqa: F401
    from veil.rights.values import decrypt_values  # noqa: F401
