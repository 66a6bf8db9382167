"""Tink keysets: Veil's protobuf subset matches Tink's schema; keysets cross both ways."""

from __future__ import annotations

import json
from typing import Any

import pytest

from veil.crypto import tink_proto as pb
from veil.crypto.errors import CryptoError, KeyMissingError, KeysetError, WrongKeyError
from veil.crypto.keyset import (
    AES_GCM_TYPE_URL,
    STREAMING_TYPE_URL,
    AeadKey,
    DeterministicKey,
    Keyset,
    StreamingKey,
    decrypt_keyset,
    encrypt_keyset,
    keyset_from_any,
)
from veil.kek.providers import StaticKEK


def _fields(desc: Any) -> dict[str, tuple[int, int, bool, str | None]]:
    return {
        f.name: (
            f.number,
            f.type,
            f.is_repeated,
            (f.message_type or f.enum_type).full_name if (f.message_type or f.enum_type) else None,
        )
        for f in desc.fields
    }


def test_proto_subset_matches_tink_descriptors(tink: Any) -> None:
    from tink.proto import (
        aes_gcm_hkdf_streaming_pb2,
        aes_gcm_pb2,
        aes_siv_pb2,
        common_pb2,
        tink_pb2,
    )

    theirs = {
        "KeyData": tink_pb2.KeyData,
        "Keyset": tink_pb2.Keyset,
        "KeysetInfo": tink_pb2.KeysetInfo,
        "EncryptedKeyset": tink_pb2.EncryptedKeyset,
        "AesGcmHkdfStreamingParams": aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingParams,
        "AesGcmHkdfStreamingKey": aes_gcm_hkdf_streaming_pb2.AesGcmHkdfStreamingKey,
        "AesGcmKey": aes_gcm_pb2.AesGcmKey,
        "AesSivKey": aes_siv_pb2.AesSivKey,
    }
    for name, cls in theirs.items():
        mine = pb.MESSAGES[name].DESCRIPTOR
        assert mine.full_name == cls.DESCRIPTOR.full_name
        assert _fields(mine) == _fields(cls.DESCRIPTOR), name
    assert _fields(pb.Keyset.DESCRIPTOR.nested_types_by_name["Key"]) == _fields(
        tink_pb2.Keyset.Key.DESCRIPTOR
    )
    for enum, mine_map in [
        (tink_pb2.KeyStatusType, pb.STATUS),
        (tink_pb2.OutputPrefixType, pb.PREFIX),
        (common_pb2.HashType, pb.HASH),
    ]:
        assert {v.name: v.number for v in enum.DESCRIPTOR.values} == mine_map


@pytest.mark.parametrize("kind", ["streaming", "aead", "daead"])
def test_round_trips_binary_and_json(kind: str) -> None:
    ks = Keyset.generate(kind).rotate().rotate()  # type: ignore[arg-type]
    assert len(ks.entries) == 3
    assert Keyset.from_binary(ks.to_binary()) == ks
    assert Keyset.from_json(ks.to_json()) == ks
    assert keyset_from_any(ks.to_json()) == ks
    assert keyset_from_any(ks.to_binary()) == ks
    assert keyset_from_any(ks.to_json().encode()) == ks
    assert ks.enabled()[0].key_id == ks.primary_key_id


def test_veil_keysets_load_in_tink_and_back(tink: Any, token: Any) -> None:
    for ks in (
        Keyset.generate("streaming"),
        Keyset.generate("streaming", derived_key_size=16),
        Keyset.generate("aead"),
        Keyset.generate("daead"),
    ):
        h1 = tink.json_proto_keyset_format.parse(ks.to_json(), token)
        h2 = tink.proto_keyset_format.parse(ks.to_binary(), token)
        info = h1.keyset_info()
        assert info.primary_key_id == ks.primary_key_id
        assert info.key_info[0].type_url == ks.primary.type_url
        # ... and what tink writes back is the same keyset.
        assert Keyset.from_binary(tink.proto_keyset_format.serialize(h2, token)) == ks
        assert Keyset.from_json(tink.json_proto_keyset_format.serialize(h1, token)) == ks


def test_tink_generated_keysets_load_in_veil(tink: Any, token: Any) -> None:
    from tink import aead, daead, streaming_aead

    t = streaming_aead.streaming_aead_key_templates
    cases = [
        (t.AES128_GCM_HKDF_4KB, StreamingKey, (16, 4096)),
        (t.AES256_GCM_HKDF_4KB, StreamingKey, (32, 4096)),
        (t.AES128_GCM_HKDF_1MB, StreamingKey, (16, 1 << 20)),
        (t.AES256_GCM_HKDF_1MB, StreamingKey, (32, 1 << 20)),
        (aead.aead_key_templates.AES256_GCM, AeadKey, None),
        (aead.aead_key_templates.AES128_GCM, AeadKey, None),
        (daead.deterministic_aead_key_templates.AES256_SIV, DeterministicKey, None),
    ]
    for template, cls, params in cases:
        h = tink.new_keyset_handle(template)
        ks = Keyset.from_json(tink.json_proto_keyset_format.serialize(h, token))
        m = ks.primary.material
        assert isinstance(m, cls)
        if params is not None:
            assert isinstance(m, StreamingKey)
            assert (m.derived_key_size, m.segment_size, m.hkdf_hash) == (*params, "SHA256")
        assert Keyset.from_binary(tink.proto_keyset_format.serialize(h, token)) == ks


def test_encrypted_keyset_is_tinks_format(tink: Any, token: Any) -> None:
    """A keyset wrapped by Veil's KEK opens in tink-py given the same AES-GCM key, and back."""
    from tink import aead

    kek_bytes = bytes(range(32))
    kek = StaticKEK(kek_bytes)
    tink_kek = tink.proto_keyset_format.parse(
        Keyset.from_material(AeadKey(kek_bytes), output_prefix="RAW").to_binary(), token
    ).primitive(aead.Aead)
    ks = Keyset.generate("streaming").rotate()
    blob = encrypt_keyset(ks, kek, b"veil:keyset:exports")
    h = tink.proto_keyset_format.parse_encrypted(blob, tink_kek, b"veil:keyset:exports")
    assert Keyset.from_binary(tink.proto_keyset_format.serialize(h, token)) == ks
    back = tink.proto_keyset_format.serialize_encrypted(h, tink_kek, b"veil:keyset:exports")
    assert decrypt_keyset(back, kek, b"veil:keyset:exports") == ks
    with pytest.raises(WrongKeyError):
        decrypt_keyset(blob, kek, b"veil:keyset:other")
    with pytest.raises(WrongKeyError):
        decrypt_keyset(blob, StaticKEK(bytes(32)), b"veil:keyset:exports")


def test_rotation_disable_destroy() -> None:
    ks = Keyset.generate("aead")
    first = ks.primary_key_id
    ks2 = ks.rotate()
    assert ks2.primary_key_id != first and len(ks2.entries) == 2
    assert [e.key_id for e in ks2.enabled()] == [ks2.primary_key_id, first]
    ks3 = ks2.with_status(first, "DISABLED")
    assert [e.key_id for e in ks3.enabled()] == [ks2.primary_key_id]
    ks4 = ks3.with_status(first, "DESTROYED")
    old = next(e for e in ks4.entries if e.key_id == first)
    assert old.material is None and old.status == "DESTROYED"
    assert Keyset.from_binary(ks4.to_binary()) == ks4
    with pytest.raises(KeysetError):
        ks4.with_status(first, "ENABLED")
    with pytest.raises(KeysetError):  # the primary must stay enabled
        ks2.with_status(ks2.primary_key_id, "DISABLED")
    with pytest.raises(KeyMissingError):
        ks2.with_status(12345, "DISABLED")
    with pytest.raises(KeysetError):
        ks.rotate(StreamingKey.generate())


def test_secrets_do_not_leak_in_repr() -> None:
    ks = Keyset.generate("aead")
    key = ks.primary.material
    assert isinstance(key, AeadKey)
    for text in (repr(ks), repr(ks.primary), repr(key), json.dumps(ks.info())):
        assert key.key_value.hex() not in text and "key_value=" not in text


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xff\xff",  # not protobuf
        b"",  # empty keyset
        '{"primaryKeyId": 1, "key": []}',
        '{"primaryKeyId": 1, "key": [{"keyData": {"typeUrl": "'
        + STREAMING_TYPE_URL
        + '", "value": "", "keyMaterialType": "SYMMETRIC"}, "status": "ENABLED", "keyId": 1, '
        '"outputPrefixType": "RAW"}]}',  # key without parameters
        "not json",
    ],
)
def test_malformed_keysets_raise_keyset_error(bad: str | bytes) -> None:
    with pytest.raises(KeysetError):
        keyset_from_any(bad)


def test_invalid_key_parameters_are_refused() -> None:
    with pytest.raises(KeysetError):
        StreamingKey(b"k" * 32, derived_key_size=24)
    with pytest.raises(KeysetError):
        StreamingKey(b"k" * 16, derived_key_size=32)  # key shorter than the derived key
    with pytest.raises(KeysetError):
        StreamingKey(b"k" * 32, segment_size=56)  # must exceed header (40) + tag (16)
    with pytest.raises(KeysetError):
        StreamingKey(b"k" * 32, hkdf_hash="SHA384")
    with pytest.raises(KeysetError):
        AeadKey(b"k" * 24)
    with pytest.raises(KeysetError):
        DeterministicKey(b"k" * 32)
    # A primary whose key data is of an unknown type cannot be used.
    msg = pb.Keyset()
    msg.primary_key_id = 7
    k = msg.key.add()
    k.key_id, k.status, k.output_prefix_type = 7, pb.STATUS["ENABLED"], pb.PREFIX["TINK"]
    k.key_data.type_url = "type.googleapis.com/google.crypto.tink.HmacKey"
    k.key_data.value = b"\x08\x00"
    k.key_data.key_material_type = pb.SYMMETRIC
    with pytest.raises(KeysetError):
        Keyset.from_binary(msg.SerializeToString())
    assert issubclass(KeysetError, CryptoError)
    assert AES_GCM_TYPE_URL.endswith("AesGcmKey")
