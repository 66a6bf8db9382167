"""Requests check their input at open without echoing personal data (new values, types,
purposes, statuses); a registered store's errors are clear and leave nothing behind; files that
hold personal data are private to their owner."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

import veil
from veil.cli.main import main
from veil.errors import InputError, PolicyError, StoreError
from veil.rights import Requests, Store, load_store
from veil.sample import SAMPLE_POLICY


def test_set_never_echoes_and_types_are_checked_at_open(bank, capsys) -> None:
    assert main(["dsr", "open", "rectification", bank.subject, "-p", "sample",
                 "--set", "Jane Secret Doe"]) == 4
    err = capsys.readouterr().err
    assert "Secret" not in err and "--set #1" in err
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(InputError, match="'annual_income': the new value is not a valid float"):
        reqs.open("rectification", bank.subject,
                  details={"corrections": {"annual_income": "lots"}})
    with pytest.raises(InputError, match="birth_date") as info:
        reqs.open("rectification", bank.subject,
                  details={"corrections": {"birth_date": "31/02/1990"}})
    assert "31/02" not in str(info.value)
    assert main(["dsr", "open", "rectification", bank.subject, "-p", "sample",
                 "--set", "phone=", "--json"]) == 0
    rid = json.loads(capsys.readouterr().out)["id"]
    reqs.run(rid)
    assert {r["phone"] for r in Store(bank.policy, "transactions", bank.ws)
            .rows(bank.subject)} == {None}


def test_purpose_and_status_are_checked(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    with pytest.raises(InputError, match="--purpose is for restriction and objection"):
        reqs.open("access", bank.subject, purposes=["credit_scoring"])
    with pytest.raises(InputError, match="unknown status 'bogus'"):
        reqs.list(status="bogus")


def test_store_errors_are_clear(bank, capsys, edited_policy) -> None:
    pol = edited_policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                           "mysql://u:pw@db.example/bank"))
    with pytest.raises(PolicyError, match=r"dataset 'transactions' needs the database driver"):
        Requests(bank.ws, pol).run(Requests(bank.ws, pol).open("erasure", bank.subject).id)
    missing = edited_policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                               "sqlite:///nowhere.db"))
    with pytest.raises(StoreError, match="does not exist: no file"):
        Store(missing, "transactions", bank.ws)
    assert not (Path(bank.ws.root) / "nowhere.db").exists()
    Path("bad.csv").write_text("customer_id,annual_income\nC1,12\nC2,lots\n")
    with pytest.raises(InputError):
        load_store(missing, "transactions", "bad.csv", bank.ws)
    assert not (Path(bank.ws.root) / "nowhere.db").exists()  # no empty database left
    pg = edited_policy(replace=("${VEIL_SAMPLE_STORE:-sqlite:///bank.db}",
                          "postgresql://veil:s3cret@127.0.0.1:1/bank"))
    with pytest.raises(StoreError, match="cannot connect to the database server") as info:
        Store(pg, "transactions", bank.ws).count("x")
    assert "s3cret" not in str(info.value)


def test_personal_data_files_are_private(workspace, tmp_path) -> None:
    from veil.sample import write_sample

    write_sample("tx.csv", 50, seed=1)
    pol = veil.load_policy(SAMPLE_POLICY)
    os.environ.pop("VEIL_SAMPLE_STORE", None)
    load_store(pol, "transactions", "tx.csv", workspace)
    db = Path(workspace.root) / "bank.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    import pyarrow.csv as pcsv

    subject = pcsv.read_csv("tx.csv").column("customer_id")[0].as_py()
    reqs = Requests(workspace, pol)
    a = reqs.run(reqs.open("access", subject).id)
    files = reqs.export(a.id, "pkg", reason="portal")
    assert stat.S_IMODE(Path("pkg").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
