"""The subset of Tink's protobuf schema that Veil reads and writes, built at import time.

Field names, numbers and types are those of Tink's published `.proto` files
(`proto/tink.proto`, `proto/common.proto`, `proto/aes_gcm_hkdf_streaming.proto`,
`proto/aes_gcm.proto`, `proto/aes_siv.proto`); `tests/crypto/test_keyset.py` checks them against
the descriptors shipped in tink-py. The messages live in a private descriptor pool, so they never
clash with tink-py's own classes when both are imported in one process.

Encoding and decoding are done by the `protobuf` library; nothing here parses bytes by hand.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
PACKAGE = "google.crypto.tink"


def _field(
    msg: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    ftype: int,
    type_name: str | None = None,
    repeated: bool = False,
) -> None:
    f = msg.field.add()
    f.name = name
    f.number = number
    f.type = ftype  # type: ignore[assignment]
    f.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL  # type: ignore[assignment]
    if type_name:
        f.type_name = f".{PACKAGE}.{type_name}"


def _enum(parent: Any, name: str, values: list[tuple[str, int]]) -> None:
    e = parent.enum_type.add()
    e.name = name
    for vname, number in values:
        v = e.value.add()
        v.name = vname
        v.number = number


def _build() -> descriptor_pool.DescriptorPool:
    fdp = descriptor_pb2.FileDescriptorProto()
    fdp.name = "veil/crypto/tink_subset.proto"
    fdp.package = PACKAGE
    fdp.syntax = "proto3"

    _enum(
        fdp,
        "KeyStatusType",
        [("UNKNOWN_STATUS", 0), ("ENABLED", 1), ("DISABLED", 2), ("DESTROYED", 3)],
    )
    _enum(
        fdp,
        "OutputPrefixType",
        [
            ("UNKNOWN_PREFIX", 0),
            ("TINK", 1),
            ("LEGACY", 2),
            ("RAW", 3),
            ("CRUNCHY", 4),
            ("WITH_ID_REQUIREMENT", 5),
        ],
    )
    _enum(
        fdp,
        "HashType",
        [
            ("UNKNOWN_HASH", 0),
            ("SHA1", 1),
            ("SHA384", 2),
            ("SHA256", 3),
            ("SHA512", 4),
            ("SHA224", 5),
        ],
    )

    key_data = fdp.message_type.add()
    key_data.name = "KeyData"
    _field(key_data, "type_url", 1, _F.TYPE_STRING)
    _field(key_data, "value", 2, _F.TYPE_BYTES)
    _field(key_data, "key_material_type", 3, _F.TYPE_ENUM, "KeyData.KeyMaterialType")
    _enum(
        key_data,
        "KeyMaterialType",
        [
            ("UNKNOWN_KEYMATERIAL", 0),
            ("SYMMETRIC", 1),
            ("ASYMMETRIC_PRIVATE", 2),
            ("ASYMMETRIC_PUBLIC", 3),
            ("REMOTE", 4),
        ],
    )

    keyset = fdp.message_type.add()
    keyset.name = "Keyset"
    _field(keyset, "primary_key_id", 1, _F.TYPE_UINT32)
    _field(keyset, "key", 2, _F.TYPE_MESSAGE, "Keyset.Key", repeated=True)
    key = keyset.nested_type.add()
    key.name = "Key"
    _field(key, "key_data", 1, _F.TYPE_MESSAGE, "KeyData")
    _field(key, "status", 2, _F.TYPE_ENUM, "KeyStatusType")
    _field(key, "key_id", 3, _F.TYPE_UINT32)
    _field(key, "output_prefix_type", 4, _F.TYPE_ENUM, "OutputPrefixType")

    info = fdp.message_type.add()
    info.name = "KeysetInfo"
    _field(info, "primary_key_id", 1, _F.TYPE_UINT32)
    _field(info, "key_info", 2, _F.TYPE_MESSAGE, "KeysetInfo.KeyInfo", repeated=True)
    key_info = info.nested_type.add()
    key_info.name = "KeyInfo"
    _field(key_info, "type_url", 1, _F.TYPE_STRING)
    _field(key_info, "status", 2, _F.TYPE_ENUM, "KeyStatusType")
    _field(key_info, "key_id", 3, _F.TYPE_UINT32)
    _field(key_info, "output_prefix_type", 4, _F.TYPE_ENUM, "OutputPrefixType")

    enc = fdp.message_type.add()
    enc.name = "EncryptedKeyset"
    _field(enc, "encrypted_keyset", 2, _F.TYPE_BYTES)
    _field(enc, "keyset_info", 3, _F.TYPE_MESSAGE, "KeysetInfo")

    params = fdp.message_type.add()
    params.name = "AesGcmHkdfStreamingParams"
    _field(params, "ciphertext_segment_size", 1, _F.TYPE_UINT32)
    _field(params, "derived_key_size", 2, _F.TYPE_UINT32)
    _field(params, "hkdf_hash_type", 3, _F.TYPE_ENUM, "HashType")

    skey = fdp.message_type.add()
    skey.name = "AesGcmHkdfStreamingKey"
    _field(skey, "version", 1, _F.TYPE_UINT32)
    _field(skey, "params", 2, _F.TYPE_MESSAGE, "AesGcmHkdfStreamingParams")
    _field(skey, "key_value", 3, _F.TYPE_BYTES)

    gkey = fdp.message_type.add()
    gkey.name = "AesGcmKey"
    _field(gkey, "version", 1, _F.TYPE_UINT32)
    _field(gkey, "key_value", 3, _F.TYPE_BYTES)

    siv = fdp.message_type.add()
    siv.name = "AesSivKey"
    _field(siv, "version", 1, _F.TYPE_UINT32)
    _field(siv, "key_value", 2, _F.TYPE_BYTES)

    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return pool


POOL = _build()


def _cls(name: str) -> Any:
    return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


KeyData = _cls("KeyData")
Keyset = _cls("Keyset")
KeysetInfo = _cls("KeysetInfo")
EncryptedKeyset = _cls("EncryptedKeyset")
AesGcmHkdfStreamingParams = _cls("AesGcmHkdfStreamingParams")
AesGcmHkdfStreamingKey = _cls("AesGcmHkdfStreamingKey")
AesGcmKey = _cls("AesGcmKey")
AesSivKey = _cls("AesSivKey")

MESSAGES = {
    "KeyData": KeyData,
    "Keyset": Keyset,
    "KeysetInfo": KeysetInfo,
    "EncryptedKeyset": EncryptedKeyset,
    "AesGcmHkdfStreamingParams": AesGcmHkdfStreamingParams,
    "AesGcmHkdfStreamingKey": AesGcmHkdfStreamingKey,
    "AesGcmKey": AesGcmKey,
    "AesSivKey": AesSivKey,
}

# Enum values (Tink's numbers).
STATUS = {"UNKNOWN_STATUS": 0, "ENABLED": 1, "DISABLED": 2, "DESTROYED": 3}
PREFIX = {
    "UNKNOWN_PREFIX": 0,
    "TINK": 1,
    "LEGACY": 2,
    "RAW": 3,
    "CRUNCHY": 4,
    "WITH_ID_REQUIREMENT": 5,
}
HASH = {"UNKNOWN_HASH": 0, "SHA1": 1, "SHA384": 2, "SHA256": 3, "SHA512": 4, "SHA224": 5}
SYMMETRIC = 1
