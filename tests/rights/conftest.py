"""Fixtures for data-subject rights: the sample table in a registered store, one consenting
subject, a run of the consent purpose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.csv as pcsv
import pytest

import veil
from veil.policy import load_policy
from veil.sample import SAMPLE_POLICY, write_sample


@dataclass
class Bank:
    ws: object
    policy: object
    csv: Path
    subject: str
    email: str
    rows: int  # the subject's rows in the sample
    other: str  # another subject


@pytest.fixture
def bank(workspace, database_url, monkeypatch) -> Bank:
    """The sample table (2,000 rows) loaded into the sample policy's store (SQLite beside the
    workspace, or the PostgreSQL test database), a notice, and consent for one subject."""
    from veil.consent.ledger import Ledger
    from veil.rights import load_store

    if database_url.startswith("postgresql"):
        monkeypatch.setenv("VEIL_SAMPLE_STORE", database_url)
    else:
        monkeypatch.delenv("VEIL_SAMPLE_STORE", raising=False)
    policy = load_policy(SAMPLE_POLICY)
    csv = Path("tx.csv")
    write_sample(csv, 2000, seed=5)
    assert load_store(policy, "transactions", csv, workspace) == 2000
    t = pcsv.read_csv(csv)
    ids = t.column("customer_id").to_pylist()
    subject = ids[0]
    other = next(i for i in ids if i != subject)
    led = Ledger(workspace, policy)
    led.add_notice("personalised_offers", "1", "We suggest offers.", created_by="test",
                   effective="2024-01-01T00:00:00Z")
    for s in (subject, other):
        led.grant(s, "personalised_offers", channel="web_form", action="ticked the box",
                  collector="test", notice_version="1")
    email = t.column("email")[0].as_py()
    return Bank(workspace, policy, csv, subject, email, ids.count(subject), other)


def _edited_sample_policy(text: str = "", *, before_datasets: str = "",  # type: ignore[no-untyped-def]
                          replace: tuple[str, str] | None = None):
    base = Path(SAMPLE_POLICY).read_text()
    if replace:
        assert replace[0] in base
        base = base.replace(replace[0], replace[1])
    if before_datasets:
        base = base.replace("datasets:\n  transactions:", "datasets:\n" + before_datasets
                            + "  transactions:", 1)
    p = Path("policy.yaml")
    p.write_text(base + text)
    return veil.load_policy(p)


@pytest.fixture
def edited_policy():  # type: ignore[no-untyped-def]
    """The sample policy with text appended (or inserted before the datasets, or replaced),
    written to policy.yaml and loaded: ``edited_policy(text, before_datasets=, replace=)``."""
    return _edited_sample_policy
