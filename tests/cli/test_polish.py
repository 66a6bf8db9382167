"""The rough edges a new user hits, each with its fix: every command that shows data takes
--json; `policy check` lists every problem at once; the README's library snippet runs twice;
a wrong KEK is one clear line; docs name only commands that exist; a run over an earlier
output, a notification that still reads MISSING, long audit action names, a year-1 time."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer.main

from veil.cli.main import app, main

ROOT = Path(__file__).resolve().parents[2]

#: Commands that only change state or write a file and say so in one line: no data to show.
ACTION_ONLY = {
    "init", "sample", "serve", "ui",  # make a workspace or a file; run a server
    "audit public-key", "audit prove", "audit export", "consent export",  # write a file
    "consent notice add", "keys init", "keys rotate", "keys rewrap", "keys disable",
    "keys enable", "keys destroy", "keys export", "dsr export", "dsr load-store",
    "breach close", "breach draft", "breach register", "apikey revoke", "decisions explain",
    "recipients ack",
}


def commands() -> dict[str, object]:
    """Every command, by its name after `veil`."""
    out: dict[str, object] = {}

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                walk(sub, [*path, name])
        else:
            out[" ".join(path)] = cmd

    walk(typer.main.get_command(app), [])
    return out


def veil(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_every_command_that_shows_data_takes_json() -> None:
    without = {name for name, cmd in commands().items()
               if not any("--json" in p.opts for p in cmd.params)}  # type: ignore[attr-defined]
    assert without == ACTION_ONLY, "a command that shows data needs --json"


def test_the_data_commands_print_json(workspace, capsys) -> None:
    assert main(["sample", "--rows", "200", "--seed", "2", "-o", "tx.csv"]) == 0
    assert main(["run", "-p", "sample", "--purpose", "fraud_detection", "tx.csv",
                 "-o", "fraud.parquet"]) == 0
    run_id = json.loads(Path("fraud.parquet.receipt.json").read_text())["run_id"]
    for args in (["runs", "list"], ["runs", "show", run_id[:10]], ["db", "current"],
                 ["db", "upgrade"], ["ropa", "-p", "sample", "-o", "records"],
                 ["decrypt", "fraud.parquet", "plain.parquet"], ["encrypt", "tx.csv", "tx.enc"],
                 ["keys", "events"], ["audit", "show", "0"], ["lineage", "show", run_id]):
        code, out, err = veil(capsys, *args, "--json")
        assert code == 0, (args, err)
        data = json.loads(out)
        assert data, args
    assert json.loads(veil(capsys, "runs", "list", "--json")[1])[0]["id"] == run_id
    assert json.loads(veil(capsys, "db", "current", "--json")[1])["up_to_date"] is True
    assert json.loads(veil(capsys, "decrypt", "fraud.parquet", "p2.parquet",
                           "--json")[1])["verified"] is True


POLICY = """\
controller: {name: Bank, contact: dpo@bank.example}
datasets:
  tx:
    subject_id: customer_id
    fields:
      customer_id: direct_identifier
      health_note: {category: health}
      union: {category: trade_union}
      amount: {category: transaction, type: float}
purposes:
  scoring:
    description: Credit scoring
    legal_basis: contract
    retention: 5 years
    datasets:
      tx:
        fields: {customer_id: pseudonymize, health_note: keep, amount: {transform: bogus}}
  research:
    description: Research
    legal_basis: legitimate_interests
    legitimate_interest: Improving the product
    retention: 1 year
    datasets:
      tx:
        fields: {union: keep}
"""


def test_policy_check_lists_every_problem_and_run_stops_at_the_first(tmp_path: Path,
                                                                     capsys) -> None:
    legal = tmp_path / "legal.yaml"
    legal.write_text(POLICY)
    code, _, err = veil(capsys, "policy", "check", str(legal))
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 3, err  # two Art. 9 breaches and an unknown transform
    assert [re.search(r"legal\.yaml:(\d+):", x).group(1) for x in lines] == ["17", "17", "25"]
    assert "unknown transform 'bogus'" in err and "'union'" in err and "'health_note'" in err
    code, _, err = veil(capsys, "run", "-p", str(legal), "--purpose", "scoring", "x.csv",
                        "-o", str(tmp_path / "o.parquet"))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "(and 1 more" in err
    schema = tmp_path / "schema.yaml"  # the schema errors, every one, when it does not validate
    schema.write_text(POLICY.replace("legal_basis: contract", "legal_basis: nonsense")
                      .replace("retention: 1 year", "retention: forever")
                      .replace("      union:", "      union: {category: trade_union, bad: 1}\n"
                               "      x:"))
    code, _, err = veil(capsys, "policy", "check", str(schema))
    assert code == 3 and len(err.strip().splitlines()) == 3, err
    assert "legal_basis" in err and "forever" in err and "unknown key" in err


def test_readme_library_snippet_runs_twice_and_a_wrong_kek_is_one_line(
        tmp_path: Path, monkeypatch, capsys) -> None:
    from veil.kek.config import clear_kek_cache
    from veil.kek.providers import EnvKEK

    monkeypatch.chdir(tmp_path)
    for var in ("VEIL_DATABASE_URL", "VEIL_WORKSPACE", "VEIL_KEK", "VEIL_KEK_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    readme = (ROOT / "README.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S)
                if "import veil" in b)
    for _ in range(2):  # the second time as a new process would: no environment left over
        exec(compile(code, "README.md", "exec"), {})
        for var in ("VEIL_KEK", "VEIL_KEK_PASSPHRASE"):
            os.environ.pop(var, None)
        clear_kek_cache()
    assert capsys.readouterr().out.count("'out': 5000") == 2
    # a workspace keyed by VEIL_KEK, opened with another VEIL_KEK: one line that says so
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    assert main(["init", "envws"]) == 0
    monkeypatch.chdir(tmp_path / "envws")
    assert main(["encrypt", "../lib-demo/transactions.parquet", "t.enc"]) == 0
    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())
    clear_kek_cache()
    code_, _, err = veil(capsys, "decrypt", "t.enc", "t.parquet")
    assert code_ == 7 and len(err.strip().splitlines()) == 1, err
    assert "VEIL_KEK is not the secret these keys were made with" in err
    assert not Path("t.parquet").exists()


def _named_commands(text: str) -> list[str]:
    """`veil ...` command lines in code (fenced blocks and backtick spans) of a Markdown text,
    or in a help text."""
    parts = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    parts += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    return [m for p in parts for m in re.findall(r"(?:^|[\s;|&(`$])veil((?: +[a-z][\w-]*)+)",
                                                   p, flags=re.M)]


def _unknown(words: list[str], root: object) -> str | None:
    cmd, path = root, ["veil"]
    for w in words:
        subs = getattr(cmd, "commands", None)
        if not subs:
            return None
        if w not in subs:
            return " ".join([*path, w])
        cmd = subs[w]
        path.append(w)
    return None


def test_docs_and_help_texts_name_only_commands_that_exist() -> None:
    root = typer.main.get_command(app)
    bad = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for line in _named_commands(doc.read_text()):
            if (u := _unknown(line.split(), root)) is not None:
                bad.append(f"{doc.name}: {u}")
    for name, cmd in commands().items():
        help_text = " ".join([cmd.help or ""] + [getattr(p, "help", None) or ""  # type: ignore
                                                 for p in cmd.params])  # type: ignore[attr-defined]
        for m in re.findall(r"(?:^|[\s;|&(`$])veil((?: +[a-z][\w-]*)+)", help_text):
            if (u := _unknown(m.split(), root)) is not None:
                bad.append(f"veil {name} --help: {u}")
    assert bad == []
    assert len(_named_commands((ROOT / "README.md").read_text())) > 20  # the scan finds them


def test_a_run_over_an_earlier_output_is_refused_in_one_line(workspace, capsys) -> None:
    assert main(["sample", "--rows", "50", "-o", "tx.csv"]) == 0
    args = ["run", "-p", "sample", "--purpose", "fraud_detection", "tx.csv", "-o", "f.parquet"]
    assert main(args) == 0
    before = Path("f.parquet").read_bytes()
    code, _, err = veil(capsys, *args)
    assert code == 6 and len(err.strip().splitlines()) == 1 and "--overwrite" in err, err
    assert Path("f.parquet").read_bytes() == before


def test_a_notification_that_still_reads_missing_is_not_recorded(workspace, capsys) -> None:
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = veil(capsys, "breach", "open", "--title", "Lost laptop", "--occurred",
                          hour_ago, "--aware", hour_ago, "--nature", "confidentiality",
                          "--other", "laptop", "-p", "sample", "--json")
    assert code == 0, err
    ref = json.loads(out)["id"]
    assert main(["breach", "assess", ref]) == 0
    assert main(["breach", "draft", ref, "-o", "drafts"]) == 0
    draft = next(p for p in Path("drafts").rglob("*.md") if "MISSING: supervisory authority"
                 in p.read_text())
    code, _, err = veil(capsys, "breach", "notify", ref, "--to", "authority",
                        "--content", str(draft))
    assert code == 4 and "MISSING item" in err and len(err.strip().splitlines()) == 1, err
    sent = Path("sent.md")
    sent.write_text(draft.read_text().replace("MISSING: supervisory authority", "HBDI")
                    .replace("MISSING:", "to follow (Art. 33(4)):"))
    code, out, err = veil(capsys, "breach", "notify", ref, "--to", "authority", "--phase",
                          "initial", "--content", str(sent), "--json")
    assert code == 0, err
    assert json.loads(out)["notifications"][0]["recipient"] == "authority"


def test_audit_log_never_cuts_an_action_name(workspace, capsys, monkeypatch) -> None:
    assert main(["sample", "--rows", "20", "-o", "tx.csv"]) == 0
    assert main(["run", "-p", "sample", "--purpose", "fraud_detection", "tx.csv",
                 "-o", "f.parquet"]) == 0
    actions = {e["event"]["action"] for e in json.loads(veil(capsys, "audit", "log",
                                                             "--json")[1])}
    assert actions
    monkeypatch.setenv("COLUMNS", "60")
    table = veil(capsys, "audit", "log")[1]
    for action in actions:
        assert re.search(rf"\b{re.escape(action)}\b", table), (action, table)


def test_a_year_one_time_keeps_four_digits(workspace, capsys) -> None:
    Path("notice.txt").write_text("We suggest offers from your spending.\n")
    assert main(["consent", "notice", "add", "personalised_offers", "--version", "1",
                 "--text-file", "notice.txt", "-p", "sample",
                 "--effective", "2024-01-01T00:00:00Z"]) == 0
    assert main(["consent", "grant", "C-1", "--purpose", "personalised_offers", "-p", "sample",
                 "--channel", "web_form", "--action", "clicked 'I agree'"]) == 0
    code, out, _ = veil(capsys, "consent", "check", "C-1", "--purpose", "personalised_offers",
                        "-p", "sample", "--at", "0001-01-01T00:00:00Z", "--json")
    assert code == 9 and json.loads(out)["at"] == "0001-01-01T00:00:00Z"
    code, _, err = veil(capsys, "consent", "check", "C-1", "--purpose", "personalised_offers",
                        "-p", "sample", "--at", "0001-01-01T00:00:00")
    # the message never repeats what was typed (a misplaced value may be personal data)
    assert code == 4 and "has no UTC offset" in err and "0001-01-01" not in err, err


@pytest.mark.parametrize(("old", "new", "says"), [
    ("retention: 5 years", "retention: {big} years", "longer than 1000 years"),
    ("amount: keep", "amount: {{transform: noise, mechanism: laplace, epsilon: {big}, "
     "sensitivity: 1}}", "'epsilon' must be between -1e+15 and 1e+15"),
    ("amount: keep", "amount: {{transform: noise, mechanism: laplace, epsilon: 1, "
     "sensitivity: .inf}}", "'sensitivity' must be a finite number"),
    ("    subject_id: customer_id\n", "    subject_id: customer_id\n    risk: {{min_k: {big}}}\n",
     "less than or equal to 1000000000000"),
])
def test_an_absurd_number_in_a_policy_is_refused_with_its_bound(tmp_path: Path, capsys,
                                                                 old: str, new: str,
                                                                 says: str) -> None:
    base = (POLICY.replace("health_note: keep, ", "").replace("{transform: bogus}", "keep")
            .replace("fields: {union: keep}", "fields: {customer_id: drop}"))
    assert old in base
    path = tmp_path / "big.yaml"
    path.write_text(base.replace(old, new.format(big="1" + "0" * 400), 1))
    code, _, err = veil(capsys, "policy", "check", str(path))
    assert code == 3 and says in err and "internal error" not in err, err
    assert len(err) < 600  # the 400 digits are not echoed back
