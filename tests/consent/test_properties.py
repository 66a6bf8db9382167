"""Property tests: on random event sequences (appended singly and in batches, in and out of time
order), the ledger accepts exactly what the rules allow, and its state, single checks and bulk
checks equal an independent reference fold of the accepted events at every time."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.consent import ConsentEvent, Ledger
from veil.consent.models import to_us
from veil.errors import ConsentError

SUBJECTS = ("s0", "s1")
# Reference rules, written out independently of veil.consent.models.transition.
ALLOWED = {
    None: {"granted"},
    "granted": {"granted", "renewed", "withdrawn", "expired"},
    "withdrawn": {"granted"},
    "expired": {"granted", "renewed", "withdrawn"},
}
AFTER = {"granted": "granted", "renewed": "granted", "withdrawn": "withdrawn",
         "expired": "expired"}

op = st.tuples(
    st.sampled_from(("granted", "renewed", "withdrawn", "expired")),
    st.integers(0, len(SUBJECTS) - 1),
    st.integers(0, 40),  # minutes after the base time (repeats and reversals happen)
    st.one_of(st.none(), st.integers(1, 30)),  # expiry, minutes after the event
    st.booleans(),  # joins the previous op's batch
)
_purposes = itertools.count()


def ref_sequence_ok(events: list[tuple]) -> bool:
    status = None
    for _, _, kind, _ in sorted(events, key=lambda e: (e[0], e[1])):
        if kind not in ALLOWED[status]:
            return False
        status = AFTER[kind]
    return True


def ref_reason(events: list[tuple], at: int) -> str:
    past = [e for e in events if e[0] <= at]
    if not past:
        return "no consent"
    _, _, kind, expires = max(past, key=lambda e: (e[0], e[1]))
    if kind == "withdrawn":
        return "consent withdrawn"
    if kind == "expired" or (expires is not None and expires <= at):
        return "consent expired"
    return "ok"


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=1, max_size=24))
def test_state_equals_reference_fold_at_every_time(workspace, ops) -> None:
    ledger = Ledger(workspace)  # no policy: any purpose id; a fresh purpose per example
    purpose = f"p{next(_purposes)}"
    base = to_us(datetime.now(UTC) - timedelta(days=1))
    minute = 60_000_000
    accepted: dict[str, list[tuple]] = {s: [] for s in SUBJECTS}
    order = itertools.count()

    batches: list[list[tuple]] = []
    for o in ops:
        if o[4] and batches:
            batches[-1].append(o)
        else:
            batches.append([o])
    for batch in batches:
        events, ref = [], []
        for kind, si, minutes, exp, _ in batch:
            t = base + minutes * minute
            expires = t + exp * minute if exp is not None and kind in ("granted",
                                                                         "renewed") else None
            channel = "system" if kind == "expired" else "app"
            action = "tapped 'I agree'" if kind in ("granted", "renewed") else None
            events.append(ConsentEvent(SUBJECTS[si], purpose, kind, channel, "prop", t, "1",
                                       action, expires=expires))
            ref.append((SUBJECTS[si], (t, next(order), kind, expires)))
        trial = {s: list(v) for s, v in accepted.items()}
        for s, e in ref:
            trial[s].append(e)
        expect_ok = all(ref_sequence_ok(v) for v in trial.values())
        try:
            ledger.append(events)
            ok = True
        except ConsentError:
            ok = False
        assert ok == expect_ok, (batch, accepted)
        if ok:
            accepted = trial

    times = {base - 1}
    for evs in accepted.values():
        for t, _, _, expires in evs:
            times.update({t - 1, t, t + 1})
            if expires is not None:
                times.update({expires - 1, expires})
    states = ledger.states(purpose)
    for s, evs in accepted.items():
        if not evs:
            assert s not in states
            continue
        t, _, kind, expires = max(evs, key=lambda e: (e[0], e[1]))
        got = states[s]
        assert (got.status, got.time_us, got.expires_us) == (
            AFTER[kind], t, expires if AFTER[kind] == "granted" else None)
    for at in sorted(times) + [None]:
        at_us = at if at is not None else to_us(datetime.now(UTC))
        expected = [ref_reason(accepted[s], at_us) for s in SUBJECTS]
        when = None if at is None else at
        assert [ledger.check(s, purpose, when).reason for s in SUBJECTS] == expected, at
        bulk = ledger.check_many(list(SUBJECTS) + ["nobody"], purpose, when)
        assert bulk.reasons.to_pylist() == expected + ["no consent"], at
