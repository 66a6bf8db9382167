"""Field encryption (AES-256-GCM) and reversible join tokens (AES-SIV), in Tink's formats.

* `Aead`: Tink's AEAD over an ``AesGcmKey`` keyset. Ciphertext = Tink prefix (``0x01`` + 4-byte
  key id, or nothing for RAW keys) || 12-byte random nonce || ciphertext || 16-byte tag, exactly
  what ``tink.aead`` reads and writes; decryption picks the key by prefix, then tries RAW keys.
* `FieldCipher`: `Aead` with the context bound as associated data: `FieldContext` (dataset,
  column) and the row's subject pseudonym, canonically encoded (`FieldContext.associated_data`).
  A value copied to another column, dataset or subject no longer decrypts.
* `DeterministicAead` / `TokenCipher`: Tink's deterministic AEAD over an ``AesSivKey`` keyset
  (AES-SIV, RFC 5297, the associated data as its single header). Equal inputs give equal tokens
  under the same key and domain, so tokens can be joined on, and the key holder can reverse them.

Key material arrives as a `Keyset`; `KeyProvider` is the small interface a key store implements
(`InMemoryKeyProvider` here, the store-backed one later). Primitives come from ``cryptography``.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV

from veil.crypto.errors import (
    KeyMissingError,
    KeysetError,
    NonceSizeError,
    TamperedError,
)
from veil.crypto.keyset import AeadKey, DeterministicKey, Keyset, Kind

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = [
    "Aead",
    "AesGcm",
    "DeterministicAead",
    "FieldCipher",
    "FieldContext",
    "InMemoryKeyProvider",
    "KeyProvider",
    "TokenCipher",
]

NONCE_SIZE = 12
TAG_SIZE = 16
PREFIX_SIZE = 5
_NONCE_BATCH = 1 << 16  # nonces drawn from the OS per call: 768 KiB
_MIN_PREFIXED = PREFIX_SIZE + NONCE_SIZE + TAG_SIZE


# --------------------------------------------------------------------------------------------
# key provider interface


class KeyProvider(Protocol):
    """Where named keysets come from. The store-backed key manager implements this."""

    def keyset(self, name: str) -> Keyset:
        """The current keyset called ``name`` (raises `KeyMissingError` if there is none)."""
        ...


class InMemoryKeyProvider:
    """A `KeyProvider` holding cleartext keysets in a dict (tests, notebooks, one-off runs)."""

    def __init__(self, keysets: dict[str, Keyset] | None = None) -> None:
        self._keysets: dict[str, Keyset] = dict(keysets or {})

    def keyset(self, name: str) -> Keyset:
        try:
            return self._keysets[name]
        except KeyError:
            raise KeyMissingError(f"no keyset named {name!r}") from None

    def create(self, name: str, kind: Kind, **params: int) -> Keyset:
        if name in self._keysets:
            raise KeysetError(f"keyset {name!r} already exists")
        ks = self._keysets[name] = Keyset.generate(kind, output_prefix=None, **params)
        return ks

    def put(self, name: str, keyset: Keyset) -> None:
        self._keysets[name] = keyset

    def rotate(self, name: str) -> Keyset:
        ks = self._keysets[name] = self.keyset(name).rotate()
        return ks

    def names(self) -> list[str]:
        return sorted(self._keysets)


# --------------------------------------------------------------------------------------------
# raw AES-GCM (the primitive, as cryptography exposes it)


class AesGcm:
    """AES-GCM with caller-chosen nonces: the layer under `Aead` (and what the Wycheproof
    vectors exercise). Keys of 16, 24 or 32 bytes; nonces of 8..128 bytes (others raise
    `NonceSizeError`); a failed tag check raises `TamperedError`."""

    __slots__ = ("_aes",)

    def __init__(self, key: bytes) -> None:
        try:
            self._aes = AESGCM(key)
        except ValueError as exc:
            raise KeysetError(f"AES-GCM key must be 16, 24 or 32 bytes, not {len(key)}") from exc

    def encrypt(self, nonce: bytes, plaintext: bytes, associated_data: bytes | None) -> bytes:
        try:
            return self._aes.encrypt(nonce, plaintext, associated_data)
        except ValueError as exc:
            raise NonceSizeError(f"nonce of {len(nonce)} bytes refused: {exc}") from exc

    def decrypt(self, nonce: bytes, ciphertext: bytes, associated_data: bytes | None) -> bytes:
        try:
            return self._aes.decrypt(nonce, ciphertext, associated_data)
        except InvalidTag:
            raise TamperedError("AES-GCM tag does not verify") from None
        except ValueError as exc:
            raise NonceSizeError(f"nonce of {len(nonce)} bytes refused: {exc}") from exc


# --------------------------------------------------------------------------------------------
# Tink AEAD and deterministic AEAD over keysets


class Aead:
    """Tink AEAD (AES-GCM) over an ``AesGcmKey`` keyset: encrypt with the primary, decrypt with
    whichever key the ciphertext prefix names (then RAW keys), as tink-py does.

    Random nonces: rotate the keyset before one key has encrypted ~2**32 values.
    """

    def __init__(self, keyset: Keyset) -> None:
        if keyset.kind != "aead":
            raise KeysetError(f"a {keyset.kind} keyset cannot do AEAD (needs AesGcmKey)")
        enabled = keyset.enabled("aead")
        primary = enabled[0]
        assert isinstance(primary.material, AeadKey)
        self.keyset = keyset
        self._prefix = primary.prefix_bytes
        self._enc = AESGCM(primary.material.key_value).encrypt
        self._by_prefix: dict[bytes, list[Any]] = {}
        self._raw: list[Any] = []
        for e in enabled:
            assert isinstance(e.material, AeadKey)
            dec = AESGCM(e.material.key_value).decrypt
            if e.output_prefix == "RAW":
                self._raw.append(dec)
            else:
                self._by_prefix.setdefault(e.prefix_bytes, []).append(dec)

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        nonce = os.urandom(NONCE_SIZE)
        return self._prefix + nonce + self._enc(nonce, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        out = self._try(ciphertext, associated_data)
        if out is None:
            raise TamperedError(
                "ciphertext does not decrypt under any key of the keyset "
                "(wrong key or associated data, or modified)"
            )
        return out

    def _try(self, c: bytes, aad: bytes) -> bytes | None:
        if len(c) >= PREFIX_SIZE + NONCE_SIZE + TAG_SIZE:
            for dec in self._by_prefix.get(c[:PREFIX_SIZE], ()):
                try:
                    return dec(
                        c[PREFIX_SIZE : PREFIX_SIZE + NONCE_SIZE],  # type: ignore[no-any-return]
                        c[PREFIX_SIZE + NONCE_SIZE :],
                        aad,
                    )
                except InvalidTag:
                    pass
        if len(c) >= NONCE_SIZE + TAG_SIZE:
            for dec in self._raw:
                try:
                    return dec(c[:NONCE_SIZE], c[NONCE_SIZE:], aad)  # type: ignore[no-any-return]
                except InvalidTag:
                    pass
        return None

    # batch paths (no per-value method dispatch) ----------------------------------------------

    def encrypt_batch(
        self, plaintexts: Sequence[bytes | None], aads: Sequence[bytes] | bytes
    ) -> list[bytes | None]:
        enc, prefix = self._enc, self._prefix
        n = len(plaintexts)
        const = isinstance(aads, (bytes, bytearray))
        if not const and len(aads) != n:
            raise ValueError(f"{n} values but {len(aads)} associated data")
        out: list[bytes | None] = []
        step = NONCE_SIZE
        for lo in range(0, n, _NONCE_BATCH):  # fresh random nonces, one OS call per batch
            hi = min(n, lo + _NONCE_BATCH)
            pool = os.urandom(step * (hi - lo))
            offsets = range(0, step * (hi - lo), step)
            if isinstance(aads, (bytes, bytearray)):
                aad = bytes(aads)
                out += [
                    None
                    if p is None
                    else prefix + pool[j : j + step] + enc(pool[j : j + step], p, aad)
                    for p, j in zip(plaintexts[lo:hi], offsets)
                ]
            else:
                out += [
                    None
                    if p is None
                    else prefix + pool[j : j + step] + enc(pool[j : j + step], p, a)
                    for p, a, j in zip(plaintexts[lo:hi], aads[lo:hi], offsets)
                ]
        return out

    def encrypt_batch_suffixed(
        self,
        plaintexts: Sequence[bytes | None],
        base: bytes,
        suffixes: Sequence[str | bytes | None],
    ) -> list[bytes | None]:
        """`encrypt_batch` with associated data ``base + 0x01 + suffix`` (``base + 0x00`` for a
        None suffix) built inline: the per-row-subject path of `FieldCipher`."""
        n = len(plaintexts)
        if len(suffixes) != n:
            raise ValueError(f"{n} values but {len(suffixes)} subjects")
        enc, prefix = self._enc, self._prefix
        with_s, without_s = base + b"\x01", base + b"\x00"
        out: list[bytes | None] = []
        step = NONCE_SIZE
        for lo in range(0, n, _NONCE_BATCH):
            hi = min(n, lo + _NONCE_BATCH)
            pool = os.urandom(step * (hi - lo))
            out += [
                None
                if p is None
                else prefix
                + (nonce := pool[j : j + step])
                + enc(
                    nonce,
                    p,
                    with_s + s.encode("utf-8")
                    if isinstance(s, str)
                    else without_s
                    if s is None
                    else with_s + bytes(s),
                )
                for p, s, j in zip(
                    plaintexts[lo:hi], suffixes[lo:hi], range(0, step * (hi - lo), step)
                )
            ]
        return out

    def decrypt_batch(
        self,
        ciphertexts: Sequence[bytes | None],
        aads: Sequence[bytes] | bytes,
        where: str | None = None,
    ) -> list[bytes | None]:
        n = len(ciphertexts)
        if isinstance(aads, (bytes, bytearray)):
            aad_list: Iterable[bytes] = _repeat(bytes(aads), n)
        else:
            if len(aads) != n:
                raise ValueError(f"{n} values but {len(aads)} associated data")
            aad_list = aads
        # Fast path: one prefixed key and no RAW keys (the usual, freshly rotated keyset).
        fast = None
        if not self._raw and len(self._by_prefix) == 1:
            ((pfx, decs),) = self._by_prefix.items()
            if len(decs) == 1:
                fast = (pfx, decs[0])
        out: list[bytes | None] = []
        append = out.append
        i = 0
        try:
            if fast is not None:
                pfx, dec = fast
                for i, (c, a) in enumerate(zip(ciphertexts, aad_list)):
                    if c is None:
                        append(None)
                    elif c[:PREFIX_SIZE] == pfx and len(c) >= _MIN_PREFIXED:
                        append(
                            dec(
                                c[PREFIX_SIZE : PREFIX_SIZE + NONCE_SIZE],
                                c[PREFIX_SIZE + NONCE_SIZE :],
                                a,
                            )
                        )
                    else:
                        raise InvalidTag
            else:
                for i, (c, a) in enumerate(zip(ciphertexts, aad_list)):
                    if c is None:
                        append(None)
                        continue
                    p = self._try(c, a)
                    if p is None:
                        raise InvalidTag
                    append(p)
        except InvalidTag:
            at = f"{where}, row {i}" if where else f"row {i}"
            raise TamperedError(
                "value does not decrypt (wrong key or context, or modified)", where=at
            ) from None
        return out


def _repeat(x: bytes, n: int) -> Iterable[bytes]:
    for _ in range(n):
        yield x


class DeterministicAead:
    """Tink deterministic AEAD (AES-SIV) over an ``AesSivKey`` keyset.

    Ciphertext = Tink prefix || SIV (16 bytes) || ciphertext; identical to
    ``tink.daead.DeterministicAead.encrypt_deterministically(plaintext, associated_data)``.
    """

    def __init__(self, keyset: Keyset) -> None:
        if keyset.kind != "daead":
            raise KeysetError(
                f"a {keyset.kind} keyset cannot do deterministic AEAD (needs AesSivKey)"
            )
        enabled = keyset.enabled("daead")
        primary = enabled[0]
        assert isinstance(primary.material, DeterministicKey)
        self.keyset = keyset
        self._prefix = primary.prefix_bytes
        self._enc = AESSIV(primary.material.key_value).encrypt
        self._by_prefix: dict[bytes, list[Any]] = {}
        self._raw: list[Any] = []
        for e in enabled:
            assert isinstance(e.material, DeterministicKey)
            dec = AESSIV(e.material.key_value).decrypt
            if e.output_prefix == "RAW":
                self._raw.append(dec)
            else:
                self._by_prefix.setdefault(e.prefix_bytes, []).append(dec)

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        return self._prefix + self._enc(plaintext, [associated_data])

    def decrypt(self, ciphertext: bytes, associated_data: bytes = b"") -> bytes:
        out = self._try(ciphertext, [associated_data])
        if out is None:
            raise TamperedError(
                "token does not decrypt under any key of the keyset "
                "(wrong key or domain, or modified)"
            )
        return out

    def _try(self, c: bytes, ad: list[bytes]) -> bytes | None:
        if len(c) >= PREFIX_SIZE + TAG_SIZE:
            for dec in self._by_prefix.get(c[:PREFIX_SIZE], ()):
                try:
                    return dec(c[PREFIX_SIZE:], ad)  # type: ignore[no-any-return]
                except InvalidTag:
                    pass
        if len(c) >= TAG_SIZE:
            for dec in self._raw:
                try:
                    return dec(c, ad)  # type: ignore[no-any-return]
                except InvalidTag:
                    pass
        return None

    @property
    def prefix(self) -> bytes:
        """The primary key's Tink output prefix (``0x01`` + key id; empty for a RAW key)."""
        return self._prefix

    def encrypt_unprefixed(self, plaintexts: Sequence[bytes], ad: bytes) -> list[bytes]:
        """AES-SIV of each plaintext (no None) under the primary key, without the prefix:
        the ciphertext of ``plaintexts[i]`` is ``prefix + out[i]``. For callers that join the
        prefix on in bulk, one concatenation per value less than `encrypt_batch`."""
        enc, adl = self._enc, [ad]
        return [enc(p, adl) for p in plaintexts]

    def encrypt_batch(self, plaintexts: Sequence[bytes | None], ad: bytes) -> list[bytes | None]:
        enc, prefix, adl = self._enc, self._prefix, [ad]
        if prefix:
            return [None if p is None else prefix + enc(p, adl) for p in plaintexts]
        return [None if p is None else enc(p, adl) for p in plaintexts]

    def decrypt_batch(
        self, ciphertexts: Sequence[bytes | None], ad: bytes, where: str | None = None
    ) -> list[bytes | None]:
        adl = [ad]
        out: list[bytes | None] = []
        append = out.append
        fast = None
        if not self._raw and len(self._by_prefix) == 1:
            ((pfx, decs),) = self._by_prefix.items()
            if len(decs) == 1:
                fast = (pfx, decs[0])
        i = 0
        try:
            if fast is not None:
                pfx, dec = fast
                for i, c in enumerate(ciphertexts):
                    if c is None:
                        append(None)
                    elif c[:PREFIX_SIZE] == pfx:
                        append(dec(c[PREFIX_SIZE:], adl))
                    else:
                        raise InvalidTag
            else:
                for i, c in enumerate(ciphertexts):
                    if c is None:
                        append(None)
                        continue
                    p = self._try(c, adl)
                    if p is None:
                        raise InvalidTag
                    append(p)
        except InvalidTag:
            at = f"{where}, row {i}" if where else f"row {i}"
            raise TamperedError(
                "token does not decrypt (wrong key or domain, or modified)", where=at
            ) from None
        return out


# --------------------------------------------------------------------------------------------
# field encryption with context


def _enc_part(s: str | bytes | None) -> bytes:
    if s is None:
        return b"\x00"
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return b"\x01" + len(b).to_bytes(4, "big") + b


def _subject_part(s: str | bytes | None) -> bytes:
    if s is None:
        return b"\x00"
    return b"\x01" + (s.encode("utf-8") if isinstance(s, str) else bytes(s))


_FIELD_AD_TAG = b"veil.field.v1\x00"
_TOKEN_AD_TAG = b"veil.token.v1\x00"


@dataclass(frozen=True)
class FieldContext:
    """Where a value lives: bound into its ciphertext as associated data."""

    dataset: str
    column: str

    @property
    def where(self) -> str:
        return f"{self.dataset}.{self.column}"

    def base(self) -> bytes:
        return _FIELD_AD_TAG + _enc_part(self.dataset) + _enc_part(self.column)

    def associated_data(self, subject: str | bytes | None = None) -> bytes:
        """``"veil.field.v1\\0"``, then dataset and column each as ``0x01`` + 4-byte big-endian
        length + UTF-8 bytes, then ``0x00`` (no subject) or ``0x01`` + the subject's UTF-8 bytes
        (last, so it needs no length). Injective: no two contexts share associated data."""
        return self.base() + _subject_part(subject)


def _is_arrow(x: Any) -> bool:
    mod = type(x).__module__
    return mod.startswith("pyarrow")


def _to_bytes_list(values: Any) -> tuple[list[bytes | None], bool]:
    """Values as a list of bytes/None, and whether the input was an Arrow array."""
    if _is_arrow(values):
        import pyarrow as pa

        t = values.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            values = values.cast(
                pa.large_binary() if pa.types.is_large_string(t) else pa.binary()
            )  # reinterprets the UTF-8 bytes, no copy
        elif not (
            pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t)
        ):
            raise TypeError(f"Arrow values must be binary or string, not {t}")
        return values.to_pylist(), True
    out: list[bytes | None] = []
    for v in values:
        if v is None or isinstance(v, bytes):
            out.append(v)
        elif isinstance(v, str):
            out.append(v.encode("utf-8"))
        elif isinstance(v, (bytearray, memoryview)):
            out.append(bytes(v))
        else:
            raise TypeError(f"values must be bytes or str, not {type(v).__name__}")
    return out, False


def _arrow_binary(values: list[bytes | None]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, type=pa.binary())


class FieldCipher:
    """Encrypt and decrypt column values with their context bound (AES-256-GCM, Tink format).

    ``subjects`` is None (no subject), one pseudonym for all values, or one per value. Lists in,
    lists out; Arrow arrays in, Arrow ``binary`` arrays out; nulls stay null.
    """

    def __init__(self, keyset: Keyset) -> None:
        self._aead = Aead(keyset)

    @classmethod
    def from_provider(cls, provider: KeyProvider, name: str) -> FieldCipher:
        return cls(provider.keyset(name))

    @property
    def keyset(self) -> Keyset:
        return self._aead.keyset

    def encrypt(
        self, value: bytes | str, context: FieldContext, subject: str | None = None
    ) -> bytes:
        data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return self._aead.encrypt(data, context.associated_data(subject))

    def decrypt(
        self, ciphertext: bytes, context: FieldContext, subject: str | None = None
    ) -> bytes:
        out = self._aead.decrypt_batch(
            [ciphertext], context.associated_data(subject), context.where
        )
        assert out[0] is not None
        return out[0]

    def _aads(self, context: FieldContext, subjects: Any, n: int) -> bytes | list[bytes]:
        if subjects is None or isinstance(subjects, (str, bytes)):
            return context.associated_data(subjects)
        subs = subjects.to_pylist() if _is_arrow(subjects) else list(subjects)
        if len(subs) != n:
            raise ValueError(f"{n} values but {len(subs)} subjects")
        base = context.base()
        with_subject = base + b"\x01"
        no_subject = base + b"\x00"
        return [
            with_subject + s.encode("utf-8")
            if isinstance(s, str)
            else no_subject
            if s is None
            else with_subject + bytes(s)
            for s in subs
        ]

    def encrypt_many(self, values: Any, context: FieldContext, subjects: Any = None) -> Any:
        vals, arrow = _to_bytes_list(values)
        if subjects is None or isinstance(subjects, (str, bytes)):
            out = self._aead.encrypt_batch(vals, context.associated_data(subjects))
        else:
            subs = subjects.to_pylist() if _is_arrow(subjects) else subjects
            out = self._aead.encrypt_batch_suffixed(vals, context.base(), subs)
        return _arrow_binary(out) if arrow else out

    def decrypt_many(self, ciphertexts: Any, context: FieldContext, subjects: Any = None) -> Any:
        cts, arrow = _to_bytes_list(ciphertexts)
        out = self._aead.decrypt_batch(cts, self._aads(context, subjects, len(cts)), context.where)
        return _arrow_binary(out) if arrow else out


# --------------------------------------------------------------------------------------------
# reversible join tokens


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64e(b: bytes) -> str:
    return binascii.b2a_base64(b, newline=False).translate(_URLSAFE).rstrip(b"=").decode("ascii")


def _b64d(s: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TamperedError("token is not valid base64url") from exc


class TokenCipher:
    """Deterministic, reversible tokens for joining (AES-SIV, Tink deterministic AEAD format).

    The ``domain`` (e.g. ``"customer_id"``) is bound as associated data: equal values give equal
    tokens within a domain, different tokens across domains. ``text=True`` gives unpadded
    base64url strings instead of bytes. Only holders of the keyset can reverse a token.
    """

    def __init__(self, keyset: Keyset) -> None:
        self._daead = DeterministicAead(keyset)

    @classmethod
    def from_provider(cls, provider: KeyProvider, name: str) -> TokenCipher:
        return cls(provider.keyset(name))

    @property
    def keyset(self) -> Keyset:
        return self._daead.keyset

    @staticmethod
    def domain_data(domain: str) -> bytes:
        return _TOKEN_AD_TAG + domain.encode("utf-8")

    def tokenize(self, value: bytes | str, domain: str, *, text: bool = False) -> bytes | str:
        out = self.tokenize_many([value], domain, text=text)
        assert out[0] is not None
        return out[0]

    def tokenize_parts(self, values: Sequence[bytes], domain: str) -> tuple[bytes, list[bytes]]:
        """``(prefix, outputs)`` for non-null byte ``values``: the token of ``values[i]`` is
        ``prefix + outputs[i]`` (what `tokenize` returns). For callers that assemble the
        tokens in bulk, as the ``tokenize`` transform does into base64url with numpy."""
        d = self._daead
        return d.prefix, d.encrypt_unprefixed(values, self.domain_data(domain))

    def detokenize(self, token: bytes | str, domain: str) -> bytes:
        out = self.detokenize_many([token], domain)
        assert out[0] is not None
        return out[0]

    def tokenize_many(self, values: Any, domain: str, *, text: bool = False) -> Any:
        vals, arrow = _to_bytes_list(values)
        out = self._daead.encrypt_batch(vals, self.domain_data(domain))
        if text:
            b2a, tbl = binascii.b2a_base64, _URLSAFE
            strs = [
                None
                if t is None
                else b2a(t, newline=False).translate(tbl).rstrip(b"=").decode("ascii")
                for t in out
            ]
            if arrow:
                import pyarrow as pa

                return pa.array(strs, type=pa.string())
            return strs
        return _arrow_binary(out) if arrow else out

    def detokenize_many(self, tokens: Any, domain: str) -> Any:
        arrow = _is_arrow(tokens)
        items = tokens.to_pylist() if arrow else list(tokens)
        cts: list[bytes | None] = [_b64d(t) if isinstance(t, str) else t for t in items]
        out = self._daead.decrypt_batch(cts, self.domain_data(domain), f"token domain {domain}")
        return _arrow_binary(out) if arrow else out
