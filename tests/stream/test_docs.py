"""docs/streaming.md runs as written (its stream and subject names made unique): the Python
example feeds 1,000 payments and consumes them; the CLI line consumes them again elsewhere."""

from __future__ import annotations

import json
import os
import re
import shlex
import uuid
from pathlib import Path

from veil.cli import main as cli_main

DOC = (Path(__file__).resolve().parents[2] / "docs" / "streaming.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)


def test_python_and_cli_examples_run(streams, tmp_path: Path, monkeypatch, capsys) -> None:
    tag = uuid.uuid4().hex[:10]
    names = {"PAYMENTS": f"PAYMENTS_{tag}", "FRAUD": f"FRAUD_{tag}",
             "payments.": f"payments_{tag}.", "fraud.": f"fraud_{tag}."}

    def unique(text: str) -> str:
        for old, new in names.items():
            text = text.replace(old, new)
        return text

    streams.names += [names["PAYMENTS"], names["FRAUD"]]  # deleted after the test
    monkeypatch.chdir(tmp_path)
    for var in ("VEIL_DATABASE_URL", "VEIL_WORKSPACE", "VEIL_KEK"):
        monkeypatch.delenv(var, raising=False)
    try:
        (python,) = _blocks("python")
        exec(compile(unique(python), "docs/streaming.md", "exec"), {})
        out = capsys.readouterr().out.splitlines()
        assert out[0] == "4 1000 1000"
        assert len(eval(out[1])) == 13  # the columns fraud_detection keeps
        files = sorted(p.name for p in Path("stream-demo/fraud").glob("batch-*.parquet"))
        assert files[0] == "batch-000000000001-000000000250.parquet" and len(files) == 4
        assert len(streams.messages(names["FRAUD"])) == 1000

        (bash,) = _blocks("bash")
        args = shlex.split(unique(bash))
        assert args[:2] == ["veil", "stream"]
        assert cli_main.main([*args[1:], "--json"]) == 0
        totals = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert totals == {"batches": 2, "rows_in": 1000, "rows_out": 1000, "duplicates": 0}
    finally:
        os.environ.pop("VEIL_KEK_PASSPHRASE", None)  # the example sets it for its process
