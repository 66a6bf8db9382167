"""The ledger on SQLite and PostgreSQL: grants, withdrawals, as-of checks, notices, Art. 7/8
rules, and bad input that leaves the ledger unchanged."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from veil.consent import ConsentEvent, Ledger
from veil.consent.models import format_us, to_us
from veil.errors import ConsentError

WEB = {"channel": "web_form", "action": "clicked 'I agree'", "collector": "web-consent"}
SUBJECT = "CUST-0012345"


def ago(days: float = 0, **kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, **kw)


def snapshot(ledger: Ledger) -> tuple[int, dict]:
    """What a refused operation must not change: the event count and every state."""
    return ledger.count(), {p: ledger.states(p) for p in ("offers", "newsletter")}


def test_grant_check_withdraw(ledger: Ledger) -> None:
    assert ledger.check(SUBJECT, "offers").reason == "no consent"
    ev = ledger.grant(SUBJECT, "offers", **WEB, notice_version="v1", time=ago(3),
                      evidence="sha256:" + "ab" * 32, expires=ago(-30))
    st = ledger.check(SUBJECT, "offers")
    assert st and st.valid and st.reason == "ok" and st.status == "granted"
    assert st.notice_version == "v1" and st.event_id == ev.event_id
    assert st.expires is not None and st.since is not None
    # granular: consent to offers says nothing about the newsletter
    assert ledger.check(SUBJECT, "newsletter").reason == "no consent"
    ledger.withdraw(SUBJECT, "offers", channel="app", collector="app", time=ago(1))
    st = ledger.check(SUBJECT, "offers")
    assert not st and st.reason == "consent withdrawn" and st.status == "withdrawn"
    # as of before the withdrawal, the consent was valid; before the grant there was none
    assert ledger.check(SUBJECT, "offers", at=ago(2)).valid
    assert ledger.check(SUBJECT, "offers", at=ago(4)).reason == "no consent"
    # a new explicit grant after the withdrawal is valid again; history keeps all three events
    ledger.grant(SUBJECT, "offers", **WEB, notice_version="v1")
    assert ledger.check(SUBJECT, "offers").valid
    assert [e.kind for e in ledger.history(SUBJECT)] == ["granted", "withdrawn", "granted"]
    assert ledger.check(SUBJECT, "offers", at=ago(0.5)).reason == "consent withdrawn"
    # the status names the subject by pseudonym only
    assert SUBJECT not in repr(st) and st.subject_ref.startswith("subject #")


def test_expiry_renewal_and_explicit_expiry(ledger: Ledger) -> None:
    ledger.grant(SUBJECT, "offers", **WEB, notice_version="1", time=ago(10), expires=ago(5))
    assert ledger.check(SUBJECT, "offers").reason == "consent expired"
    assert ledger.check(SUBJECT, "offers", at=ago(6)).valid
    assert ledger.check(SUBJECT, "offers", at=ago(5)).reason == "consent expired"  # at = expiry
    ledger.renew(SUBJECT, "offers", channel="app", action="confirmed in the app",
                 collector="app", notice_version="1", time=ago(2))
    assert ledger.check(SUBJECT, "offers").valid
    assert ledger.check(SUBJECT, "offers", at=ago(3)).reason == "consent expired"
    ledger.expire(SUBJECT, "offers", collector="review-job", time=ago(1))
    assert ledger.check(SUBJECT, "offers").reason == "consent expired"
    assert ledger.states("offers")[SUBJECT].status == "expired"
    # a consent that lapsed may be renewed; a withdrawn one may not
    ledger.withdraw(SUBJECT, "offers", channel="app", collector="app")
    before = snapshot(ledger)
    with pytest.raises(ConsentError, match="renewal after a withdrawal"):
        ledger.renew(SUBJECT, "offers", channel="app", action="tapped renew", collector="app",
                     notice_version="1")
    assert snapshot(ledger) == before


def test_as_of_matches_single_bulk_and_async(ledger: Ledger) -> None:
    t = [ago(40 - 5 * i) for i in range(8)]  # t[0] oldest
    ledger.grant("A", "offers", **WEB, notice_version="1", time=t[0])
    ledger.withdraw("A", "offers", channel="branch", collector="branch-7", time=t[2])
    ledger.grant("A", "offers", **WEB, notice_version="1", time=t[4], expires=t[6])
    ledger.grant("B", "offers", **WEB, notice_version="1", time=t[1])
    expected = {
        t[0] - timedelta(seconds=1): ("no consent", "no consent"),
        t[0]: ("ok", "no consent"),
        t[1]: ("ok", "ok"),
        t[2]: ("consent withdrawn", "ok"),
        t[3]: ("consent withdrawn", "ok"),
        t[4]: ("ok", "ok"),
        t[5]: ("ok", "ok"),
        t[6]: ("consent expired", "ok"),
        t[7]: ("consent expired", "ok"),
    }

    async def acheck(subject: str, at: datetime) -> str:
        try:
            return (await ledger.acheck(subject, "offers", at)).reason
        finally:
            await ledger.aclose()

    for at, (ra, rb) in expected.items():
        assert ledger.check("A", "offers", at).reason == ra, format_us(to_us(at))
        assert ledger.check("B", "offers", at).reason == rb
        bulk = ledger.check_many(["A", "B", "C"], "offers", at)
        assert bulk.reasons.to_pylist() == [ra, rb, "no consent"]
        assert asyncio.run(acheck("A", at)) == ra
    assert asyncio.run(acheck("B", None)) == "ok"  # type: ignore[arg-type]


def test_art7_rules_refuse_and_change_nothing(ledger: Ledger) -> None:
    ledger.grant(SUBJECT, "offers", **WEB, notice_version="1", time=ago(5), event_id="e-1")
    before = snapshot(ledger)
    cases = [
        (dict(kind="granted", action="pre-ticked box"), "not an explicit action"),
        (dict(kind="granted", action="silence"), "not an explicit action"),
        (dict(kind="granted", action=None), "needs the explicit action"),
        (dict(kind="granted", channel="carrier_pigeon"), "unknown channel"),
        (dict(kind="granted", channel="system"), "only for expiries"),
        (dict(kind="granted", purpose="offers,newsletter"), "no bundled consent"),
        (dict(kind="granted", purpose="marketing"), "unknown purpose 'marketing'"),
        (dict(kind="granted", purpose="scoring"), "does not rely on consent"),
        (dict(kind="granted", time=ago(-1)), "in the future"),
        (dict(kind="granted", time=datetime(2025, 1, 1)), "no time zone"),
        (dict(kind="granted", expires=ago(6)), "not after the event time"),
        (dict(kind="granted", event_id="e-1"), "duplicate event id: the ledger already"),
        (dict(kind="granted", evidence="md5:abc"), "SHA-256 digest"),
        (dict(kind="granted", collector=""), "collector is missing"),
        (dict(kind="withdrawn", subject="CUST-999", action=None), "withdrawal without a prior"),
        (dict(kind="renewed", subject="CUST-999"), "renewal without a prior grant"),
        (dict(kind="expired", subject="CUST-999", channel="system", action=None),
         "expiry without a prior grant"),
        (dict(kind="withdrawn", age=30, action=None), "age and guardian belong to grants"),
        (dict(kind="granted", subject=""), "subject id is empty"),
        (dict(kind="granted", subject="x" * 300), "longer than 256"),
        (dict(kind="granted", subject="a\nb"), "control characters"),
        (dict(kind="bought"), "unknown event"),
    ]
    for change, message in cases:
        fields = dict(subject=SUBJECT, purpose="offers", kind="granted", notice_version="1",
                      **WEB)
        fields.update(change)
        with pytest.raises(ConsentError, match=message) as info:
            ledger.append([ConsentEvent(**fields)])  # type: ignore[arg-type]
        text = str(info.value)
        assert "CUST-" not in text, f"subject id leaked into: {text}"
        # an unknown purpose is exit 3 wherever it is named (tests/cli/test_exit_codes.py)
        assert info.value.exit_code == (3 if "unknown purpose" in message else 9)
        assert snapshot(ledger) == before
    # a bad event anywhere in a batch refuses the whole batch
    with pytest.raises(ConsentError, match="withdrawal without a prior grant"):
        ledger.append([
            ConsentEvent("CUST-1", "newsletter", "granted", notice_version="1", **WEB),
            ConsentEvent("CUST-2", "newsletter", "withdrawn", "app", "app"),
        ])
    with pytest.raises(ConsentError, match="duplicate event id"):
        ledger.append([
            ConsentEvent("CUST-1", "newsletter", "granted", notice_version="1", event_id="x",
                         **WEB),
            ConsentEvent("CUST-2", "newsletter", "granted", notice_version="1", event_id="x",
                         **WEB),
        ])
    assert snapshot(ledger) == before
    # withdrawing twice is refused too: the second has no consent in force to withdraw
    ledger.withdraw(SUBJECT, "offers", channel="app", collector="app")
    with pytest.raises(ConsentError, match="already withdrawn"):
        ledger.withdraw(SUBJECT, "offers", channel="app", collector="app")


def test_unknown_subject_in_history(ledger: Ledger) -> None:
    with pytest.raises(ConsentError, match="unknown subject") as info:
        ledger.history("CUST-404")
    assert "CUST-404" not in str(info.value)
    assert not ledger.knows("CUST-404")


def test_backdated_events_refold(ledger: Ledger) -> None:
    ledger.grant("S", "offers", **WEB, notice_version="1", time=ago(10))
    ledger.withdraw("S", "offers", channel="app", collector="app", time=ago(5), event_id="w5")
    before = snapshot(ledger)
    # a backdated withdrawal at day 7 would leave the stored day-5 withdrawal without a grant
    with pytest.raises(ConsentError, match=r"stored event \(withdrawn at"):
        ledger.withdraw("S", "offers", channel="app", collector="app", time=ago(7))
    assert snapshot(ledger) == before
    # a backdated withdrawal before the first grant has no grant before it
    with pytest.raises(ConsentError, match="withdrawal without a prior grant"):
        ledger.withdraw("S", "offers", channel="app", collector="app", time=ago(12))
    # a backdated grant (an import of an older paper form) is fine; the state stays withdrawn
    ledger.grant("S", "offers", **WEB, notice_version="1", time=ago(12))
    assert ledger.states("offers")["S"].status == "withdrawn"
    assert ledger.check("S", "offers", at=ago(11)).valid
    assert [e.kind for e in ledger.history("S")] == ["granted", "granted", "withdrawn"]
    # a backdated renewal between grant and withdrawal changes the past, not the present
    ledger.renew("S", "offers", channel="app", action="confirmed", collector="app",
                 notice_version="1", time=ago(8), expires=ago(6))
    assert ledger.check("S", "offers", at=ago(7)).valid
    assert ledger.check("S", "offers", at=ago(5.5)).reason == "consent expired"
    assert ledger.check("S", "offers").reason == "consent withdrawn"


def test_notices_and_reconsent(ledger: Ledger) -> None:
    ledger.add_notice("offers", "1", "We use your transactions for offers.",
                      created_by="dpo", effective=ago(30))
    ledger.grant("old", "offers", **WEB, time=ago(20))  # default: the notice in effect
    assert ledger.history("old")[0].notice_version == "1"
    ledger.add_notice("offers", "2", "We now also use your location.", created_by="dpo",
                      effective=ago(10), reconsent=True)
    ledger.grant("new", "offers", **WEB, time=ago(5))
    assert ledger.history("new")[0].notice_version == "2"
    assert ledger.check("old", "offers").reason == "consent under an outdated notice"
    assert ledger.check("old", "offers", at=ago(15)).valid  # before notice 2 took effect
    assert ledger.check("new", "offers").valid
    bulk = ledger.check_many(["old", "new"], "offers")
    assert bulk.reasons.to_pylist() == ["consent under an outdated notice", "ok"]
    # a re-grant under the new notice restores it
    ledger.grant("old", "offers", **WEB, notice_version="2")
    assert ledger.check("old", "offers").valid
    # a check may demand a minimum notice version
    ledger.add_notice("offers", "3", "Small wording fix.", created_by="dpo")
    assert ledger.check("new", "offers", notice_version="3").reason == (
        "consent under an outdated notice")
    assert ledger.check("new", "offers", notice_version="2").valid
    assert [n.version for n in ledger.notices("offers")] == ["1", "2", "3"]
    assert ledger.notices("offers", with_text=True)[0].text.startswith("We use")
    before = snapshot(ledger)
    for kwargs, message in [
        (dict(notice_version="9"), "unknown notice version of purpose 'offers'"),
        (dict(notice_version="2", time=ago(12)), "takes effect at"),
        (dict(time=ago(40)), "no notice in effect"),
    ]:
        with pytest.raises(ConsentError, match=message):
            ledger.grant("x", "offers", **WEB, **kwargs)  # type: ignore[arg-type]
    assert snapshot(ledger) == before
    with pytest.raises(ConsentError, match="already has notice version '2'"):
        ledger.add_notice("offers", "2", "again", created_by="dpo")
    with pytest.raises(ConsentError, match="before the latest notice"):
        ledger.add_notice("offers", "4", "older", created_by="dpo", effective=ago(50))
    with pytest.raises(ConsentError, match="unknown notice version"):
        ledger.check("new", "offers", notice_version="nope")


def test_minors_flagged_when_the_policy_sets_an_age(workspace, policy) -> None:
    offers = policy.purposes["offers"]
    aged = offers.model_copy(update={"consent_min_age": 16})
    pol = policy.model_copy(update={"purposes": {**policy.purposes, "offers": aged}})
    ledger = Ledger(workspace, pol)
    with pytest.raises(ConsentError, match="needs the subject's age"):
        ledger.grant("kid", "offers", **WEB, notice_version="1")
    with pytest.raises(ConsentError, match="holder of parental responsibility"):
        ledger.grant("kid", "offers", **WEB, notice_version="1", age=14)
    ev = ledger.grant("kid", "offers", **WEB, notice_version="1", age=14,
                      guardian="parent, signed form 1182")
    assert ev.minor is True
    assert ledger.check("kid", "offers").minor is True
    adult = ledger.grant("adult", "offers", **WEB, notice_version="1", age=30)
    assert adult.minor is False and ledger.check("adult", "offers").valid


def test_check_of_unknown_purpose(ledger: Ledger) -> None:
    with pytest.raises(ConsentError, match="unknown purpose 'nope'"):
        ledger.check("x", "nope")
    with pytest.raises(ConsentError, match="unknown purpose 'nope'"):
        ledger.check_many(["x"], "nope")


def test_consent_changes_are_in_the_audit_log_by_pseudonym(workspace, policy) -> None:
    from veil.audit.log import AuditLog

    ledger = Ledger(workspace, policy)
    ledger.grant("C-777", "offers", **WEB, notice_version="1", time=ago(2))
    ledger.withdraw("C-777", "offers", channel="app", collector="app", time=ago(1))
    log = AuditLog(workspace)
    events = [log.get(i).event for i in range(log.head().size)]
    kinds = [e.action for e in events if e.action.startswith("consent.")]
    assert kinds[-2:] == ["consent.granted", "consent.withdrawn"]
    subjects = {s for e in events for s in e.subjects}
    assert len(subjects) == 1 and next(iter(subjects)).startswith("consent:")
    assert "C-777" not in repr([e.to_json_obj() for e in events])
    log.verify()
