"""docs/breach.md runs as written, in the README's CLI quickstart workspace."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "breach.md").read_text()


def test_walk_through_runs_as_written(readme_quickstart) -> None:
    block = re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)[0]
    r = readme_quickstart.run(block)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    q = readme_quickstart.base / "quickstart"
    assert (q / "breach-drafts" / "BR-0002.authority.html").is_file()
    assert (q / "records" / "breach-register.csv").read_text().count("\nBR-") == 2
    assert "authority_and_subjects" in r.stdout and "(Europe/Berlin)" in r.stdout
