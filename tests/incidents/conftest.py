"""A workspace with two real runs: a plaintext card export and an encrypted scoring output."""

from __future__ import annotations

from pathlib import Path

import pytest

POLICY = """\
version: 1
controller:
  name: Example Bank SE
  contact: privacy@bank.example
  dpo: {name: Data Protection Officer, email: dpo@bank.example}
  supervisory_authority: {name: HBDI, email: poststelle@datenschutz.hessen.de, country: DE}
  timezone: Europe/Berlin
datasets:
  cards:
    subjects: retail banking customers
    subject_id: cid
    fields:
      cid: direct_identifier
      name: direct_identifier
      card: card
      amount: {category: transaction, type: float}
purposes:
  export:
    description: Card export for the collections vendor
    legal_basis: contract
    retention: 1 year
    encryption: {at_rest: false}
    datasets: {cards: {fields: {cid: keep, name: keep, card: keep, amount: keep}}}
  scoring:
    description: Scoring model training
    legal_basis: contract
    retention: 1 year
    datasets: {cards: {fields: {cid: {transform: pseudonymize}, amount: keep}}}
"""

ROWS = [  # 10 rows, 6 customers
    ("C-1", "Ann Example", "4111111111111111", 10.5),
    ("C-2", "Bob Example", "5500005555555559", 20.0),
    ("C-3", "Cem Example", "4012888888881881", 7.25),
    ("C-1", "Ann Example", "4111111111111111", 3.0),
    ("C-4", "Dee Example", "4222222222222", 99.0),
    ("C-5", "Eve Example", "378282246310005", 1.0),
    ("C-2", "Bob Example", "5500005555555559", 5.0),
    ("C-6", "Fay Example", "6011111111111117", 42.0),
    ("C-3", "Cem Example", "4012888888881881", 8.0),
    ("C-6", "Fay Example", "6011111111111117", 4.0),
]
SUBJECTS = 6


@pytest.fixture
def bank(workspace):
    """(workspace, policy, export run, scoring run) with the files in the workspace folder."""
    import veil

    root = Path(workspace.root)
    (root / "policy.yaml").write_text(POLICY)
    lines = ["cid,name,card,amount"] + [f"{c},{n},{k},{a}" for c, n, k, a in ROWS]
    (root / "cards.csv").write_text("\n".join(lines) + "\n")
    pol = veil.load_policy(root / "policy.yaml")
    export = veil.run(pol, "export", root / "cards.csv", root / "export.parquet",
                      workspace=workspace)
    scoring = veil.run(pol, "scoring", root / "cards.csv", root / "scoring.parquet",
                       workspace=workspace)
    return workspace, pol, export, scoring
