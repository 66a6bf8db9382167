"""Shared fixtures of the consent tests: a policy with consent purposes and a ledger on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

POLICY = """\
version: 1
name: Consent test bank
controller:
  name: Test Bank SE
  contact: privacy@test-bank.example
  address: Teststrasse 1, Frankfurt
  dpo: {name: DPO, email: dpo@test-bank.example}
datasets:
  customers:
    subject_id: customer_id
    fields:
      customer_id: direct_identifier
      email: contact
      balance: {category: income_credit, type: float}
  accounts:
    fields:
      iban: account
recipients:
  marketing: {name: Marketing team, role: internal}
purposes:
  offers:
    description: Personalised offers from transaction history
    legal_basis: consent
    retention: 2 years
    recipients: [marketing]
    datasets:
      customers: {fields: {customer_id: keep, balance: keep}}
  newsletter:
    description: Monthly newsletter
    legal_basis: consent
    retention: 1 year
    datasets:
      customers: {fields: {email: keep}}
  scoring:
    description: Credit scoring
    legal_basis: legitimate_interests
    legitimate_interest: Responsible lending
    retention: 5 years
    datasets:
      customers: {fields: {customer_id: keep, balance: keep}}
  account_mail:
    description: Mail about accounts (consent, but no subject id in the data)
    legal_basis: consent
    retention: 1 year
    datasets:
      accounts: {fields: {iban: keep}}
"""

WEB = {"channel": "web_form", "action": "clicked 'I agree'", "collector": "web-consent"}


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    p = tmp_path / "policy.yaml"
    p.write_text(POLICY, "utf-8")
    return p


@pytest.fixture
def policy(policy_file: Path):
    from veil.policy import load_policy

    return load_policy(policy_file)


@pytest.fixture
def ledger(workspace, policy):
    from veil.consent import Ledger

    return Ledger(workspace, policy)


def ago(days: float = 0, **kw: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days, **kw)
