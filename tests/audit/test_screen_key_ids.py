"""Veil's own key ids and keyset names are machine tokens: the audit screen does not start the
personal-data finder for them (a run's key events would otherwise load the name lists), while
look-alikes holding text still go to the finder."""

from __future__ import annotations

import pytest

from veil.audit.screen import machine_token, suspect


@pytest.mark.parametrize("value", [
    "env:VEIL_KEK:0123456789abcdef", "file:89abcdef01234567", "static:00112233445566ff",
    "output.0123456789abcdef0123456789abcdef", "sha256:" + "ab" * 32,
])
def test_key_ids_and_keyset_names_are_machine_tokens(value):
    assert machine_token(value) and not suspect(value)


@pytest.mark.parametrize("value", [
    "env:VEIL_KEK:0123456789ABCDEF",  # upper-case hex is not what Veil writes
    "file:Maria Schneider", "Maria.0123456789abcdef0123456789abcdef",
    "output.0123456789abcdef0123456789abcde",  # one digit short
    "env:veil kek:0123456789abcdef", "file:0123456789abcdef extra",
    "file:4111111111111111",  # all digits: could be a card, the finder decides
])
def test_look_alikes_are_not(value):
    assert not machine_token(value)
