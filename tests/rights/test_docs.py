"""docs/rights.md runs as written, after the README's CLI quickstart and DPO blocks:
the bash walk-through (access, export, erasure, show) and then the Python example."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOC = (ROOT / "docs" / "rights.md").read_text()


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_walk_through_runs_as_written(tmp_path: Path) -> None:
    readme = _blocks(README, "bash")
    cli = next(b for b in readme if b.startswith("source .venv/bin/activate"))
    dpo = next(b for b in readme if "veil consent import" in b)
    block = _blocks(DOC, "bash")[0]
    code = _blocks(DOC, "python")[0]
    if not (Path(sys.prefix) / "bin" / "activate").exists():
        pytest.skip("tests are not running inside a virtual environment")
    (tmp_path / ".venv").symlink_to(sys.prefix)
    (tmp_path / "example.py").write_text(code)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VEIL_WORKSPACE", "VEIL_DATABASE_URL", "VEIL_KEK", "VEIL_SAMPLE_STORE")}
    script = cli + dpo + block + "python ../example.py\n"
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    q = tmp_path / "quickstart"
    pkg = json.loads((q / "access-package" / "package.json").read_text())
    subject = pkg["subject"]["id"]
    assert pkg["data"]["transactions"]["rows"]  # the subject exists in the data
    assert "offers-model.v1" in r.stdout and "erased" in r.stdout and "certificate" in r.stdout
    assert (q / "offers.parquet").is_file() and (q / "offers-dsr.parquet").is_file()
    assert "restricted ['credit_scoring']" in r.stdout and "closed ['credit_scoring']" in r.stdout
    certs = list((q / "dsr").glob("*/erasure-certificate.json"))
    assert len(certs) == 1 and subject not in certs[0].read_text()
