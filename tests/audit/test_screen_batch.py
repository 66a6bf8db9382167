"""The screen's batch pass (Arrow regexes over a batch's values) lets through to the rules every
value the rules would send to the finder, so a batch is refused exactly as value-by-value
screening refuses it: a name, an e-mail address or an IBAN hidden in a detail, a digest's key
or among hundreds of machine tokens is still found and named by field."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit import screen
from veil.audit.event import AuditEvent
from veil.errors import AuditError

TOKENS = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]
CRAFTED = (
    [f"sha256:{t}" for t in TOKENS[:10]] + [t[:32] for t in TOKENS[10:20]]
    + [str(uuid.UUID(t[:32])) for t in TOKENS[20:30]]
    + ["env:VEIL_KEK:" + t[:16] for t in TOKENS[30:35]] + ["file:1234567890123456",
                                                            "static:" + TOKENS[0][:16]]
    + [f"output.{t[:32]}" for t in TOKENS[35:40]] + ["output." + "1" * 32]
    + ["0", "00", "007", "12345678901", "123456789012", "r4999", "run-17", "a1b2c3d4"]
    + ["maria.schneider@example.com", "Maria Schneider", "DE89 3704 0044 0532 0130 00",
       "de89370400440532013000", "transfer to john smith", "2024-05-01T12:00:00.000000Z",
       "fe80::1ff:fe23:4567:890a", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
       "0x" + TOKENS[0][:40], "+49 30 1234567", "١٢٣٤٥", "İstanbul", "ﬁle", "a\x1c1\x1c2\x1c3\x1c4",
       "x:ab:y", "ab:cd:" + TOKENS[1], "Ab:" + TOKENS[2], "a" * 33 + ":" + TOKENS[3]]
)


def _needs_finder(v: str) -> bool:
    return not screen.machine_token(v) and not screen.bare_number(v) and screen._fires(v)


def test_the_batch_pass_keeps_every_value_the_rules_send_on() -> None:
    values = set(CRAFTED)
    assert len(values) >= screen._SIFT_MIN
    kept = set(screen._sift(values))
    assert {v for v in values if _needs_finder(v)} <= kept
    assert not kept & {f"sha256:{t}" for t in TOKENS[:10]}  # and it does clear tokens


# 25 batches of 64 to 200 values (drawing them is most of the cost); the crafted values above
# (tokens, numbers, names, IBANs, look-alikes) are checked in full on every run
@settings(max_examples=25, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=30), st.from_regex(r"[a-z0-9:.@ -]{1,40}"),
                          st.from_regex(r"[0-9a-f]{32}|[0-9]{1,13}|[A-Za-z]{2}[0-9]{2,20}")),
                min_size=screen._SIFT_MIN, max_size=200, unique=True))
def test_the_batch_pass_is_a_superset_on_generated_values(values: list[str]) -> None:
    kept = set(screen._sift(set(values)))
    assert {v for v in values if _needs_finder(v)} <= kept


def _event(i: int, **details: str) -> AuditEvent:
    return AuditEvent(time=datetime(2024, 5, 1, tzinfo=UTC), actor="svc:pipeline",
                      action="run.stage", purpose="credit_scoring",
                      legal_basis="art6_1_b_contract", outcome="success",
                      digests={"output": "sha256:" + hashlib.sha256(str(i).encode()).hexdigest()},
                      details={"run": f"r{i}", "stage": "minimize", **details})


@pytest.mark.parametrize(("hidden", "field", "kind"), [
    ({"reason": "asked by Maria Schneider"}, "details.reason", "person"),
    ({"note": "reply to maria.schneider@example.com"}, "details.note", "email"),
    ({"account": "DE89 3704 0044 0532 0130 00"}, "details.account", "iban"),
])
def test_a_big_batch_is_refused_for_one_hidden_value(hidden: dict[str, str], field: str,
                                                     kind: str) -> None:
    screen._CLEAN.clear()
    events = [_event(i) for i in range(300)]
    events[157] = _event(157, **hidden)
    with pytest.raises(AuditError) as info:
        screen.screen_events(events)
    assert f"'{field}' (event 158 of 300)" in info.value.message
    assert kind in info.value.message
    screen.screen_events(events[:157] + events[158:])  # the rest passes


def test_a_digest_key_holding_a_name_is_refused_in_a_big_batch() -> None:
    events = [_event(i) for i in range(200)]
    events[0] = AuditEvent(time=datetime(2024, 5, 1, tzinfo=UTC), actor="svc:pipeline",
                           action="run.stage", purpose="credit_scoring",
                           legal_basis="art6_1_b_contract", outcome="success",
                           digests={"file of Hans Müller": "sha256:" + TOKENS[0]})
    with pytest.raises(AuditError, match="'digests' .* has a key that holds personal data"):
        screen.screen_events(events)
