"""The Consent page's figures, aggregated in SQL, agree with the ledger's own check: coverage now
with ``Ledger.check`` per subject, each week's consents in force with the as-of check at the
week's end, each week's events with the events appended. On SQLite and PostgreSQL; a property
test draws random histories."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.consent import ConsentEvent, Ledger
from veil.consent.models import to_us
from veil.ui.pages.consent_figures import KINDS, consent_figures, week_ends

NOW = datetime.now(UTC).replace(microsecond=0)
DAY = timedelta(days=1)
_PURPOSES = itertools.count()


def expected(ledger: Ledger, purpose: str, subjects: list[str], at: datetime,
             weeks: int) -> tuple[dict[str, int], list[int]]:
    """What the ledger's own check says: reasons now, and valid consents at each week end."""
    now = [ledger.check(s, purpose, at) for s in subjects]
    reasons = {r: sum(1 for c in now if c.reason == r) for r in {c.reason for c in now}}
    series = [sum(1 for s in subjects if ledger.check(s, purpose, end).valid)
              for end in week_ends(at, weeks)]
    return reasons, series


def check_against_ledger(ws: Any, ledger: Ledger, purpose: str, subjects: list[str],
                         events: list[ConsentEvent], weeks: int = 6) -> None:
    at = datetime.now(UTC)
    figures = consent_figures(ws.engine, at=at, weeks=weeks)
    reasons, series = expected(ledger, purpose, subjects, at, weeks)
    cov = next(p for p in figures.purposes if p.purpose == purpose)
    assert cov.subjects == len(subjects)
    assert cov.valid == reasons.get("ok", 0)
    assert cov.withdrawn == reasons.get("consent withdrawn", 0)
    assert cov.expired == reasons.get("consent expired", 0)
    assert cov.outdated == reasons.get("consent under an outdated notice", 0)
    assert figures.in_force[purpose] == series
    ends = [to_us(w) for w in figures.weeks]
    for kind in KINDS:
        want = [sum(1 for e in events if e.kind == kind
                    and end - 7 * 86_400_000_000 < to_us(e.time) <= end) for end in ends]
        assert figures.activity[purpose][kind] == want, kind


def _notice(ledger: Ledger, *purposes: str) -> None:
    for p in purposes:
        ledger.add_notice(p, "1", "We use your data for this.\n", created_by="tests",
                          effective=NOW - 100 * DAY)


def _event(subject: str, purpose: str, kind: str, when: datetime, *,
           expires: datetime | None = None) -> ConsentEvent:
    action = "clicked 'I agree'" if kind in ("granted", "renewed") else None
    channel = "system" if kind == "expired" else "web_form"
    return ConsentEvent(subject=subject, purpose=purpose, kind=kind, channel=channel,
                        collector="tests", time=when, action=action, expires=expires)


def test_figures_agree_with_the_ledger(workspace) -> None:
    """Valid, withdrawn, lapsed by date, expired by event, renewed and granted again; on
    SQLite and PostgreSQL."""
    ledger = Ledger(workspace)
    p = "offers"
    _notice(ledger, p, "other")
    ev = [
        _event("C-1", p, "granted", NOW - 30 * DAY),
        _event("C-2", p, "granted", NOW - 29 * DAY), _event("C-2", p, "withdrawn", NOW - 9 * DAY),
        _event("C-3", p, "granted", NOW - 28 * DAY, expires=NOW - 12 * DAY),
        _event("C-4", p, "granted", NOW - 27 * DAY), _event("C-4", p, "expired", NOW - 15 * DAY),
        _event("C-4", p, "renewed", NOW - 3 * DAY),
        _event("C-5", p, "granted", NOW - 20 * DAY), _event("C-5", p, "withdrawn", NOW - 18 * DAY),
        _event("C-5", p, "granted", NOW - 2 * DAY),
        _event("C-6", p, "granted", NOW - 1 * DAY, expires=NOW + 30 * DAY),
    ]
    ledger.append(ev)
    ledger.append([_event("C-9", "other", "granted", NOW - 5 * DAY)])  # another purpose
    check_against_ledger(workspace, ledger, p, [f"C-{i}" for i in range(1, 7)], ev)
    figures = consent_figures(workspace.engine)
    assert [x.purpose for x in figures.purposes] == ["offers", "other"]
    assert figures.events == len(ev) + 1


def test_a_reconsent_notice_makes_older_consents_outdated(workspace) -> None:
    ledger = Ledger(workspace)
    ledger.add_notice("offers", "1", "First text.\n", created_by="tests",
                      effective=NOW - 60 * DAY)
    ledger.append([_event(f"C-{i}", "offers", "granted", NOW - 40 * DAY) for i in range(4)])
    ledger.add_notice("offers", "2", "New text.\n", created_by="tests", effective=NOW - DAY,
                      reconsent=True)
    ledger.append([_event("C-0", "offers", "renewed", NOW - DAY / 2)])
    cov = consent_figures(workspace.engine).purposes[0]
    assert (cov.subjects, cov.valid, cov.outdated) == (4, 1, 3)


def test_an_empty_ledger_has_no_figures(workspace) -> None:
    figures = consent_figures(workspace.engine, weeks=4)
    assert figures.purposes == [] and figures.in_force == {} and figures.events == 0
    assert len(figures.weeks) == 4 and figures.weeks[-1] - figures.weeks[0] == 21 * DAY


# -- property: random histories ------------------------------------------------------------

_NEXT = {None: ["granted"], "granted": ["granted", "renewed", "withdrawn", "expired"],
         "renewed": ["granted", "renewed", "withdrawn", "expired"],
         "withdrawn": ["granted"], "expired": ["granted", "renewed", "withdrawn"]}


@st.composite
def histories(draw: Any) -> list[list[tuple[str, int, int | None]]]:
    """Per subject: (kind, minutes before now, expiry in days after the event or None)."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        steps, state = [], None
        ago = draw(st.integers(60, 70 * 24 * 60))
        for _ in range(draw(st.integers(1, 5))):
            kind = draw(st.sampled_from(_NEXT[state]))
            expires = (draw(st.one_of(st.none(), st.integers(1, 40)))
                       if kind in ("granted", "renewed") else None)
            steps.append((kind, ago, expires))
            state = kind
            ago -= draw(st.integers(1, 20 * 24 * 60))
            if ago <= 0:
                break
        out.append(steps)
    return out


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(histories())
def test_random_histories_agree_with_the_ledger(workspace, hist) -> None:
    ws = workspace
    ledger = Ledger(ws)
    purpose = f"p{next(_PURPOSES)}"  # a fresh purpose per example, in one workspace
    _notice(ledger, purpose)
    base = datetime.now(UTC)
    events, subjects = [], []
    for i, steps in enumerate(hist):
        subject = f"S-{i}"
        subjects.append(subject)
        state = None
        for kind, ago, days in steps:
            when = base - timedelta(minutes=ago)
            if kind in ("expired",) and state is not None and state[1] is not None \
                    and state[1] <= when:
                continue  # lapsed by date already: the ledger refuses a second expiry
            expires = when + timedelta(days=days) if days else None
            events.append(_event(subject, purpose, kind, when, expires=expires))
            state = (kind, expires)
    ledger.append(events)
    check_against_ledger(ws, ledger, purpose, subjects, events, weeks=11)

