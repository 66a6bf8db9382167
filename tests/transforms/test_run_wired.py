"""The run with transforms, through veil.run (needs the Treat/Minimize/plan/run.py wiring)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from schwifty import IBAN
from stdnum import luhn

import veil
from tests.transforms.conftest import write_policy
from tests.transforms.test_run import CARDS, FIELDS, _csv
from veil.errors import PolicyError
from veil.transforms import InMemoryTransformKeys
from veil.transforms.tokenize import detokenize


def test_veil_run_with_several_transforms(workspace: Any, tmp_path: Path) -> None:
    _csv(tmp_path / "in.csv", 300)
    policy = write_policy(tmp_path, FIELDS)
    keys = InMemoryTransformKeys()
    res = veil.run(policy, "scoring", tmp_path / "in.csv", tmp_path / "out.parquet", keys=keys)
    t = veil.read(tmp_path / "out.parquet")
    assert t.num_rows == 300 and "national_id" not in t.column_names
    assert t.schema.field("birth").type == pa.string()  # output types from the transforms
    rows = t.to_pylist()
    assert "Hans Müller" not in repr(rows) and not set(CARDS) & {r["card"] for r in rows}
    assert all(luhn.is_valid(r["card"]) and IBAN(r["iban"]).validate() for r in rows)
    assert detokenize([rows[0]["cid"]], keys, "scoring") == ["C0000"]
    r = json.loads(res.receipt_path.read_text())
    tr = r["fields"]["transformed"]
    assert tr["cid"]["key_id"].startswith("token:scoring:")
    assert tr["when"]["subject_id"] == "cid"
    assert tr["amount"]["scale"] == 5.0 and tr["amount"]["run_id"] == res.run_id
    assert keys.hmac_key("scoring").hex() not in res.receipt_path.read_text()


def test_date_shift_without_subject_id_is_refused(tmp_path: Path) -> None:
    p = write_policy(tmp_path, {"when": "{transform: date_shift, max_days: 3}"})
    p.write_text(p.read_text().replace("    subject_id: cid\n", ""))
    from veil.pipeline.plan import check_treatments
    from veil.policy import load_policy

    with pytest.raises(PolicyError, match="declares no subject_id"):
        check_treatments(load_policy(p))
