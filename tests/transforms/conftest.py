"""Fixtures for the transform tests: a plan of a small policy, a run context with keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from veil.pipeline.context import RunContext
from veil.pipeline.plan import Plan, make_plan
from veil.policy import load_policy
from veil.transforms import REGISTRY, InMemoryTransformKeys, TransformContext

POLICY = """\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: cid
    fields:
      cid: direct_identifier
      name: direct_identifier
      email: contact
      iban: account
      card: card
      birth: {category: demographic, type: date}
      when: {category: transaction, type: timestamp}
      amount: {category: transaction, type: float}
      age: {category: demographic, type: integer}
      postcode: location
      memo: free_text
      national_id: government_id
purposes:
  scoring:
    description: Credit scoring
    legal_basis: contract
    retention: 2 years
    datasets:
      tx:
        fields:
%s
  fraud:
    description: Fraud detection
    legal_basis: legal_obligation
    retention: 5 years
    datasets:
      tx:
        fields:
          cid: pseudonymize
"""

ALL_FIELDS = ["cid", "name", "email", "iban", "card", "birth", "when", "amount", "age",
              "postcode", "memo", "national_id"]


def write_policy(tmp_path: Path, fields: dict[str, str], name: str = "policy.yaml") -> Path:
    body = "".join(f"          {k}: {v}\n" for k, v in fields.items())
    p = tmp_path / name
    p.write_text(POLICY % body, encoding="utf-8")
    return p


def make_ctx(tmp_path: Path, fields: dict[str, str], keys: Any = None,
             purpose: str = "scoring", run_id: str = "run-1") -> tuple[RunContext, Plan, list]:
    pol = load_policy(write_policy(tmp_path, fields))
    plan = make_plan(pol, purpose, ALL_FIELDS)
    ctx = RunContext(run_id=run_id, plan=plan,
                     keys=keys if keys is not None else InMemoryTransformKeys())
    active = [(f.name, REGISTRY[f.treatment.transform], dict(f.treatment.params))
              for f in plan.output if f.treatment.transform != "keep"]
    return ctx, plan, active


def Ctx(keys: Any = None, purpose: str = "scoring", run_id: str = "run-1",  # noqa: N802
        field: str | None = None, subject_ids: Any = None,
        no_keys: bool = False) -> TransformContext:
    """A minimal transform context for calling one transform's apply directly."""
    return TransformContext(
        run_id=run_id, purpose_id=purpose,
        keys=None if no_keys else keys if keys is not None else InMemoryTransformKeys(),
        field=field, subject_ids=pa.array(subject_ids) if subject_ids is not None else None)


@pytest.fixture
def keys() -> InMemoryTransformKeys:
    return InMemoryTransformKeys()
