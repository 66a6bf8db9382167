"""docs/breach.md runs as written, after the README's CLI quickstart setup."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "breach.md").read_text()
SETUP = """\
export VEIL_KEK_PASSPHRASE='a long passphrase for the docs test'
veil init quickstart && cd quickstart
veil keys init
veil sample --rows 2000 --seed 7 -o transactions.csv
veil run --policy sample --purpose credit_scoring transactions.csv -o credit.parquet
"""


def test_walk_through_runs_as_written(tmp_path: Path) -> None:
    block = re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)[0]
    env = {k: v for k, v in os.environ.items()
           if k not in ("VEIL_WORKSPACE", "VEIL_DATABASE_URL", "VEIL_KEK")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if not (Path(sys.executable).parent / "veil").exists():
        pytest.skip("the veil command is not installed beside this Python")
    r = subprocess.run(["bash", "-euo", "pipefail", "-c", SETUP + block], cwd=tmp_path,
                       capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    q = tmp_path / "quickstart"
    assert (q / "breach-drafts" / "BR-0002.authority.html").is_file()
    assert (q / "records" / "breach-register.csv").read_text().count("\nBR-") == 2
    assert "authority_and_subjects" in r.stdout and "(Europe/Berlin)" in r.stdout
