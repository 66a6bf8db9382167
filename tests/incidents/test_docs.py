"""docs/breach.md runs as written, in the README's CLI quickstart workspace.

Its `veil` lines run in this process through the real entry point (`veil.cli.main.main`: the
same exit codes and output), except the last one, which runs as a fresh `python -m veil`
process: a fresh process per line paid the start-up and the screen's lexicons 13 times. The
other lines (a shell assignment, `sed`) run in bash as written."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from veil.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "breach.md").read_text()
ASSIGNMENT = re.compile(r"^([A-Za-z_]\w*)=")


def _as_the_readme_left_it(readme_quickstart, monkeypatch) -> Path:
    """cwd in a fresh copy of the quickstart workspace, the environment its block exported."""
    q = readme_quickstart.fresh() / "quickstart"
    for var in set(os.environ) - set(readme_quickstart.env):  # what the README run drops
        monkeypatch.delenv(var)
    for line in readme_quickstart.resume.splitlines():
        args = shlex.split(line)
        if args[:1] == ["export"]:
            name, value = args[1].split("=", 1)
            monkeypatch.setenv(name, value)
    monkeypatch.chdir(q)
    return q


def test_walk_through_runs_as_written(readme_quickstart, monkeypatch, capsys) -> None:
    block = re.findall(r"```bash\n(.*?)```", DOC, flags=re.S)[0]
    q = _as_the_readme_left_it(readme_quickstart, monkeypatch)
    lines = block.strip().splitlines()
    last_veil = max(i for i, line in enumerate(lines) if line.startswith("veil "))
    out = []
    for i, line in enumerate(lines):
        if not line.startswith("veil "):
            shell = line if not (m := ASSIGNMENT.match(line)) else \
                f'{line}\nprintf %s "${m.group(1)}"'
            r = subprocess.run(["bash", "-euo", "pipefail", "-c", shell], capture_output=True,
                               text=True, env=dict(os.environ))
            assert r.returncode == 0, (line, r.stderr)
            if m:
                monkeypatch.setenv(m.group(1), r.stdout)
            continue
        args = [os.path.expandvars(a) for a in shlex.split(line)]
        if i == last_veil:  # one fresh process: the console script's exit code and output
            r = subprocess.run([sys.executable, "-m", "veil", *args[1:]], capture_output=True,
                               text=True, env=dict(os.environ), timeout=300)
            assert r.returncode == 0, (line, r.stdout[-3000:], r.stderr[-3000:])
            out.append(r.stdout)
        else:
            code = main(args[1:])
            captured = capsys.readouterr()
            assert code == 0, (line, captured.out[-3000:], captured.err[-3000:])
            out.append(captured.out)
    stdout = "".join(out)
    assert (q / "breach-drafts" / "BR-0002.authority.html").is_file()
    assert (q / "records" / "breach-register.csv").read_text().count("\nBR-") == 2
    assert "authority_and_subjects" in stdout and "(Europe/Berlin)" in stdout
