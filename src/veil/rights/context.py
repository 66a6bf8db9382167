"""What the steps of one request's run share (:class:`StepContext`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa

from veil.rights.records import RequestRecord, parse_time

if TYPE_CHECKING:
    from veil.policy.model import Policy
    from veil.rights.requests import Requests
    from veil.store.workspace import Workspace

__all__ = ["StepContext", "StepHooks"]


class StepHooks(Protocol):
    """Steps a layer above rights adds to a request's run (`veil.lifecycle`: propagation to
    outputs and models, Art. 19 notices): ``(name, step)`` pairs for a request kind, run
    after the kind's own steps (an erasure's before its certificate, which lists them)."""

    def steps(self, kind: str) -> list[tuple[str, Callable[[StepContext], dict[str, Any]]]]: ...


@dataclass
class StepContext:
    """What the steps of one request's run share."""

    requests: Requests
    policy: Policy
    request: RequestRecord
    subject_id: str
    details: dict[str, Any]
    actor: str
    state: dict[str, Any]
    owner: str | None = None
    prior: dict[str, Any] = field(default_factory=dict)  # first attempts' facts of unfinished steps
    releasing: bool = False  # an erasure run again after its legal hold ended
    counts: dict[str, int] = field(default_factory=dict)
    categories: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=set)  # steps recorded with their effect
    result_fn: Callable[[StepContext], dict[str, Any]] | None = None
    hooks: StepHooks | None = None
    _lineage: Any = None

    @property
    def workspace(self) -> Workspace:
        return self.requests.workspace

    @property
    def token(self) -> str:
        return self.request.subject

    def lineage(self) -> Any:
        """The subject's outputs and models, looked up once per run of the request."""
        if self._lineage is None:
            from veil.lineage import Lineage

            self._lineage = Lineage(self.workspace).subject_by_token(self.token)
        return self._lineage

    def begin(self, step: str, facts: dict[str, Any]) -> dict[str, Any]:
        """Before an effect outside the workspace database: record the step "started" with
        the facts found; a rerun gets the FIRST attempt's facts back (what was there before
        anything was done), so the outcome reported is never "0 deleted" after a crash."""
        first = self.prior.get(step)
        if first is None:
            first = facts
            self.prior[step] = first
        self.requests._step(self.request.id, step, "started", {"first_attempt": first},
                            self.owner)
        return dict(first)

    def record(self, conn: sa.Connection, step: str, detail: dict[str, Any]) -> dict[str, Any]:
        """Record the step done in ``conn``'s transaction (the one holding its effect)."""
        self.requests._step(self.request.id, step, "done", detail, self.owner, conn)
        self.recorded.add(step)
        return detail

    def hold_until(self) -> datetime | None:
        """When the last legal hold on data this erasure kept ends (None: nothing held)."""
        if self.request.kind != "erasure":
            return None
        released = {n.split(":", 1)[1] for n in self.state if n.startswith("release:")}
        ends = [h["until"] for n, d in self.state.items()
                if n.startswith("store:") and d and n.split(":", 1)[1] not in released
                for h in d.get("holds", [])]
        if not ends:
            return None
        return parse_time(max(ends), "hold end")

    def result(self) -> dict[str, Any]:
        assert self.result_fn is not None
        return self.result_fn(self)
