"""Policy drafts from scans: valid YAML, loadable once the controller is filled, honest comments."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from veil.discovery.policy_draft import (
    dataset_id,
    draft_policy,
    fill_controller,
    guess_subject_id,
    write_policy_draft,
)
from veil.discovery.scan import scan_source
from veil.errors import InputError
from veil.pipeline.plan import check_treatments
from veil.policy import parse_policy


def _table() -> pa.Table:
    n = 60
    return pa.table(
        {
            "client_no": [f"K{i:05d}" for i in range(n)],
            "Customer Name": [
                ["Anna Schmidt", "Peter Jansen", "Marie Dubois"][i % 3] for i in range(n)
            ],
            "yes": ["x"] * n,
            "null": [str(i) for i in range(n)],
            "e-mail": [f"user{i}@example.org" for i in range(n)],
            "score": pa.array([0.5] * n),
        }
    )


def test_odd_column_names_still_give_a_loadable_draft() -> None:
    scan = scan_source(_table())
    draft = draft_policy(scan, dataset="customers")
    assert '# "Customer Name": cannot be a policy field name' in draft
    pol = parse_policy(fill_controller(draft, "Bank", "dpo@bank.example"))
    check_treatments(pol)
    fields = pol.datasets["customers"].fields
    assert set(fields) == {"client_no", "yes", "null", "e-mail", "score"}  # quoted keys survive
    assert fields["e-mail"].category == "contact"
    assert fields["score"].type == "float" and fields["score"].category == "income_credit"
    assert pol.datasets["customers"].subject_id == "client_no"


def test_subject_guess_and_dataset_ids() -> None:
    scan = scan_source(pa.table({"amount": [1.0, 2.0], "txn": ["a", "b"]}))
    assert guess_subject_id(scan) is None
    draft = draft_policy(scan, dataset="t")
    assert "# subject_id: TODO" in draft
    pol = parse_policy(fill_controller(draft, "Bank", "dpo@bank.example"))
    assert pol.datasets["t"].subject_id is None
    assert dataset_id("/data/2024 tx-export.csv") == "d_2024_tx_export"
    assert dataset_id("postgresql://h/db#customers") == "customers"
    with pytest.raises(InputError, match="dataset id"):
        draft_policy(scan, dataset="no spaces")


def test_user_recognizers_are_carried_into_the_draft(tmp_path: Path) -> None:
    specs = [{"name": "loyalty_no", "pattern": r"LOY\d{8}", "category": "direct_identifier"}]
    t = pa.table({"member": [f"LOY{10000000 + i}" for i in range(40)]})
    from veil.detect.registry import default_registry

    reg = default_registry()
    reg.add_all_from_config(specs)
    scan = scan_source(t, registry=reg)
    draft = draft_policy(scan, dataset="m", recognizers=specs)
    pol = parse_policy(fill_controller(draft, "Bank", "dpo@bank.example"))
    assert pol.recognizers == specs
    assert pol.datasets["m"].fields["member"].category == "direct_identifier"
    out = write_policy_draft(scan, tmp_path / "d.yaml", dataset="m", recognizers=specs)
    assert out.read_text() == draft.replace(draft.splitlines()[0], out.read_text().splitlines()[0])
    with pytest.raises(InputError, match="already exists"):
        write_policy_draft(scan, out)
