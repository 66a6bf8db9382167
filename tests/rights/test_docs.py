"""docs/rights.md runs as written, after the README's CLI quickstart and DPO blocks:
the bash walk-through (access, export, erasure, show) and then the Python example."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "rights.md").read_text()


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_walk_through_runs_as_written(readme_quickstart) -> None:
    block = _blocks(DOC, "bash")[0]
    code = _blocks(DOC, "python")[0]
    (readme_quickstart.base / "example.py").write_text(code)
    r = readme_quickstart.run(block + "python ../example.py\n")
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    q = readme_quickstart.base / "quickstart"
    pkg = json.loads((q / "access-package" / "package.json").read_text())
    subject = pkg["subject"]["id"]
    assert pkg["data"]["transactions"]["rows"]  # the subject exists in the data
    assert "offers-model.v1" in r.stdout and "erased" in r.stdout and "certificate" in r.stdout
    assert (q / "offers.parquet").is_file() and (q / "offers-dsr.parquet").is_file()
    assert "restricted ['credit_scoring']" in r.stdout and "closed ['credit_scoring']" in r.stdout
    certs = list((q / "dsr").glob("*/erasure-certificate.json"))
    assert len(certs) == 1 and subject not in certs[0].read_text()
