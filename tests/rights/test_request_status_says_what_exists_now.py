"""An access request's status says what exists now: a package file that went missing, or a
package a later erasure destroyed, is never shown as "package ready" (show, list, JSON, CLI)."""

from __future__ import annotations

import json
from pathlib import Path

from veil.cli.main import main
from veil.rights import Requests


def _outcome(reqs: Requests, rid: str) -> tuple[str, str | None]:
    rec = reqs.get(rid)
    (listed,) = [r for r in reqs.list(include_closed=True) if r.id == rid]
    d = rec.to_dict()
    assert listed.to_dict()["result"]["outcome"] == d["result"]["outcome"]
    return d["result"]["outcome"], d["package"]


def test_package_status_follows_the_files_and_later_erasure(bank, capsys) -> None:
    reqs = Requests(bank.ws, bank.policy)
    access = reqs.run(reqs.open("access", bank.subject).id)
    assert _outcome(reqs, access.id) == ("package ready", "package ready")

    files = [Path(f["path"]) for f in access.result["files"]]
    kept = files[0].read_bytes()
    files[0].unlink()
    assert _outcome(reqs, access.id) == ("package file missing", "package file missing")
    files[0].write_bytes(kept)
    assert _outcome(reqs, access.id)[0] == "package ready"

    erasure = reqs.run(reqs.open("erasure", bank.subject).id)
    outcome, state = _outcome(reqs, access.id)
    assert outcome == state and outcome.startswith(
        f"package destroyed by erasure {erasure.id} on 20")
    d = reqs.get(access.id).to_dict()
    assert d["result"]["recorded_outcome"] == "package ready" and d["result"]["files"] == []

    assert main(["dsr", "show", access.id]) == 0
    out = capsys.readouterr().out
    assert f"package destroyed by erasure {erasure.id}" in out and "package ready" not in out
    assert "package (encrypted)" not in out
    assert main(["dsr", "list", "--json", "--all"]) == 0
    listed = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed[access.id]["package"].startswith("package destroyed by erasure")


def test_requests_without_a_package_have_no_package_state(bank) -> None:
    reqs = Requests(bank.ws, bank.policy)
    e = reqs.run(reqs.open("erasure", bank.other).id)
    assert reqs.get(e.id).package is None and reqs.get(e.id).to_dict()["package"] is None
