"""Keysets in Tink's format: a primary key for new ciphertexts and older keys for reading old ones.

Veil reads and writes Tink keysets for three key types, byte-compatible with tink-py/Java/Go:

* ``AesGcmHkdfStreamingKey``: files and streams (`veil.crypto.streaming`),
* ``AesGcmKey``: field encryption (`veil.crypto.aead.FieldCipher`),
* ``AesSivKey``: deterministic, joinable tokens (`veil.crypto.aead.TokenCipher`).

Serialized forms: Tink's binary keyset (protobuf ``google.crypto.tink.Keyset``), Tink's JSON keyset,
and Tink's ``EncryptedKeyset`` (the keyset encrypted under a key-encryption key), which is what a
key store should hold. A `Keyset` is immutable: rotation returns a new keyset.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

from google.protobuf import json_format
from google.protobuf.message import DecodeError

from veil.crypto import tink_proto as pb
from veil.crypto.errors import KeyMissingError, KeysetError

__all__ = [
    "AES_GCM_TYPE_URL",
    "AES_SIV_TYPE_URL",
    "STREAMING_TYPE_URL",
    "AeadKey",
    "DeterministicKey",
    "KeyEntry",
    "Keyset",
    "KeysetWrapper",
    "StreamingKey",
    "decrypt_keyset",
    "encrypt_keyset",
    "keyset_from_any",
]

STREAMING_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmHkdfStreamingKey"
AES_GCM_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesGcmKey"
AES_SIV_TYPE_URL = "type.googleapis.com/google.crypto.tink.AesSivKey"

Kind = Literal["streaming", "aead", "daead"]
Status = Literal["ENABLED", "DISABLED", "DESTROYED"]
Prefix = Literal["TINK", "RAW", "LEGACY", "CRUNCHY"]

SEGMENT_SIZE_1MB = 1 << 20
_HASHES = ("SHA1", "SHA256", "SHA512")  # the HKDF hashes Tink allows for streaming keys
_STATUS_NAME = {v: k for k, v in pb.STATUS.items()}
_PREFIX_NAME = {v: k for k, v in pb.PREFIX.items()}
_HASH_NAME = {v: k for k, v in pb.HASH.items()}


# --------------------------------------------------------------------------------------------
# key material, one class per key type


@dataclass(frozen=True)
class StreamingKey:
    """An AES-GCM-HKDF streaming key (Tink ``AesGcmHkdfStreamingKey``).

    ``key_value`` is the HKDF input key; each ciphertext gets its own AES key of
    ``derived_key_size`` bytes derived from it with a random salt and the associated data.
    """

    key_value: bytes = field(repr=False)
    derived_key_size: int = 32
    segment_size: int = SEGMENT_SIZE_1MB
    hkdf_hash: str = "SHA256"

    type_url = STREAMING_TYPE_URL
    kind: Kind = field(default="streaming", init=False, repr=False)

    def __post_init__(self) -> None:
        if self.derived_key_size not in (16, 32):
            raise KeysetError(
                f"derived key size must be 16 or 32 bytes, not {self.derived_key_size}"
            )
        if len(self.key_value) < max(16, self.derived_key_size):
            raise KeysetError("streaming key value shorter than the derived key size")
        if self.hkdf_hash not in _HASHES:
            raise KeysetError(f"unsupported HKDF hash {self.hkdf_hash!r} (Tink allows {_HASHES})")
        if not (self.header_length + 16 < self.segment_size <= 2**31 - 1):
            raise KeysetError(
                f"ciphertext segment size {self.segment_size} out of range "
                f"({self.header_length + 17}..{2**31 - 1})"
            )

    @property
    def header_length(self) -> int:
        """1 length byte + salt (derived key size) + 7-byte nonce prefix: 24 or 40."""
        return 1 + self.derived_key_size + 7

    @classmethod
    def generate(
        cls, derived_key_size: int = 32, segment_size: int = SEGMENT_SIZE_1MB
    ) -> StreamingKey:
        return cls(secrets.token_bytes(derived_key_size), derived_key_size, segment_size)

    def to_proto(self) -> bytes:
        msg = pb.AesGcmHkdfStreamingKey()
        msg.version = 0
        msg.params.ciphertext_segment_size = self.segment_size
        msg.params.derived_key_size = self.derived_key_size
        msg.params.hkdf_hash_type = pb.HASH[self.hkdf_hash]
        msg.key_value = self.key_value
        return bytes(msg.SerializeToString(deterministic=True))

    @classmethod
    def from_proto(cls, value: bytes) -> StreamingKey:
        msg = _parse(pb.AesGcmHkdfStreamingKey, value, "AesGcmHkdfStreamingKey")
        if msg.version != 0:
            raise KeysetError(f"AesGcmHkdfStreamingKey version {msg.version} is not supported")
        return cls(
            bytes(msg.key_value),
            msg.params.derived_key_size,
            msg.params.ciphertext_segment_size,
            _HASH_NAME.get(msg.params.hkdf_hash_type, f"#{msg.params.hkdf_hash_type}"),
        )


@dataclass(frozen=True)
class AeadKey:
    """An AES-GCM key (Tink ``AesGcmKey``): 16 or 32 bytes; Veil generates 32."""

    key_value: bytes = field(repr=False)

    type_url = AES_GCM_TYPE_URL
    kind: Kind = field(default="aead", init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.key_value) not in (16, 32):
            raise KeysetError(f"AES-GCM key must be 16 or 32 bytes, not {len(self.key_value)}")

    @classmethod
    def generate(cls, key_size: int = 32) -> AeadKey:
        return cls(secrets.token_bytes(key_size))

    def to_proto(self) -> bytes:
        msg = pb.AesGcmKey()
        msg.version = 0
        msg.key_value = self.key_value
        return bytes(msg.SerializeToString(deterministic=True))

    @classmethod
    def from_proto(cls, value: bytes) -> AeadKey:
        msg = _parse(pb.AesGcmKey, value, "AesGcmKey")
        if msg.version != 0:
            raise KeysetError(f"AesGcmKey version {msg.version} is not supported")
        return cls(bytes(msg.key_value))


@dataclass(frozen=True)
class DeterministicKey:
    """An AES-SIV key (Tink ``AesSivKey``): 64 bytes (AES-256 in SIV mode)."""

    key_value: bytes = field(repr=False)

    type_url = AES_SIV_TYPE_URL
    kind: Kind = field(default="daead", init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.key_value) != 64:
            raise KeysetError(f"AES-SIV key must be 64 bytes, not {len(self.key_value)}")

    @classmethod
    def generate(cls) -> DeterministicKey:
        return cls(secrets.token_bytes(64))

    def to_proto(self) -> bytes:
        msg = pb.AesSivKey()
        msg.version = 0
        msg.key_value = self.key_value
        return bytes(msg.SerializeToString(deterministic=True))

    @classmethod
    def from_proto(cls, value: bytes) -> DeterministicKey:
        msg = _parse(pb.AesSivKey, value, "AesSivKey")
        if msg.version != 0:
            raise KeysetError(f"AesSivKey version {msg.version} is not supported")
        return cls(bytes(msg.key_value))


Material = StreamingKey | AeadKey | DeterministicKey
_BY_TYPE_URL: dict[str, type[StreamingKey | AeadKey | DeterministicKey]] = {
    STREAMING_TYPE_URL: StreamingKey,
    AES_GCM_TYPE_URL: AeadKey,
    AES_SIV_TYPE_URL: DeterministicKey,
}
_DEFAULT_PREFIX: dict[Kind, Prefix] = {"streaming": "RAW", "aead": "TINK", "daead": "TINK"}


def _parse(cls: type, data: bytes, what: str):  # type: ignore[no-untyped-def]
    msg = cls()
    try:
        msg.ParseFromString(bytes(data))
    except (DecodeError, ValueError, TypeError) as exc:
        raise KeysetError(f"malformed {what} protobuf") from exc
    return msg


def _generate_material(kind: Kind, **params: int) -> Material:
    if kind == "streaming":
        return StreamingKey.generate(**params)
    if kind == "aead":
        return AeadKey.generate(**params)
    if kind == "daead":
        if params:
            raise KeysetError(f"AES-SIV keys take no parameters, got {sorted(params)}")
        return DeterministicKey.generate()
    raise KeysetError(f"unknown key kind {kind!r} (streaming, aead, daead)")


# --------------------------------------------------------------------------------------------
# keyset


@dataclass(frozen=True)
class KeyEntry:
    """One key of a keyset. ``material`` is None for destroyed keys and unknown key types."""

    key_id: int
    status: Status
    output_prefix: Prefix
    type_url: str
    material: Material | None = field(default=None, repr=False)
    value: bytes = field(default=b"", repr=False)  # the serialized key proto, kept for round trips
    key_material_type: int = pb.SYMMETRIC

    @property
    def kind(self) -> Kind | None:
        return None if self.material is None else self.material.kind

    @property
    def prefix_bytes(self) -> bytes:
        """Tink's ciphertext prefix for this key: 5 bytes (version, key id) or none for RAW."""
        if self.output_prefix == "TINK":
            return b"\x01" + self.key_id.to_bytes(4, "big")
        if self.output_prefix in ("LEGACY", "CRUNCHY"):
            return b"\x00" + self.key_id.to_bytes(4, "big")
        return b""


class Keyset:
    """An immutable Tink keyset: entries plus the id of the primary (the key new data uses)."""

    __slots__ = ("_entries", "_primary_key_id")

    def __init__(self, entries: Iterable[KeyEntry], primary_key_id: int) -> None:
        ents = tuple(entries)
        if not ents:
            raise KeysetError("empty keyset")
        ids = [e.key_id for e in ents]
        if len(set(ids)) != len(ids):
            raise KeysetError("keyset has duplicate key ids")
        prim = [e for e in ents if e.key_id == primary_key_id]
        if not prim:
            raise KeysetError(f"keyset primary key {primary_key_id} is not in the keyset")
        if prim[0].status != "ENABLED":
            raise KeysetError(f"keyset primary key {primary_key_id} is not enabled")
        if prim[0].material is None:
            raise KeysetError(f"keyset primary key has an unsupported type {prim[0].type_url!r}")
        self._entries = ents
        self._primary_key_id = primary_key_id

    # construction ---------------------------------------------------------------------------

    @classmethod
    def generate(cls, kind: Kind, *, output_prefix: Prefix | None = None, **params: int) -> Keyset:
        """A new keyset with one fresh key. ``params``: ``derived_key_size``, ``segment_size``
        (streaming), ``key_size`` (aead)."""
        material = _generate_material(kind, **params)
        return cls.from_material(material, output_prefix=output_prefix)

    @classmethod
    def from_material(cls, material: Material, *, output_prefix: Prefix | None = None) -> Keyset:
        entry = _entry(material, _new_key_id(()), output_prefix)
        return cls([entry], entry.key_id)

    def rotate(
        self,
        material: Material | None = None,
        *,
        output_prefix: Prefix | None = None,
        **params: int,
    ) -> Keyset:
        """A new keyset whose primary is a fresh key (same kind and parameters as the current
        primary unless given); older keys stay for decryption."""
        if material is None:
            cur = self.primary.material
            assert cur is not None
            if not params and isinstance(cur, StreamingKey):
                params = {
                    "derived_key_size": cur.derived_key_size,
                    "segment_size": cur.segment_size,
                }
            elif not params and isinstance(cur, AeadKey):
                params = {"key_size": len(cur.key_value)}
            material = _generate_material(cur.kind, **params)
        if material.kind != self.kind:
            raise KeysetError(f"cannot add a {material.kind} key to a {self.kind} keyset")
        entry = _entry(
            material,
            _new_key_id(e.key_id for e in self._entries),
            output_prefix or self.primary.output_prefix,
        )
        return Keyset((*self._entries, entry), entry.key_id)

    def with_status(self, key_id: int, status: Status) -> Keyset:
        """Enable, disable or destroy one key (destroying drops its material for good)."""
        out = []
        found = False
        for e in self._entries:
            if e.key_id == key_id:
                found = True
                if e.status == "DESTROYED" and status != "DESTROYED":
                    raise KeysetError(f"key {key_id} is destroyed")
                if status == "DESTROYED":
                    e = replace(e, status=status, material=None, value=b"")
                else:
                    e = replace(e, status=status)
            out.append(e)
        if not found:
            raise KeyMissingError(f"no key {key_id} in the keyset")
        return Keyset(out, self._primary_key_id)

    def with_primary(self, key_id: int) -> Keyset:
        return Keyset(self._entries, key_id)

    # access ---------------------------------------------------------------------------------

    @property
    def primary_key_id(self) -> int:
        return self._primary_key_id

    @property
    def entries(self) -> tuple[KeyEntry, ...]:
        return self._entries

    @property
    def primary(self) -> KeyEntry:
        return next(e for e in self._entries if e.key_id == self._primary_key_id)

    @property
    def kind(self) -> Kind:
        k = self.primary.kind
        assert k is not None
        return k

    def enabled(self, kind: Kind | None = None) -> list[KeyEntry]:
        """Enabled keys of a supported type (of ``kind`` if given), primary first."""
        kind = kind or self.kind
        out = [
            e
            for e in self._entries
            if e.status == "ENABLED" and e.material is not None and e.kind == kind
        ]
        out.sort(key=lambda e: e.key_id != self._primary_key_id)
        return out

    def info(self) -> dict[str, object]:
        """A description without secrets (Tink's KeysetInfo as a dict)."""
        return {
            "primary_key_id": self._primary_key_id,
            "keys": [
                {
                    "key_id": e.key_id,
                    "type_url": e.type_url,
                    "status": e.status,
                    "output_prefix": e.output_prefix,
                }
                for e in self._entries
            ],
        }

    def __repr__(self) -> str:
        ids = ", ".join(f"{e.key_id}:{e.status}" for e in self._entries)
        return f"Keyset(kind={self.primary.kind!r}, primary={self._primary_key_id}, keys=[{ids}])"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyset):
            return NotImplemented
        return self.to_binary() == other.to_binary()

    def __hash__(self) -> int:
        return hash(self.to_binary())

    # serialization --------------------------------------------------------------------------

    def _to_proto(self):  # type: ignore[no-untyped-def]
        ks = pb.Keyset()
        ks.primary_key_id = self._primary_key_id
        for e in self._entries:
            k = ks.key.add()
            k.key_id = e.key_id
            k.status = pb.STATUS[e.status]
            k.output_prefix_type = pb.PREFIX[e.output_prefix]
            if e.status != "DESTROYED":
                k.key_data.type_url = e.type_url
                k.key_data.value = e.material.to_proto() if e.material is not None else e.value
                k.key_data.key_material_type = e.key_material_type
        return ks

    def to_binary(self) -> bytes:
        """Tink's binary keyset (what ``tink.proto_keyset_format.parse`` reads). SECRET."""
        return bytes(self._to_proto().SerializeToString(deterministic=True))

    def to_json(self) -> str:
        """Tink's JSON keyset (what ``tink.json_proto_keyset_format.parse`` reads). SECRET."""
        return str(json_format.MessageToJson(self._to_proto()))

    def keyset_info(self):  # type: ignore[no-untyped-def]
        info = pb.KeysetInfo()
        info.primary_key_id = self._primary_key_id
        for e in self._entries:
            ki = info.key_info.add()
            ki.type_url = e.type_url
            ki.status = pb.STATUS[e.status]
            ki.key_id = e.key_id
            ki.output_prefix_type = pb.PREFIX[e.output_prefix]
        return info

    @classmethod
    def from_binary(cls, data: bytes) -> Keyset:
        return cls._from_proto(_parse(pb.Keyset, data, "Keyset"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Keyset:
        msg = pb.Keyset()
        try:
            json_format.Parse(text, msg)
        except (json_format.ParseError, ValueError, TypeError) as exc:
            raise KeysetError(f"malformed JSON keyset: {exc}") from exc
        return cls._from_proto(msg)

    @classmethod
    def _from_proto(cls, ks) -> Keyset:  # type: ignore[no-untyped-def]
        entries = []
        for k in ks.key:
            status = _STATUS_NAME.get(k.status)
            if status not in ("ENABLED", "DISABLED", "DESTROYED"):
                raise KeysetError(f"key {k.key_id} has an invalid status ({k.status})")
            prefix = _PREFIX_NAME.get(k.output_prefix_type)
            if prefix not in ("TINK", "RAW", "LEGACY", "CRUNCHY"):
                raise KeysetError(f"key {k.key_id} has an invalid output prefix type")
            material: Material | None = None
            type_url = k.key_data.type_url
            value = bytes(k.key_data.value)
            if status != "DESTROYED":
                if not k.HasField("key_data"):
                    raise KeysetError(f"key {k.key_id} has no key data")
                cls_ = _BY_TYPE_URL.get(type_url)
                if cls_ is not None:
                    if k.key_data.key_material_type != pb.SYMMETRIC:
                        raise KeysetError(f"key {k.key_id} is not marked SYMMETRIC")
                    material = cls_.from_proto(value)
            entries.append(
                KeyEntry(
                    k.key_id,
                    status,  # type: ignore[arg-type]
                    prefix,  # type: ignore[arg-type]
                    type_url,
                    material,
                    value,
                    k.key_data.key_material_type,
                )
            )
        return cls(entries, ks.primary_key_id)


def _new_key_id(used: Iterable[int]) -> int:
    taken = set(used)
    while True:
        kid = secrets.randbits(32)
        if kid and kid not in taken:
            return kid


def _entry(material: Material, key_id: int, output_prefix: Prefix | None) -> KeyEntry:
    prefix = output_prefix or _DEFAULT_PREFIX[material.kind]
    if material.kind == "streaming" and prefix != "RAW":
        raise KeysetError("streaming keys use the RAW output prefix (no key id in the stream)")
    return KeyEntry(key_id, "ENABLED", prefix, material.type_url, material, material.to_proto())


# --------------------------------------------------------------------------------------------
# wrapped (encrypted) keysets, for storage


class KeysetWrapper(Protocol):
    """Anything that can wrap bytes under a key-encryption key (see `veil.kek.providers`)."""

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes: ...


def encrypt_keyset(keyset: Keyset, kek: KeysetWrapper, associated_data: bytes) -> bytes:
    """Tink's ``EncryptedKeyset`` (binary): the keyset wrapped under ``kek`` with
    ``associated_data`` bound (e.g. ``b"veil:keyset:" + name``), plus its secret-free info.

    With a KEK whose output is Tink's raw AES-GCM format (all of `veil.kek.providers`), this is what
    ``tink.proto_keyset_format.serialize_encrypted`` writes for the same AEAD key.
    """
    msg = pb.EncryptedKeyset()
    msg.encrypted_keyset = kek.wrap(keyset.to_binary(), associated_data)
    msg.keyset_info.CopyFrom(keyset.keyset_info())
    return bytes(msg.SerializeToString(deterministic=True))


def decrypt_keyset(blob: bytes, kek: KeysetWrapper, associated_data: bytes) -> Keyset:
    """Inverse of `encrypt_keyset`; a wrong KEK or associated data raises `WrongKeyError`."""
    msg = _parse(pb.EncryptedKeyset, blob, "EncryptedKeyset")
    return Keyset.from_binary(kek.unwrap(bytes(msg.encrypted_keyset), associated_data))


def keyset_from_any(data: str | bytes) -> Keyset:
    """Parse a cleartext keyset given as Tink JSON (str or bytes starting with '{') or binary."""
    if isinstance(data, str):
        return Keyset.from_json(data)
    if data.lstrip()[:1] == b"{":
        return Keyset.from_json(data.decode("utf-8"))
    return Keyset.from_binary(data)
