"""Breach response (Art. 33-34 GDPR): the register, the 72-hour clock, scope from evidence,
the risk assessment and the drafts.

    from veil.incidents import Breaches
    reg = Breaches(workspace, policy=policy)
    b = reg.open(title="Laptop lost", occurred_at="2026-03-01T08:00:00Z",
                 aware_at="2026-03-01T10:00:00Z", nature="confidentiality",
                 outputs=["credit.parquet"])
    reg.assess(b.ref); reg.draft(b.ref, "drafts/")
"""

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "Breach": "veil.incidents.register",
    "Breaches": "veil.incidents.register",
    "Clock": "veil.incidents.clock",
    "NOTIFY_WITHIN": "veil.incidents.clock",
    "clock": "veil.incidents.clock",
    "deadline": "veil.incidents.clock",
    "parse_time": "veil.incidents.clock",
    "assess": "veil.incidents.risk",
    "notification": "veil.incidents.drafts",
    "write_drafts": "veil.incidents.drafts",
    "export_register": "veil.incidents.drafts",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.incidents.clock import NOTIFY_WITHIN, Clock, clock, deadline, parse_time  # noqa: F401
    from veil.incidents.drafts import export_register, notification, write_drafts  # noqa: F401
    from veil.incidents.register import Breach, Breaches  # noqa: F401
    from veil.incidents.risk import assess  # noqa: F401
