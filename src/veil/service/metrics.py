"""Prometheus metrics of the service (``GET /metrics``, permission ``metrics.read``).

Through ``prometheus-client`` (the ``ops`` extra), on a registry of the app's own (two apps in
one process never share counts). Two kinds:

- **requests**, counted by the request layer: ``veil_http_requests_total`` by method, route
  template and status, ``veil_http_request_duration_seconds`` (histogram) by method and route;
- **duties**, read from the store at each scrape (one small aggregate query each, nothing
  cached): the audit log's size, the audit outbox backlog per sink, witnesses behind
  (seconds since the missed checkpoint), Art. 19 recipient notices pending or failed, open and
  overdue data-subject requests, and per breach not yet notified to the authority the hours
  left of its 72 (negative once late).

Labels are route templates, statuses, sink and witness names and breach references: never a
subject, a path with ids or a key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("veil.service")

OPEN_REQUESTS = ("open", "running", "failed")
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def available() -> bool:
    """Whether prometheus-client is installed (``pip install 'veil[ops]'``)."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        return False
    return True


class Metrics:
    """The app's registry, its request counters and the store's duty gauges."""

    def __init__(self, workspace: Any | None) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("veil_http_requests", "HTTP requests answered",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("veil_http_request_duration_seconds",
                                 "Time to answer a request", ("method", "route"),
                                 buckets=BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        if workspace is not None:
            self.registry.register(DutyCollector(workspace))

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # one label lookup per (method, route, status), not per request
            children = self._children[key] = (self.requests.labels(method, route, str(status)),
                                              self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class DutyCollector:
    """Gauges read from the store at each scrape (see the module docstring)."""

    def __init__(self, workspace: Any) -> None:
        self.workspace = workspace

    def describe(self) -> list[Any]:
        return []  # computed at scrape time; nothing to describe up front

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        now = datetime.now(UTC)
        try:
            figures = duty_figures(self.workspace.engine, now)
        except Exception as exc:  # a scrape must not fail because one query did
            log.warning("metrics: could not read the store (%s)", type(exc).__name__)
            up = GaugeMetricFamily("veil_store_up", "1 when the store answered the scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("veil_store_up", "1 when the store answered the scrape")
        up.add_metric([], 1)
        yield up
        for name, help_text, labels, rows in figures:
            g = GaugeMetricFamily(name, help_text, labels=list(labels))
            for values, v in rows:
                g.add_metric(list(values), v)
            yield g


Figure = tuple[str, str, tuple[str, ...], list[tuple[tuple[str, ...], float]]]


def duty_figures(engine: Any, now: datetime) -> list[Figure]:
    """The duty gauges: (name, help, label names, [(label values, value)])."""
    import sqlalchemy as sa

    from veil.store.schema import (
        audit_checkpoints,
        audit_outbox,
        audit_state,
        breach_notifications,
        breaches,
        dsr_requests,
        recipient_notices,
    )

    with engine.connect() as conn:
        size = conn.execute(sa.select(audit_state.c.size).where(audit_state.c.id == 1)).scalar()
        outbox = conn.execute(sa.select(audit_outbox.c.sink, sa.func.count())
                              .group_by(audit_outbox.c.sink)).all()
        behind = conn.execute(sa.select(audit_checkpoints.c.witness,
                                        audit_checkpoints.c.since)).all()
        n = recipient_notices.c
        notices = dict(conn.execute(sa.select(n.status, sa.func.count())
                                    .where(n.status.in_(("pending", "failed")))
                                    .group_by(n.status)).all())
        t = dsr_requests.c
        open_n, overdue = conn.execute(sa.select(
            sa.func.count(), sa.func.count().filter(t.due_at < now))
            .where(t.status.in_(OPEN_REQUESTS))).one()
        b, bn = breaches.c, breach_notifications.c
        notified = sa.select(bn.breach_id).where(bn.recipient == "authority")
        waiting = conn.execute(sa.select(b.id, b.aware_at).where(
            b.status == "open", sa.or_(b.decision.is_(None), b.decision != "none"),
            b.id.not_in(notified))).all()
    return [
        ("veil_audit_log_events", "Events in the audit log", (), [((), float(size or 0))]),
        ("veil_audit_outbox_pending", "Audit events waiting to be forwarded, per sink",
         ("sink",), [((str(s),), float(c)) for s, c in outbox]),
        ("veil_audit_witness_lag_seconds", "Seconds since a witness missed a checkpoint",
         ("witness",), [((str(w),), _age(since, now)) for w, since in behind]),
        ("veil_recipient_notices", "Art. 19 notices to recipients not yet sent, by status",
         ("status",), [((s,), float(notices.get(s, 0))) for s in ("pending", "failed")]),
        ("veil_dsr_requests_open", "Data-subject requests open", (), [((), float(open_n))]),
        ("veil_dsr_requests_overdue", "Open data-subject requests past their due date", (),
         [((), float(overdue))]),
        ("veil_breach_notification_hours_left",
         "Hours left to notify the authority (72 h from awareness; negative: late)",
         ("breach",), [((f"BR-{i:04d}",), _hours_left(aware, now)) for i, aware in waiting]),
    ]


def _age(since: str, now: datetime) -> float:
    try:
        t = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (now - (t if t.tzinfo else t.replace(tzinfo=UTC))).total_seconds())


def _hours_left(aware: datetime, now: datetime) -> float:
    from veil.incidents.clock import deadline

    aware = aware if aware.tzinfo else aware.replace(tzinfo=UTC)
    return round((deadline(aware) - now).total_seconds() / 3600, 3)


__all__ = ["BUCKETS", "DutyCollector", "Metrics", "available", "duty_figures"]
