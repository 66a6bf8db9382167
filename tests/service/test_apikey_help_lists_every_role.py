"""`veil apikey create --help` names every role a key can have (it left out reviewer)."""

from __future__ import annotations

from typer.testing import CliRunner

from veil.cli.main import app
from veil.service.roles import ROLES


def test_the_help_names_every_role() -> None:
    out = CliRunner().invoke(app, ["apikey", "create", "--help"], env={"COLUMNS": "200"})
    assert out.exit_code == 0
    text = " ".join(out.output.split())
    for role in ROLES:
        assert role in text, role
    assert "auditor or reviewer" in text
