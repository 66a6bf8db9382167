"""One exit-code contract: every `veil` command, walked from the Typer app, with its bad-input
cases. A mistake has one code wherever it is made (README "Errors and exit codes"); exit 1 is
only for a bug; a user's mistake is one line on stderr with no traceback and changes nothing.

A new command fails `test_every_command_has_its_bad_input_cases` until its cases are added
to CASES below."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import typer.main

from veil.cli.main import app, main

#: The code of each kind of mistake, whatever the command (README: "Errors and exit codes").
CODE = {
    "usage": 2,  # unknown option, missing argument
    "bad number": 2,  # not a number, or outside its bounds (the message says the bound)
    "missing file": 4,
    "unknown id": 4,  # a run, request, breach, decision, model, output, notice, event index
    "bad time": 4,
    "bad duration": 4,
    "bad choice": 4,  # a value the option does not take
    "unknown purpose": 3,
    "bad policy": 3,  # a policy file that is missing or invalid
    "no workspace": 5,
    "unknown keyset": 7,  # keys and their settings are key errors
    "bad key setting": 7,
    "not ciphertext": 7,
}

NOWHERE = "{nowhere}"  # a folder that is not a workspace
P = ["-p", "sample"]
GRANT = ["--channel", "web_form", "--action", "clicked 'I agree'"]
AT = "2025-01-01T00:00:00Z"

#: Every command's bad-input cases: (kind of mistake, arguments after the command).
CASES: dict[str, list[tuple[str, list[str]]]] = {
    "init": [("no workspace", ["tx.csv"])],  # a file where the folder should be
    "run": [
        ("missing file", [*P, "--purpose", "credit_scoring", "nope.csv", "-o", "o.parquet"]),
        ("unknown purpose", [*P, "--purpose", "zzz", "tx.csv", "-o", "o.parquet"]),
        ("bad policy", ["-p", "missing.yaml", "--purpose", "x", "tx.csv", "-o", "o.parquet"]),
        ("bad choice", [*P, "--purpose", "credit_scoring", "tx.csv", "-o", "o.parquet",
                        "--delimiter", ""]),
        ("bad choice", [*P, "--purpose", "credit_scoring", "tx.csv", "-o", "o.parquet",
                        "--engine", "zzz"]),
        ("bad choice", [*P, "--purpose", "credit_scoring", "tx.csv", "-o", "o.parquet",
                        "--format", "zzz"]),
        ("no workspace", [*P, "--purpose", "credit_scoring", "tx.csv", "-o", "o.parquet",
                          "-w", NOWHERE]),
    ],
    "sample": [("bad choice", ["-o", "x.txt"])],
    "ropa": [("bad policy", ["-p", "missing.yaml"])],
    "encrypt": [("missing file", ["nope.bin", "out.bin"])],
    "decrypt": [("missing file", ["nope.bin", "out.bin"]), ("not ciphertext", ["tx.csv", "o"])],
    "risk": [("missing file", ["nope.csv", "--qi", "a"]),
             ("bad choice", ["tx.csv", "--qi", "gender", "--delimiter", ""])],
    "anonymize": [("missing file", ["nope.csv", "-o", "a.csv", "--qi", "a", "--k", "2"])],
    "scan": [("missing file", ["nope.csv"]), ("bad choice", ["tx.csv", "--delimiter", ""])],
    "reidentify": [("no workspace", ["--domain", "d", "--actor", "a", "--reason", "r", "x",
                                     "-w", NOWHERE])],
    "transforms": [("usage", ["--bogus"])],
    "serve": [("bad policy", ["-p", "missing.yaml"])],
    "spark package": [("missing file", ["--venv", NOWHERE, "-o", "x.tar.gz"])],
    "spark stream": [
        ("missing file", ["nope", *P, "--purpose", "fraud_detection", "-o", "out",
                          "--checkpoint", "ck"]),
        ("bad policy", [".", "-p", "missing.yaml", "--purpose", "x", "-o", "out",
                        "--checkpoint", "ck"]),
        ("unknown purpose", [".", *P, "--purpose", "zzz", "-o", "out", "--checkpoint", "ck"]),
    ],
    "stream": [
        ("unknown purpose", [*P, "--purpose", "zzz", "nats://127.0.0.1:1/S", "-o", "out"]),
        ("bad policy", ["-p", "missing.yaml", "--purpose", "x", "nats://127.0.0.1:1/S",
                        "-o", "out"]),
        ("bad choice", [*P, "--purpose", "fraud_detection", "kafka://127.0.0.1/S", "-o", "out"]),
        ("bad choice", [*P, "--purpose", "fraud_detection", "nats://127.0.0.1:1/S", "-o", "out"]),
        ("usage", [*P, "--purpose", "fraud_detection", "nats://127.0.0.1:1/S"]),
    ],
    "dpia": [("unknown purpose", [*P, "--purpose", "zzz"])],
    "ui": [("no workspace", ["-w", NOWHERE])],
    "doctor": [("no workspace", ["-w", NOWHERE])],
    "db upgrade": [("no workspace", ["-w", NOWHERE])],
    "db current": [("no workspace", ["-w", NOWHERE])],
    "policy check": [("bad policy", ["missing.yaml"])],
    "runs list": [("no workspace", ["-w", NOWHERE])],
    "runs show": [("unknown id", ["zzz"]), ("unknown id", ["%"])],
    "audit log": [("bad time", ["--since", "zzz"])],
    "audit show": [("unknown id", ["99999"])],
    "audit head": [("no workspace", ["-w", NOWHERE])],
    "audit public-key": [("no workspace", ["-w", NOWHERE])],
    "audit prove": [("unknown id", ["99999", "-o", "p.json"])],
    "audit verify-proof": [("missing file", ["nope.json"])],
    "audit verify": [("missing file", ["--public-key", "nope.pem"]),
                     ("missing file", ["--trusted-head", "nope.checkpoint"])],
    "audit checkpoint": [("no workspace", ["-w", NOWHERE])],
    "audit export": [("no workspace", ["e.jsonl", "-w", NOWHERE])],
    "audit verify-export": [("missing file", ["nope.jsonl"])],
    "audit deliver": [("no workspace", ["-w", NOWHERE])],
    "consent grant": [
        ("unknown purpose", ["s1", "--purpose", "zzz", *P, *GRANT]),
        ("bad time", ["s1", "--purpose", "personalised_offers", *P, *GRANT, "--time", "zzz"]),
        ("bad duration", ["s1", "--purpose", "personalised_offers", *P, *GRANT,
                          "--valid-for", "99999999999 years"]),
    ],
    "consent renew": [("unknown purpose", ["s1", "--purpose", "zzz", *P, *GRANT])],
    "consent withdraw": [("unknown purpose", ["s1", "--purpose", "zzz", *P,
                                              "--channel", "web_form"])],
    "consent check": [("unknown purpose", ["s1", "--purpose", "zzz", *P]),
                      ("bad time", ["s1", "--purpose", "personalised_offers", *P, "--at", "x"])],
    "consent history": [("unknown purpose", ["s1", "--purpose", "zzz", *P])],
    "consent import": [("missing file", ["nope.csv", *P])],
    "consent export": [("no workspace", ["--all", "-w", NOWHERE])],
    "consent notice add": [
        ("unknown purpose", ["zzz", "--version", "1", "--text-file", "notice.txt", *P]),
        ("missing file", ["personalised_offers", "--version", "1", "--text-file", "nope.txt",
                          *P]),
    ],
    "consent notice list": [("unknown purpose", ["zzz", *P])],
    "keys init": [("bad key setting", ["--kind", "zzz"])],
    "keys list": [("no workspace", ["-w", NOWHERE])],
    "keys rotate": [("unknown keyset", ["zzz"])],
    "keys rewrap": [("bad key setting", ["--to", "zzz"])],
    "keys disable": [("unknown keyset", ["zzz"])],
    "keys enable": [("unknown keyset", ["zzz"])],
    "keys destroy": [("unknown keyset", ["zzz", "--yes"])],
    "keys export": [("unknown keyset", ["zzz", "-o", "k.json"])],
    "keys events": [("no workspace", ["-w", NOWHERE])],
    "keys rotate-epoch": [("bad policy", ["-p", "missing.yaml"])],
    "keys epochs": [("bad policy", ["-p", "missing.yaml"])],
    "dsr open": [("bad choice", ["zzz", "s1", *P]),
                 ("bad time", ["access", "s1", *P, "--received", "zzz"]),
                 ("unknown purpose", ["restriction", "s1", *P, "--purpose", "zzz"])],
    "dsr list": [("bad choice", ["--status", "zzz"])],
    "dsr show": [("unknown id", ["zzz"])],
    "dsr run": [("unknown id", ["zzz"])],
    "dsr extend": [("unknown id", ["zzz", "--months", "1", "--reason", "r"])],
    "dsr close": [("unknown id", ["zzz", "--note", "n"])],
    "dsr lift": [("unknown id", ["zzz", "--note", "n"])],
    "dsr export": [("unknown id", ["zzz", "-o", "x", "--reason", "r"])],
    "dsr decrypt": [("no workspace", ["s1", "v", "--dataset", "d", "--field", "f",
                                      "--reason", "r", "--actor", "a", "-w", NOWHERE])],
    "dsr load-store": [("bad policy", ["d", "nope.csv", "-p", "missing.yaml"])],
    "lineage outputs": [("no workspace", ["-w", NOWHERE])],
    "lineage register-model": [("unknown id", ["m", "--trained-on", "zzz"])],
    "lineage models": [("no workspace", ["-w", NOWHERE])],
    "lineage subject": [("no workspace", ["s1", "-w", NOWHERE])],
    "lineage show": [("unknown id", ["zzz"])],
    "breach open": [
        ("bad time", ["--title", "t", "--occurred", "zzz", "--aware", AT,
                      "--nature", "confidentiality"]),
        ("bad choice", ["--title", "t", "--occurred", AT, "--aware", AT, "--nature", "zzz"]),
    ],
    "breach update": [("unknown id", ["BR-9999", "--title", "t"])],
    "breach assess": [("unknown id", ["BR-9999"])],
    "breach notify": [("unknown id", ["BR-9999"]), ("unknown id", ["zzz"])],
    "breach close": [("unknown id", ["BR-9999", "--reason", "r"])],
    "breach list": [("bad choice", ["--status", "zzz"])],
    "breach show": [("unknown id", ["BR-9999"])],
    "breach draft": [("unknown id", ["BR-9999"])],
    "breach register": [("no workspace", ["-w", NOWHERE])],
    "apikey create": [("bad choice", ["--role", "zzz", "--name", "n"]),
                      ("bad duration", ["--role", "service", "--name", "n",
                                        "--expires-in", "999999999 years"])],
    "apikey list": [("no workspace", ["-w", NOWHERE])],
    "apikey revoke": [("unknown id", ["zzz"]), ("unknown id", ["0123456789ab"])],
    "decisions record": [("unknown id", ["zzz", "s1", "--score", "0.5", *P])],
    "decisions list": [("bad time", ["--since", "zzz"]), ("bad choice", ["--status", "zzz"])],
    "decisions show": [("unknown id", ["zzz"])],
    "decisions contest": [("unknown id", ["zzz", "--statement", "s", *P])],
    "decisions review": [("unknown id", ["zzz", "--reviewer", "r", "--outcome", "approve",
                                         "--rationale", "r", *P])],
    "decisions queue": [("no workspace", ["-w", NOWHERE]), ("bad number", ["--limit", "0"])],
    "decisions record-actual": [("missing file", ["nope.csv"])],
    "decisions explain": [("unknown id", ["zzz", *P])],
    "decisions fairness": [("missing file", ["--protected", "nope.csv", *P])],
    "decisions model register": [("unknown purpose", ["m", "--purpose", "zzz", "--feature", "a",
                                                      "--trained-on", "zzz", *P])],
    "decisions model show": [("unknown id", ["zzz"])],
    "decisions model card": [("unknown id", ["zzz"])],
    "decisions model list": [("no workspace", ["-w", NOWHERE])],
    "retention status": [("bad time", ["--now", "zzz"])],
    "retention sweep": [("bad time", ["--now", "zzz"])],
    "retention hold": [("unknown id", ["zzz", "--reason", "r"])],
    "retention release": [("unknown id", ["zzz"])],
    "recipients list": [("bad policy", ["-p", "missing.yaml"])],
    "recipients notices": [("no workspace", ["-w", NOWHERE])],
    "recipients deliver": [("no workspace", ["-w", NOWHERE])],
    "recipients ack": [("unknown id", ["zzz"])],
}

HUGE = "1" + "0" * 30  # a 30-digit number


def leaf_commands() -> Iterator[tuple[str, typing.Any]]:
    """Every command of the CLI (name, click command), found by walking the Typer app."""
    def walk(cmd: typing.Any, path: list[str]) -> Iterator[tuple[str, typing.Any]]:
        subs = getattr(cmd, "commands", None)
        if subs:
            for name, sub in subs.items():
                yield from walk(sub, [*path, name])
        else:
            yield " ".join(path), cmd

    yield from walk(typer.main.get_command(app), [])


def number_params() -> list[tuple[str, str, type]]:
    """(command, option or argument, int or float) for every number a user can type."""
    out = []
    for name, cmd in leaf_commands():
        for p in cmd.params:
            ann = p.type_descriptor.annotation
            kinds = [a for a in (typing.get_args(ann) or (ann,)) if a in (int, float)]
            if kinds:
                opt = next((o for o in p.opts if o.startswith("--")), "")
                out.append((name, opt, kinds[0]))
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One SQLite workspace with a small sample table; the cases change nothing in it."""
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import init_workspace

    root = tmp_path_factory.mktemp("codes") / "ws"
    with pytest.MonkeyPatch.context() as mp:
        for var in ("VEIL_DATABASE_URL", "VEIL_WORKSPACE", "VEIL_DEBUG"):
            mp.delenv(var, raising=False)
        mp.setenv("VEIL_KEK", EnvKEK.new_secret())
        mp.setenv("VEIL_ACTOR", "exit-code-test")
        ws, _ = init_workspace(root)
        ws.close()
        mp.chdir(root)
        assert main(["sample", "--rows", "20", "-o", "tx.csv"]) == 0
        Path("notice.txt").write_text("We use your spending to suggest offers.\n")
        yield root


def listing(folder: Path) -> list[str]:
    """The folder's files, without SQLite's WAL companions (they come and go)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(("-wal", "-shm")))


def run_veil(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def test_every_command_has_its_bad_input_cases() -> None:
    names = {name for name, _ in leaf_commands()}
    assert len(names) > 90
    assert sorted(names - set(CASES)) == [], "add the new command's bad-input cases to CASES"
    assert sorted(set(CASES) - names) == [], "CASES names a command that does not exist"


@pytest.mark.parametrize(("command", "kind", "args"), [
    pytest.param(c, k, a, id=f"{c}: {k} {' '.join(a)[:40]}")
    for c, cases in CASES.items() for k, a in cases])
def test_a_mistake_gets_its_code_in_one_line(site: Path, capsys, command: str, kind: str,
                                             args: list[str]) -> None:
    before = listing(site)
    argv = [*command.split(), *(a.replace(NOWHERE, str(site.parent / "nowhere")) for a in args)]
    code, err = run_veil(argv, capsys)
    assert code == CODE[kind], f"veil {' '.join(argv)}: exit {code}, want {CODE[kind]}: {err}"
    assert "Traceback" not in err and "internal error" not in err
    if code != 2:  # usage errors show click's usage block; the others one line
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("veil: ")
    assert listing(site) == before  # nothing written


@pytest.mark.parametrize(("command", "option", "kind"), number_params())
def test_every_number_is_bounded_and_the_message_says_the_bound(
        site: Path, capsys, command: str, option: str, kind: type) -> None:
    for value in (HUGE, "nan" if kind is float else "-" + HUGE):
        argv = [*command.split(), *([option, value] if option else ["--", value])]
        code, err = run_veil(argv, capsys)
        assert code == 2, f"veil {' '.join(argv)}: exit {code}: {err}"
        assert "than or equal to" in err, err  # "... less than or equal to 1000000"


def test_a_request_already_running_is_refused_with_the_documented_code(site: Path,
                                                                        capsys) -> None:
    """docs/rights.md: a second run of a request being run is refused, exit 6."""
    from veil.store.schema import dsr_requests
    from veil.store.workspace import Workspace

    code, _ = run_veil(["dsr", "open", "access", "s-running", *P, "--json"], capsys)
    assert code == 0
    with Workspace.find(site) as ws, ws.engine.begin() as conn:
        rid = conn.execute(dsr_requests.select()).first().id
        conn.execute(dsr_requests.update().where(dsr_requests.c.id == rid).values(
            status="running", lease_owner="another-run", running_since=datetime.now(UTC)))
    code, err = run_veil(["dsr", "run", rid, *P], capsys)
    assert code == 6 and "is being run" in err and len(err.strip().splitlines()) == 1, err
