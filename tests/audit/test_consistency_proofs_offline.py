"""Consistency proofs outside Veil: the standard-library verifier agrees with the RFC 6962 vectors
(transparency-dev, strict semantics), and `veil audit prove --from` files check offline against an
older head you trust."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import veil.audit.offline_verify as offline
from veil.audit.log import AuditLog
from veil.cli import main as cli_main

_VECTORS = (
    Path(__file__).resolve().parents[2].parent / "shared/conformance/merkle/merkle_vectors.json"
)
_CASES = json.loads(_VECTORS.read_text())["consistency_proofs"] if _VECTORS.is_file() else []


@pytest.mark.parametrize("v", _CASES, ids=lambda v: v["id"])
def test_offline_consistency_matches_the_rfc6962_vectors(v: dict[str, Any]) -> None:
    args = (v["size1"], v["size2"], [bytes.fromhex(h) for h in v["path_hex"]],
            bytes.fromhex(v["root1_hex"]), bytes.fromhex(v["root2_hex"]))
    if v["expect_valid"] and v["semantics"] == "strict":
        offline.check_consistency(*args)
    else:
        with pytest.raises(offline.ProofError):
            offline.check_consistency(*args)


def test_vectors_are_there(conformance_dir: Path) -> None:
    """All 114 vectors were read (the fixture skips, with its reason, without ../shared)."""
    assert sum(v["expect_valid"] for v in _CASES) == 16 and len(_CASES) == 114


def test_prove_from_an_older_head_checks_offline(workspace, make_event, tmp_path, capsys) -> None:
    log = AuditLog(workspace, sinks=[])
    log.append([make_event(i) for i in range(7)])
    old = log.sign_head()
    log.append([make_event(i) for i in range(7, 20)])
    out = tmp_path / "p.json"
    assert cli_main.main(["audit", "prove", "12", "--from", "7", "-o", str(out)]) == 0
    proof = json.loads(out.read_text())
    assert proof["consistency"]["old_size"] == 7 and proof["tree_size"] == 20
    root = old.root.hex()
    assert offline.main([str(out), "--size", "7", "--root", root, "--quiet"]) == 0
    forked = "00" * 32
    assert offline.main([str(out), "--size", "7", "--root", forked, "--quiet"]) == 1
    assert "root mismatch" in capsys.readouterr().out
    # a consistency-only file, and the library's own check against the trusted old head
    only = tmp_path / "c.json"
    assert cli_main.main(["audit", "prove", "--from", "7", "-o", str(only)]) == 0
    assert offline.main([str(only), "--size", "7", "--root", root, "--quiet"]) == 0
    assert cli_main.main(["audit", "verify-proof", str(only), "--size", "7",
                          "--head-root", root]) == 0
    assert "extends its tree of size 7" in capsys.readouterr().out
    tampered = json.loads(only.read_text())
    tampered["consistency"]["proof"][0] = "ff" * 32
    only.write_text(json.dumps(tampered))
    assert offline.main([str(only), "--size", "7", "--root", root, "--quiet"]) == 1
    assert cli_main.main(["audit", "verify-proof", str(only), "--size", "7",
                          "--head-root", root]) == 8
