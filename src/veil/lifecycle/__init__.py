"""After the run: retention of outputs and of the store's own records (issue 18).

    from veil.lifecycle import retention_status, sweep, dispose_output
    retention_status(ws)                     # every output: expiry, due, hold, disposal
    sweep(ws, policy)                        # dispose of what expired (not held), purge records
    dispose_output(ws, run_id, reason="...", actor="dpo")   # one output, now

Disposing of an output deletes the file and destroys the keyset that alone encrypts it
(``output.<run id>``), so copies die too; see `veil.lifecycle.retention_dispose`.

    from veil.lifecycle import requests, propagate_withdrawal, deliver, acknowledge
    requests(ws, policy).run(request_id)     # a DSR run that also propagates and notifies
    propagate_withdrawal(ws, policy, subject_id, ["marketing"])   # after a consent withdrawal
    deliver(ws)                              # send due Art. 19 notices (webhook, email)

Erasure, withdrawal, objection and restriction reach the outputs and models holding the
subject (`veil.lifecycle.propagation`); recipients are told through an outbox
(`veil.lifecycle.notices`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "Disposal": "veil.lifecycle.retention_records",
    "OutputRetention": "veil.lifecycle.retention_records",
    "dispose_output": "veil.lifecycle.retention_dispose",
    "retention_status": "veil.lifecycle.retention_listing",
    "SweepReport": "veil.lifecycle.retention_sweep",
    "sweep": "veil.lifecycle.retention_sweep",
    "hold": "veil.lifecycle.retention_holds",
    "release": "veil.lifecycle.retention_holds",
    "Propagation": "veil.lifecycle.propagation",
    "propagate": "veil.lifecycle.propagation",
    "propagate_withdrawal": "veil.lifecycle.propagation",
    "requests": "veil.lifecycle.propagation_requests",
    "Notice": "veil.lifecycle.notices",
    "acknowledge": "veil.lifecycle.notices",
    "list_notices": "veil.lifecycle.notices",
    "deliver": "veil.lifecycle.notices_delivery",
    "recipients_register": "veil.lifecycle.recipients",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.lifecycle.notices import Notice, acknowledge, list_notices  # noqa: F401
    from veil.lifecycle.notices_delivery import deliver  # noqa: F401
    from veil.lifecycle.propagation import (  # noqa: F401
        Propagation,
        propagate,
        propagate_withdrawal,
    )
    from veil.lifecycle.propagation_requests import requests  # noqa: F401
    from veil.lifecycle.recipients import recipients_register  # noqa: F401
    from veil.lifecycle.retention_dispose import dispose_output  # noqa: F401
    from veil.lifecycle.retention_holds import hold, release  # noqa: F401
    from veil.lifecycle.retention_listing import retention_status  # noqa: F401
    from veil.lifecycle.retention_records import Disposal, OutputRetention  # noqa: F401
    from veil.lifecycle.retention_sweep import SweepReport, sweep  # noqa: F401
