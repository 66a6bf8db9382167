"""``veil reidentify --transform fpe`` reverses FF1 and FF3-1 values (``--algorithm``), and a
wrong algorithm name is one clear error, not a traceback."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest

from tests.transforms.conftest import Ctx
from tests.transforms.test_keys import EnsuringProvider
from veil.transforms import REGISTRY, KeysetTransformKeys
from veil.transforms.keys import key_id

CARDS = ["4111111111111111", "5500 0000 0000 0004"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # FPE needs no database
def test_cli_reidentify_fpe(workspace: Any, monkeypatch: Any, capsys: Any) -> None:
    import veil.transforms.tokenize as tok_mod
    from veil.cli.main import main

    keys = KeysetTransformKeys(EnsuringProvider())
    monkeypatch.setattr(tok_mod, "workspace_keys", lambda ws, **kw: keys)
    kid = key_id(keys, "fpe", "scoring")
    for algorithm in (None, "ff3-1", "ff1"):
        params: dict[str, Any] = {"format": "card", "keep_first": 6}
        if algorithm:
            params["algorithm"] = algorithm
        enc = REGISTRY["fpe"].apply(pa.array(CARDS), params, Ctx(keys)).to_pylist()
        argv = ["reidentify", "--transform", "fpe", "--format", "card", "--keep-first", "6",
                "--key-id", kid, "--domain", "scoring", "--actor", "alice", "--reason",
                "case 7"]
        argv += ["--algorithm", algorithm] if algorithm else []
        capsys.readouterr()
        assert main([*argv, *enc]) == 0
        assert capsys.readouterr().out.splitlines() == [
            f"{e}\t{c}" for e, c in zip(enc, CARDS, strict=True)]
        if algorithm == "ff1":  # FF1 values read as FF3-1 give other numbers
            wrong = [a for a in argv if a not in ("--algorithm", "ff1")]
            assert main([*wrong, *enc]) == 0
            assert CARDS[0] not in capsys.readouterr().out
    assert main([*argv, "--algorithm", "ff3", enc[0]]) == 4
    err = capsys.readouterr().err
    assert "algorithm must be one of ff3-1, ff1" in err and "Traceback" not in err
