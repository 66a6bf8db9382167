"""docs/crypto.md's "KEK providers" section runs as written: its [keys] tables are valid
configurations, and its walk-through moves a workspace to a SoftHSM2 token and back."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from tests.kek.conftest import INIT_TOKEN, SoftHsm, run_output, sqlite_only, veil
from veil.kek.config import KeysConfig

DOC = (Path(__file__).resolve().parents[2] / "docs" / "crypto.md").read_text()
SECTION = DOC.split("\n## KEK providers\n", 1)[1].split("\n## ", 1)[0]


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", SECTION, flags=re.S)


def test_the_keys_tables_are_valid(tmp_path: Path) -> None:
    import tomllib

    tables = [tomllib.loads(b)["keys"] for b in blocks("toml")]
    assert [t["kek"] for t in tables] == ["pkcs11", "aws-kms"]
    for t in tables:
        cfg = KeysConfig.from_table(t, tmp_path, "docs/crypto.md")
        assert KeysConfig.from_table(cfg.toml_table(tmp_path), tmp_path, "x") == cfg


@sqlite_only
def test_the_walkthrough_runs(keyed: Any, hsm: SoftHsm, monkeypatch: pytest.MonkeyPatch,
                              capsys: Any) -> None:
    import veil as veil_lib

    table = run_output("out.parquet")
    (script,) = blocks("bash")
    for line in script.strip().splitlines():
        args = shlex.split(line)
        if args[0] == "softhsm2-util":
            assert args == INIT_TOKEN  # what the softhsm fixture ran for this session
        elif args[0] == "export":
            name, value = args[1].split("=", 1)
            monkeypatch.setenv(name, value)
        else:
            assert args[0] == "veil" and veil(*args[1:]) == 0, (line, capsys.readouterr())
            if args[1:3] == ["keys", "list"]:
                assert "pkcs11 token 'veil-test' key 'veil-kek'" in capsys.readouterr().out
    monkeypatch.setenv("VEIL_KEK_PASSPHRASE", "a new passphrase")
    assert veil_lib.read("out.parquet").equals(table)
