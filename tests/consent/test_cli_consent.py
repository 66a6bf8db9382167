"""`veil consent ...` end to end, through the real entry point (exit codes, one-line errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veil.cli import main as cli_main

SUBJECT = "CUST-0099887"


@pytest.fixture(autouse=True)
def consent_commands(monkeypatch):
    """Mount `veil consent` on the main app as the lead's registration will (if not yet done)."""
    from veil.cli.consent import consent_app

    names = {g.name for g in cli_main.app.registered_groups}
    if "consent" not in names:
        monkeypatch.setattr(cli_main.app, "registered_groups", list(cli_main.app.registered_groups))
        cli_main.app.add_typer(consent_app, name="consent")


def veil(*args: str) -> int:
    return cli_main.main(list(args))


def test_consent_cli_flow(workspace, policy_file: Path, tmp_path: Path, capsys) -> None:
    p = str(policy_file)
    notice = tmp_path / "notice-1.txt"
    notice.write_text("We use your transactions to tailor offers. You may withdraw any time.\n")
    assert veil("consent", "notice", "add", "offers", "--version", "1", "--text-file",
                str(notice), "-p", p, "--effective", "2025-01-01T00:00:00Z") == 0
    assert "Added notice 1" in capsys.readouterr().out
    form = tmp_path / "form.pdf"
    form.write_bytes(b"%PDF signed form")
    assert veil("consent", "grant", SUBJECT, "--purpose", "offers", "-p", p, "--channel",
                "web_form", "--action", "clicked 'I agree'", "--evidence-file", str(form),
                "--valid-for", "12 months", "--collector", "web", "--event-id", "g-1") == 0
    out = capsys.readouterr().out
    assert "Recorded granted" in out and "notice 1" in out and SUBJECT not in out
    assert veil("consent", "check", SUBJECT, "--purpose", "offers", "-p", p) == 0
    assert "valid" in capsys.readouterr().out
    assert veil("consent", "check", SUBJECT, "--purpose", "offers", "-p", p, "--json") == 0
    st = json.loads(capsys.readouterr().out)
    assert st["valid"] is True and st["notice_version"] == "1" and st["expires"]
    assert veil("consent", "withdraw", SUBJECT, "--purpose", "offers", "-p", p,
                "--channel", "app", "--collector", "app") == 0
    capsys.readouterr()
    assert veil("consent", "check", SUBJECT, "--purpose", "offers", "-p", p) == 9
    err = capsys.readouterr().err
    assert "no valid consent" in err and "consent withdrawn" in err and SUBJECT not in err
    assert veil("consent", "history", SUBJECT, "--json") == 0
    hist = json.loads(capsys.readouterr().out)
    assert [h["event"] for h in hist] == ["granted", "withdrawn"]
    assert hist[0]["evidence"].startswith("sha256:") and hist[0]["subject"].startswith("subject #")
    assert veil("consent", "history", SUBJECT) == 0
    assert "withdrawn" in capsys.readouterr().out
    csv = tmp_path / "c.csv"
    csv.write_text("subject,purpose,event,time,channel,action\n"
                   "CUST-1,newsletter,granted,2025-05-01T08:00:00Z,app,tapped subscribe\n"
                   "CUST-2,newsletter,granted,2025-05-01T08:00:00Z,app,tapped subscribe\n")
    # the newsletter has no notice in the store: the import must name one
    assert veil("consent", "import", str(csv), "-p", p) == 9
    err = capsys.readouterr().err
    assert "c.csv:2" in err and "which notice" in err
    csv.write_text("subject,purpose,event,time,channel,action,notice_version\n"
                   "CUST-1,newsletter,granted,2025-05-01T08:00:00Z,app,tapped subscribe,n1\n"
                   "CUST-2,newsletter,granted,2025-05-01T08:00:00Z,app,tapped subscribe,n1\n")
    assert veil("consent", "import", str(csv), "-p", p, "--json") == 0
    assert json.loads(capsys.readouterr().out)["events"] == 2
    assert veil("consent", "export", SUBJECT, "-p", p, "-o", str(tmp_path / "rec.json")) == 0
    capsys.readouterr()
    rec = json.loads((tmp_path / "rec.json").read_text())
    assert rec["records"][0]["consent_status"] == "withdrawn"
    assert rec["records"][0]["privacy_notices"][0]["version"] == "1"
    assert veil("consent", "export", "--all", "-o", str(tmp_path / "all.jsonl")) == 0
    assert len((tmp_path / "all.jsonl").read_text().splitlines()) == 4
    assert "Wrote 4 consent events" in capsys.readouterr().out
    assert veil("consent", "notice", "list", "offers", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["version"] == "1"


@pytest.mark.parametrize(("args", "code", "message"), [
    (["grant", SUBJECT, "--purpose", "marketing", "--channel", "app", "--action", "tapped"],
     3, "unknown purpose 'marketing'"),  # exit 3 like `veil run` (tests/cli/test_exit_codes)
    (["grant", SUBJECT, "--purpose", "scoring", "--channel", "app", "--action", "tapped"],
     9, "does not rely on consent"),
    (["grant", SUBJECT, "--purpose", "offers", "--channel", "app", "--action",
      "pre-ticked checkbox", "--notice", "1"], 9, "not an explicit action"),
    (["grant", SUBJECT, "--purpose", "offers", "--channel", "app", "--action", "tapped",
      "--notice", "1", "--time", "2999-01-01T00:00:00Z"], 9, "in the future"),
    (["withdraw", SUBJECT, "--purpose", "offers", "--channel", "app"],
     9, "withdrawal without a prior grant"),
    (["check", SUBJECT, "--purpose", "offers"], 9, "unknown subject"),
    (["grant", SUBJECT, "--purpose", "offers", "--channel", "app", "--action", "tapped",
      "--notice", "1", "--valid-for", "forever"], 4, "--valid-for"),  # a bad duration: input
])
def test_cli_errors_are_one_line_with_their_code_and_change_nothing(
        workspace, policy_file: Path, capsys, args: list[str], code: int, message: str) -> None:
    assert veil("consent", *args, "-p", str(policy_file)) == code
    err = capsys.readouterr().err
    assert message in err and SUBJECT not in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    from veil.consent import Ledger

    assert Ledger(workspace).count() == 0


def test_cli_duplicate_event_id(workspace, policy_file: Path, capsys) -> None:
    args = ["consent", "grant", SUBJECT, "--purpose", "offers", "-p", str(policy_file),
            "--channel", "app", "--action", "tapped 'Allow'", "--notice", "1", "--event-id", "e7"]
    assert veil(*args) == 0
    assert veil(*args) == 9
    assert "duplicate event id" in capsys.readouterr().err
