"""Ctrl-C during a command: exit code 130 and one line saying nothing was published (Typer
turns KeyboardInterrupt into an exit code it returns instead of raising, which once became 0)."""

from __future__ import annotations

import importlib

import pytest

from veil.cli.main import main


def test_an_interrupted_run_exits_130_and_says_so(monkeypatch, tmp_path, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    local_run = importlib.import_module("veil.pipeline.run")  # the module, not the export
    monkeypatch.setattr(local_run, "run", interrupted)
    src = tmp_path / "tx.csv"
    src.write_text("cid,amount\nC1,1.5\n")
    rc = main(["run", "--policy", "sample", "--purpose", "credit_scoring", str(src),
               "-o", str(tmp_path / "out.parquet")])
    assert rc == 130
    assert "interrupted; nothing was published" in capsys.readouterr().err
    assert not (tmp_path / "out.parquet").exists()


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"]])
def test_help_still_exits_0(argv):
    assert main(argv) == 0
