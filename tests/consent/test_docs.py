"""docs/consent.md runs as written: the Python example and the CLI walk-through."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from veil.cli import main as cli_main
from veil.cli.consent import consent_app

DOC = (Path(__file__).resolve().parents[2] / "docs" / "consent.md").read_text()
POLICY = """\
version: 1
controller: {name: Example Bank SE, contact: privacy@example-bank.eu}
datasets:
  customers:
    subject_id: customer_id
    fields: {customer_id: direct_identifier, email: contact}
purposes:
  personalised_offers:
    description: Offers tailored to the customer's transactions
    legal_basis: consent
    retention: 2 years
    datasets: {customers: {fields: {customer_id: keep, email: keep}}}
"""


def block(lang: str, n: int = 0) -> str:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)[n]


def test_python_example_runs(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    exec(compile(block("python"), "docs/consent.md", "exec"), {})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["True", "consent withdrawn", "True"]
    assert lines[3] == "[True, False, False] {'no consent': 1, 'consent withdrawn': 1}"


def test_cli_walkthrough_runs(workspace, monkeypatch, capsys) -> None:
    if not any(g.name == "consent" for g in cli_main.app.registered_groups):
        monkeypatch.setattr(cli_main.app, "registered_groups",
                            list(cli_main.app.registered_groups))
        cli_main.app.add_typer(consent_app, name="consent")
    Path("policy.yaml").write_text(POLICY)
    Path("notice-v1.txt").write_text("We use your transactions to tailor offers.\n")
    Path("consents.csv").write_text(
        "subject,purpose,event,time,channel,action\n"
        "CUST-0000002,personalised_offers,granted,2025-03-02T10:00:00Z,app,toggled consent on\n")
    for line in block("bash").splitlines():
        args = shlex.split(line, comments=True)
        assert args[:2] == ["veil", "consent"], line
        assert cli_main.main(args[1:]) == 0, (line, capsys.readouterr())
    capsys.readouterr()
    assert Path("cust-0000001.consent.json").is_file()
    assert len(Path("ledger.jsonl").read_text().splitlines()) == 3
