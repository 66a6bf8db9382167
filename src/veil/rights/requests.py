"""Data-subject requests: open, run (idempotent, recorded steps), extend, close.

A request names its subject by keyed pseudonym (`SubjectRef` token) in every column, audit
event and message; the subject id itself (and a rectification's new values) is kept only
sealed with the workspace's ``dsr`` AEAD keyset, bound to the request id, so a failed request
can be rerun, and the seal is dropped once an erasure is done. Each step of a run is recorded
in ``dsr_steps``: a step whose effect is outside the workspace database (a registered store)
first records "started" with the facts it found (e.g. the rows to delete), so a rerun after a
crash reports what the first attempt did and what remains; a step whose effect is in the
workspace database records its outcome in the same transaction. A rerun skips finished steps,
and every step is safe to repeat anyway (deleting deleted rows deletes nothing, shredding a
shredded key destroys nothing).

A run holds the request by a lease (``lease_owner``, ``running_since``): the status changes from
open/failed to running in one compare-and-swap UPDATE, so two runs at once cannot both act; a
run killed mid-way leaves a lease that another run takes over once it is older than
``LEASE_MINUTES`` (or at once with ``force=True``); every step record checks the lease, so a
run that lost it stops. Completion writes the audit event first, then the status, result and
the seal's removal in one transaction (a rerun after a crash in between adds the event only if
it is missing).

Deadlines (Art. 12(3)): one month from receipt, extendable by two further months with a
recorded reason. `Requests.list` puts overdue and due-soon requests first.

`Requests` is the facade; the parts live beside it: `records` (types, states, the stored
record), `opening` (checks and refusals at open), `sealing`, `lease`, `running` (the run and its
steps' records), `closing` (extend, close, lift), `listing`, `audit_trail`.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from veil._actor import default_actor
from veil.errors import InputError, PolicyError
from veil.rights.closing import close_request, extend_request, lift_request
from veil.rights.context import StepContext, StepHooks
from veil.rights.lease import LeaseLost, record_step
from veil.rights.listing import get_request, list_requests
from veil.rights.opening import check_value, open_request
from veil.rights.records import (
    DSR_KEYSET,
    KINDS,
    LEASE_MINUTES,
    OBJECTABLE_BASES,
    OPEN_STATES,
    PACKAGE_KEYSET,
    PORTABLE_BASES,
    PURPOSE_KINDS,
    STATUSES,
    RequestRecord,
    add_months,
    iso,
)
from veil.rights.running import run_request
from veil.rights.sealing import Seals

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from veil.policy.model import Policy
    from veil.store.workspace import Workspace

__all__ = ["DSR_KEYSET", "KINDS", "LEASE_MINUTES", "OBJECTABLE_BASES", "OPEN_STATES",
           "PACKAGE_KEYSET", "PORTABLE_BASES", "PURPOSE_KINDS", "STATUSES", "LeaseLost",
           "RequestRecord", "Requests", "StepContext", "StepHooks", "add_months", "check_value",
           "fsync_dir", "iso"]


class Requests:
    """The workspace's data-subject requests (see module doc).

    >>> reqs = Requests(workspace, policy)                               # doctest: +SKIP
    >>> r = reqs.open("erasure", "CUST-0000042", verification="ID checked at branch")
    >>> reqs.run(r.id).result["outcome"]                                 # doctest: +SKIP
    'erased'
    """

    def __init__(self, workspace: Workspace, policy: Policy | str | Path | None = None, *,
                 hooks: StepHooks | None = None) -> None:
        """``hooks``: steps a layer above adds to runs (`veil.lifecycle.requests` gives
        propagation to outputs and models and Art. 19 notices; the CLI and service use it)."""
        from veil.consent.models import SubjectRef

        self.workspace = workspace.ready()
        self.engine = workspace.engine
        self._policy = policy
        self.ref = SubjectRef(workspace.root)
        self.seals = Seals(self.workspace)
        self.hooks = hooks

    def policy(self, path: str | None = None) -> Policy:
        """The policy given (loaded once), else the one at ``path`` (a request's own)."""
        from veil.policy.loader import load_policy
        from veil.policy.model import Policy

        p = self._policy
        if isinstance(p, Policy):
            return p
        if p is not None:
            self._policy = load_policy(p)
            return self._policy  # type: ignore[return-value]
        if path:
            return load_policy(path)
        raise PolicyError("this needs the policy: pass policy= (or --policy)")

    def _seal(self, request_id: str, payload: dict[str, Any]) -> bytes:
        return self.seals.seal(request_id, payload)

    def _unseal(self, request_id: str, sealed: bytes | None) -> dict[str, Any]:
        return self.seals.unseal(request_id, sealed)

    def _sealed(self, request_id: str) -> bytes | None:
        return self.seals.stored(request_id)

    # -- open / list / get -----------------------------------------------------------------

    def open(self, kind: str, subject: str, *, received: datetime | str | None = None,
             verification: str | None = None, purposes: builtins.list[str] | None = None,
             details: dict[str, Any] | None = None, actor: str | None = None) -> RequestRecord:
        """Record a request; the due date is one month after ``received`` (default now).

        A request type the policy refuses (its ``rights.refuse``, Art. 20 without a consent or
        contract purpose, Art. 21 against a purpose on another legal basis) is recorded as
        refused and raises `RunRefused` saying why (request id included).
        """
        return open_request(self, kind, subject, received=received, verification=verification,
                            purposes=purposes, details=details, actor=actor)

    def get(self, request_id: str) -> RequestRecord:
        """One request with its recorded steps (id or a unique prefix of 4+ characters)."""
        return get_request(self.engine, request_id)

    def list(self, *, status: str | None = None, include_closed: bool = False,
             subject: str | None = None) -> builtins.list[RequestRecord]:
        """Requests, overdue first, then due soon, then by due date; closed ones only with
        ``include_closed`` (or ``status``)."""
        token = self.ref.token(subject) if subject is not None else None
        return list_requests(self.engine, status=status, include_closed=include_closed,
                             subject_token=token, due_soon_days=self._due_soon_days())

    def _due_soon_days(self) -> int:
        try:
            return self.policy().rights.due_soon_days
        except PolicyError:
            return 7

    # -- extend / close / lift -------------------------------------------------------------

    def extend(self, request_id: str, months: int, reason: str, *,
               actor: str | None = None) -> RequestRecord:
        """Extend the deadline (Art. 12(3): by at most two further months, with a reason)."""
        return extend_request(self, request_id, months, reason, actor=actor)

    def close(self, request_id: str, note: str, *, actor: str | None = None) -> RequestRecord:
        """Close a request with a note (what the subject was told). Closing one that has not
        completed needs the note to say why; an erasure keeping data under a legal hold is
        closed only after the run that erases it once the hold ends. A restriction or
        objection keeps excluding the subject after it is closed, until `lift` (which works on
        a closed request too)."""
        return close_request(self, request_id, note, actor=actor)

    def lift(self, request_id: str, note: str, *, actor: str | None = None) -> RequestRecord:
        """Lift a restriction or objection: the subject's rows come back into the runs of the
        purposes concerned (Art. 18(3): tell the subject before lifting). Only this request's
        exclusions are lifted (another request restricting the same subject still holds);
        works on a completed or closed request whose exclusions are active."""
        return lift_request(self, request_id, note, actor=actor)

    # -- run -------------------------------------------------------------------------------

    def run(self, request_id: str, *, actor: str | None = None, force: bool = False,
            lease_minutes: int = LEASE_MINUTES) -> RequestRecord:
        """Carry out the request. Steps already done (by an earlier, failed or killed run) are
        skipped; each step is recorded; a failure marks the request failed and can be rerun.

        The request is taken by a compare-and-swap (open/failed -> running) with a lease: a
        request another run holds is refused (`ConflictError`) unless its lease is older than
        ``lease_minutes`` or ``force`` (use it only when that run is known to be dead). An
        erasure completed under a legal hold is run again once the hold has ended: the held
        data is then erased and the seal dropped."""
        return run_request(self, request_id, actor=actor, force=force,
                           lease_minutes=lease_minutes)

    def _step(self, request_id: str, step: str, status: str, detail: dict[str, Any],
              owner: str | None = None, conn: sa.Connection | None = None) -> None:
        """Record a step (in ``conn``'s transaction when given: with the step's effect). The
        facts a "started" record holds are kept through failures; with ``owner`` the lease is
        checked in the same transaction (a run that lost it stops)."""
        if conn is None:
            with self.engine.begin() as c:
                record_step(c, request_id, step, status, detail, owner)
            return
        record_step(conn, request_id, step, status, detail, owner)

    # -- packages --------------------------------------------------------------------------

    def folder(self, request_id: str) -> Path:
        return self.workspace.root / "dsr" / request_id

    def export(self, request_id: str, output: str | Path, *, actor: str | None = None,
               reason: str) -> builtins.list[Path]:
        """Decrypt a request's package into ``output`` (a folder) for handing over through a
        secure channel; recorded as one ``dsr.export`` event (actor, reason, key, digests)."""
        from veil.rights.package import decrypt_package

        actor = actor or default_actor()
        rec = self.get(request_id)
        if not reason or not reason.strip():
            raise InputError("export needs a reason (e.g. 'sent via secure portal, ticket 42')")
        return decrypt_package(self, rec, Path(output), actor=actor, reason=reason)


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
