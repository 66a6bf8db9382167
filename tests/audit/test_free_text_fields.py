"""Free-text fields of audit events hold no personal data: an e-mail address, an IBAN, a card or
phone number or a person's name in the actor, a reason, a purpose or any detail is refused with
one line naming the field and the kind (never the value), and nothing is written."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.audit.event import AuditEvent
from veil.audit.log import AuditLog
from veil.audit.screen import (
    SUSPECT_RULES,
    bare_number,
    free_text,
    machine_token,
    screen_events,
    screen_text,
    suspect,
)
from veil.cli import main as cli_main
from veil.detect import find_spans
from veil.errors import AuditError

EMAIL = "alice.meier@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
NAME = "Maria Schneider"
PHONE = "+49 30 901820"
CARD = "4111 1111 1111 1111"

PERSONAL = [  # (field, value, the kind the error names)
    ("actor", EMAIL, "email"),
    ("actor", NAME, "person"),
    ("reason", f"asked by {NAME}", "person"),
    ("reason", f"refund to {IBAN}", "iban"),
    ("reason", f"customer called from {PHONE}", "phone"),
    ("purpose", f"card {CARD}", "card"),
    ("note", f"contact {EMAIL}", "email"),
]


def event(field: str = "reason", value: str = "ticket 881", **more: object) -> AuditEvent:
    """An event whose ``field`` (a top-level text field, else a detail) holds ``value``."""
    fields: dict[str, object] = {
        "time": datetime(2025, 3, 4, 12, 0, tzinfo=UTC), "actor": "dpo", "action": "dsr.extend",
        "purpose": "data-subject-rights", "legal_basis": "art12_3", "outcome": "success",
        "details": {"request": "3f2a9c1e4b7d"}}
    if field in ("actor", "action", "purpose", "legal_basis", "outcome"):
        fields[field] = value
    else:
        fields["details"] = {**fields["details"], field: value}  # type: ignore[dict-item]
    fields.update(more)
    return AuditEvent(**fields)  # type: ignore[arg-type]


def where(field: str) -> str:
    return field if field in ("actor", "purpose") else f"details.{field}"


def test_personal_data_in_a_free_text_field_is_refused_and_not_written(
        audit_log: AuditLog) -> None:
    audit_log.append([event()])
    before = audit_log.head()
    for field, value, kind in PERSONAL:
        with pytest.raises(AuditError) as err:
            audit_log.append([event(field, value)])
        message = str(err.value)
        assert message == (f"audit event field '{where(field)}' holds personal data ({kind}): "
                           "name people by role or pseudonym")
        assert value not in message and err.value.exit_code == 8
        assert audit_log.head() == before  # nothing written


def test_one_bad_event_refuses_the_whole_batch(audit_log: AuditLog) -> None:
    batch = [event(), event("note", f"paid to {IBAN}"), event()]
    with pytest.raises(AuditError, match=r"'details.note' \(event 2 of 3\) holds personal data "
                       r"\(iban\)"):
        audit_log.append(batch)
    assert audit_log.head().size == 0


def test_a_key_holding_personal_data_is_refused_without_naming_it() -> None:
    bad = event(details={EMAIL: "yes"})
    with pytest.raises(AuditError) as err:
        screen_events([bad])
    assert "'details' has a key that holds personal data (email)" in str(err.value)
    assert EMAIL not in str(err.value)
    with pytest.raises(AuditError, match="'digests' has a key"):
        screen_events([event(digests={f"output:{NAME}.csv": "sha256:" + "ab" * 32})])


def test_text_can_be_screened_before_anything_is_stored() -> None:
    screen_text({"actor": ["web", "app"], "details.channels": "web_form"})
    with pytest.raises(AuditError, match=r"^audit event field 'actor' holds personal data "
                       r"\(email\): name people by role or pseudonym$"):
        screen_text({"actor": ["web", EMAIL]})


VEIL_OWN = [
    # role names and pseudonyms as actors
    {"actor": "dpo"}, {"actor": "key:abc123"}, {"actor": "system"}, {"actor": "svc:pipeline"},
    {"actor": "cli:root"}, {"actor": "ml-team"}, {"actor": "DPO"}, {"actor": "Risk Team"},
    # what Veil itself puts in events: run ids, digests, paths, purposes, counts, errors
    {"details": {"run_id": "9f1c2b3d4e5f6a7b8c9d0e1f2a3b4c5d", "dataset": "transactions",
                 "path": "/tmp/pytest-of-root/pytest-12/test_run0/ws/policy.yaml",
                 "name": "Sample bank policy", "fields_kept": 7}},
    {"digests": {"input": "sha256:" + "0123456789abcdef" * 4,
                 "output:3f2a9c1e-4b7d-4e2a-9f1c-2b3d4e5f6a7b": "sha256:" + "9" * 64}},
    {"counts": {"rows_in": 200000, "dropped:consent": 12}},
    {"details": {"error": "input error", "error_class": "InputError", "key_id": "1234567890",
                 "keyset": "token:fraud_detection", "time": "2025-03-04T12:00:00.000000Z"}},
    {"details": {"reason": "records across 14 systems", "channels": "app,web_form",
                 "url": "http://127.0.0.1:8080/witness", "since": "2025-03-04"}},
    {"purpose": "credit_scoring", "legal_basis": "art6_1_b_contract",
     "data_categories": ["contact", "account", "financial"]},
]


def test_role_names_and_veils_own_details_pass(audit_log: AuditLog) -> None:
    for i, fields in enumerate(VEIL_OWN):
        assert audit_log.append([event(**fields)]) == [i], fields


def test_every_screened_value_is_one_free_text_names() -> None:
    """The hot path collects the same strings that an error can name."""
    from veil.audit import screen

    e = event(data_categories=["contact"], counts={"rows": 1}, digests={"o": "sha256:x"},
              details={"a": "b", "n": 3, "f": None})
    fast: list[str] = []
    screen._strings(e, fast)
    assert sorted(fast) == sorted(t.value for t in free_text(e))


def test_each_prefilter_rule_sends_what_it_catches_to_the_finder() -> None:
    examples = {"at sign": "a@b.example", "capital letter": "Maria",
                "four digits": "dob 1.2.80", "colon groups": "fe80::1",
                "wallet prefix": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
                "payee phrase": "transfer to john smith"}
    assert [r.name for r in SUSPECT_RULES] == list(examples)
    for name, value in examples.items():
        assert suspect(value), name
        assert find_spans([value])[0], name  # and the finder reports it
    for token in ("sha256:" + "ab" * 32, "9f1c2b3d4e5f6a7b8c9d0e1f2a3b4c5d",
                  "3f2a9c1e-4b7d-4e2a-9f1c-2b3d4e5f6a7b"):
        assert machine_token(token) and not suspect(token)
    for not_a_token in ("de89370400440532013000", "4111111111111111", "sha256:" + "AB" * 32):
        assert not machine_token(not_a_token)
    assert bare_number("1234567890") and not suspect("1234567890")  # a key id
    for number in ("004930901820", "411111111111", "4111111111111111"):
        assert not bare_number(number)  # international dialling form, long enough for a card
    assert find_spans(["004930901820"])[0]


@settings(max_examples=300, deadline=None)
@given(st.from_regex(r"[1-9][0-9]{0,10}|0[1-9][0-9]{0,9}", fullmatch=True))
def test_the_finder_reports_nothing_in_a_bare_number(number: str) -> None:
    assert bare_number(number) and find_spans([number]) == [[]], number


WORDS = st.sampled_from(["account", "acct", "iban", "phone", "tel", "born", "dob", "ssn",
                         "passport", "bsn", "postcode", "street", "to", "from", "paid", "mr",
                         "dear", "address", "wallet", "ip", "mac", "id", "card", "no"])
TOKENS = st.one_of(WORDS, st.text(string.ascii_lowercase, min_size=1, max_size=8),
                   st.text(string.digits, min_size=1, max_size=3),
                   st.text(string.ascii_lowercase + string.digits + ".-/:_", min_size=1,
                           max_size=12))


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, min_size=1, max_size=6).map(" ".join))
def test_what_the_rules_let_through_the_finder_finds_nothing_in(text: str) -> None:
    """The prefilter is a superset of the finder on text without capitals, '@' or four digits
    (where the finder's context words are the likeliest to make it report something)."""
    if not suspect(text):
        assert find_spans([text]) == [[]], text


# ---------------------------------------------------------------------------- the CLI


def veil(*args: str) -> int:
    return cli_main.main(list(args))


def dsr_ids(capsys) -> list[str]:  # type: ignore[no-untyped-def]
    assert veil("dsr", "list", "--json") == 0
    return [r["id"] for r in json.loads(capsys.readouterr().out)]


def test_cli_actor_and_reason_with_personal_data_get_one_line_and_change_nothing(
        workspace, capsys) -> None:
    log = AuditLog(workspace, sinks=[])
    assert veil("dsr", "open", "access", "CUST-0000042", "-p", "sample", "--actor", "dpo") == 0
    capsys.readouterr()
    (rid,) = dsr_ids(capsys)
    size = log.head().size

    assert veil("dsr", "open", "access", "CUST-0000043", "-p", "sample",
                "--actor", EMAIL) == 8
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "audit event field 'actor' holds personal data (email)" in err
    assert EMAIL not in err and "CUST-0000043" not in err
    assert log.head().size == size and dsr_ids(capsys) == [rid]  # no event, no request

    for option, value, kind in (("--actor", EMAIL, "email"), ("--reason", f"asked by {NAME}",
                                                              "person"),
                                ("--reason", f"refund to {IBAN}", "iban")):
        args = {"--actor": "dpo", "--reason": "ticket 881", option: value}
        assert veil("reidentify", "--domain", "fraud_detection", "--actor", args["--actor"],
                    "--reason", args["--reason"], "tok_abc") == 8
        err = capsys.readouterr().err.strip()
        field = "actor" if option == "--actor" else "details.reason"
        assert f"audit event field '{field}' holds personal data ({kind})" in err
        assert value not in err and err.count("\n") == 0
        assert log.head().size == size
