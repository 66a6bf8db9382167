"""Project Wycheproof AES-GCM vectors (../shared/conformance/wycheproof) through Veil's AEAD layer.

Every vector goes through `veil.crypto.aead.AesGcm`, the primitive layer Veil's AEADs sit on.
Outcomes: valid -> "accepted" (encryption reproduces ct||tag and decryption returns msg), invalid ->
"rejected" (TamperedError). `cryptography` refuses IVs outside 8..128 bytes; those count as
"refused" (NonceSizeError) and must be exactly the vectors SCHEMA.md lists: 27 valid
(SmallIv / LongIv) and 6 invalid (ZeroLengthIv). Vectors with a 96-bit IV and a Tink key size
(128/256 bits) also go through the Tink-format `Aead` (RAW key: iv || ct || tag).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from veil.crypto.aead import Aead, AesGcm
from veil.crypto.errors import NonceSizeError, TamperedError
from veil.crypto.keyset import AeadKey, Keyset


def _load(conformance_dir: Path) -> list[dict[str, Any]]:
    doc = json.loads((conformance_dir / "wycheproof" / "aes_gcm_test.json").read_text())
    out = []
    for group in doc["testGroups"]:
        for t in group["tests"]:
            case = {
                k: (bytes.fromhex(t[k]) if k in ("key", "iv", "aad", "msg", "ct", "tag") else t[k])
                for k in t
            }
            case["ivSize"] = group["ivSize"]
            case["keySize"] = group["keySize"]
            out.append(case)
    return out


def _outcome(t: dict[str, Any]) -> str:
    g = AesGcm(t["key"])
    if t["result"] == "valid":
        try:
            produced = g.encrypt(t["iv"], t["msg"], t["aad"])
        except NonceSizeError:
            # Decryption must refuse the same IV for the same reason.
            with pytest.raises(NonceSizeError):
                g.decrypt(t["iv"], t["ct"] + t["tag"], t["aad"])
            return "refused"
        assert produced == t["ct"] + t["tag"], f"tcId {t['tcId']}: ciphertext differs"
        assert g.decrypt(t["iv"], t["ct"] + t["tag"], t["aad"]) == t["msg"], t["tcId"]
        return "accepted"
    try:
        g.decrypt(t["iv"], t["ct"] + t["tag"], t["aad"])
    except TamperedError:
        return "rejected"
    except NonceSizeError:
        return "refused"
    return "accepted"


def test_every_vector_has_the_expected_outcome(conformance_dir: Path) -> None:
    tests = _load(conformance_dir)
    assert len(tests) == 316
    outcomes: Counter[tuple[str, str]] = Counter()
    refused_ids: list[int] = []
    for t in tests:
        o = _outcome(t)
        outcomes[(t["result"], o)] += 1
        if o == "refused":
            refused_ids.append(t["tcId"])
            assert not 8 <= len(t["iv"]) <= 128, f"tcId {t['tcId']}: refused a legal IV size"
            if t["result"] == "valid":
                assert set(t["flags"]) & {"SmallIv", "LongIv"}, t["tcId"]
            else:
                assert "ZeroLengthIv" in t["flags"], t["tcId"]
        else:
            assert 8 <= len(t["iv"]) <= 128
    # The figures SCHEMA.md reports for pyca/cryptography.
    assert outcomes == {
        ("valid", "accepted"): 202,
        ("valid", "refused"): 27,
        ("invalid", "rejected"): 81,
        ("invalid", "refused"): 6,
    }, outcomes
    # Refused exactly where the IV is outside 8..128 bytes, and nowhere else.
    expected_refused = sorted(t["tcId"] for t in tests if not 8 <= len(t["iv"]) <= 128)
    assert sorted(refused_ids) == expected_refused


def test_tink_format_aead_on_96_bit_iv_vectors(conformance_dir: Path) -> None:
    counts: Counter[str] = Counter()
    for t in _load(conformance_dir):
        if len(t["iv"]) != 12 or len(t["key"]) not in (16, 32):
            continue
        aead = Aead(Keyset.from_material(AeadKey(t["key"]), output_prefix="RAW"))
        blob = t["iv"] + t["ct"] + t["tag"]
        if t["result"] == "valid":
            assert aead.decrypt(blob, t["aad"]) == t["msg"], t["tcId"]
            counts["accepted"] += 1
        else:
            with pytest.raises(TamperedError):
                aead.decrypt(blob, t["aad"])
            counts["rejected"] += 1
    assert counts["accepted"] > 50 and counts["rejected"] > 20, counts


def test_modified_tag_with_tink_prefix_is_rejected(conformance_dir: Path) -> None:
    """Same vectors behind a TINK prefix: the key is found by id, the bad tag still rejected."""
    seen = 0
    for t in _load(conformance_dir):
        if len(t["iv"]) != 12 or len(t["key"]) != 32:
            continue
        ks = Keyset.from_material(AeadKey(t["key"]), output_prefix="TINK")
        blob = ks.primary.prefix_bytes + t["iv"] + t["ct"] + t["tag"]
        if t["result"] == "valid":
            assert Aead(ks).decrypt(blob, t["aad"]) == t["msg"]
        else:
            with pytest.raises(TamperedError):
                Aead(ks).decrypt(blob, t["aad"])
        seen += 1
    assert seen > 30
