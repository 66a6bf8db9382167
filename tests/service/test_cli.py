"""`veil apikey create|list|revoke` and `veil serve`'s refusals, through the real CLI entry."""

from __future__ import annotations

import json

from veil.cli import main as cli_main


def test_apikey_commands(workspace, capsys) -> None:
    assert cli_main.main(["apikey", "create", "--role", "auditor", "--name", "audit-tool",
                          "--expires-in", "30 days", "--json"]) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["role"] == "auditor" and created["status"] == "active"
    assert created["secret"].startswith(f"veil_{created['key_id']}_")
    assert cli_main.main(["apikey", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [k["key_id"] for k in listed] == [created["key_id"]]
    assert "secret" not in listed[0] and created["secret"] not in json.dumps(listed)
    assert cli_main.main(["apikey", "revoke", created["key_id"]]) == 0
    assert "Revoked API key" in capsys.readouterr().out
    assert cli_main.main(["apikey", "revoke", created["key_id"]]) == 4
    assert "already revoked" in capsys.readouterr().err
    assert cli_main.main(["apikey", "list", "--active", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert cli_main.main(["apikey", "create", "--role", "admin", "--name", "x"]) == 4
    assert "unknown role 'admin'" in capsys.readouterr().err
    assert cli_main.main(["apikey", "create", "--role", "dpo", "--name", "x",
                          "--expires-in", "soon"]) == 4
    assert "--expires-in" in capsys.readouterr().err


def test_serve_refuses_what_it_cannot_do_safely(workspace, capsys) -> None:
    assert cli_main.main(["serve", "--host", "0.0.0.0"]) == 4
    assert "refusing to serve plain HTTP on 0.0.0.0" in capsys.readouterr().err
    assert cli_main.main(["serve", "--certfile", "server.pem"]) == 4
    assert "--certfile and --keyfile go together" in capsys.readouterr().err
    assert cli_main.main(["serve", "--policy", "missing.yaml"]) == 3
    assert "policy file not found" in capsys.readouterr().err


def test_every_command_has_an_example() -> None:
    from typer.testing import CliRunner

    runner = CliRunner()
    for args in (["serve", "--help"], ["apikey", "create", "--help"], ["apikey", "list", "--help"],
                 ["apikey", "revoke", "--help"], ["apikey", "--help"]):
        out = runner.invoke(cli_main.app, args).output
        assert "Example: veil " in out, args
