"""A KEK in AWS KMS, through boto3: the key never leaves KMS.

    [keys]
    kek = "aws-kms"
    key_id = "alias/veil-kek"                  # a key ARN, key id, alias name or alias ARN
    region = "eu-central-1"
    # endpoint_url = "http://127.0.0.1:4566"   # a local KMS (tests); unset for AWS itself

Credentials come from boto3's usual chain (environment, ``~/.aws``, an instance or task role);
none is ever read from ``veil.toml``. Wrapping is KMS ``Encrypt`` with the caller's associated
data as the encryption context (``{"veil-aad": base64(aad)}``), so KMS itself refuses to
decrypt under other associated data; unwrapping is ``Decrypt`` naming the same key. KMS encrypts
at most 4096 bytes: a larger secret (a keyset after many rotations) is sealed with AES-256-GCM
under a data key from ``GenerateDataKey`` (envelope encryption, the same context bound to both).
The output is self-describing::

    b"VKMS" || 0x01 || KMS CiphertextBlob                              (direct)
    b"VKMS" || 0x02 || len(blob) (2 bytes, big-endian) || blob || nonce (12) || ct || tag

``kek_id`` is ``aws-kms:<key ARN>``, the ARN KMS resolves ``key_id`` to (an alias that is later
pointed at another key is a different KEK).
"""

from __future__ import annotations

import base64
import os
import threading
from dataclasses import dataclass
from typing import Any

from veil.crypto.errors import CryptoError, KeyMissingError, WrongKeyError

__all__ = ["CONTEXT_KEY", "MAGIC", "AwsKmsKEK", "KmsSettings", "open_kms_kek"]

MAGIC = b"VKMS"
DIRECT = 0x01
ENVELOPE = 0x02
CONTEXT_KEY = "veil-aad"
KMS_MAX_PLAINTEXT = 4096
NONCE_SIZE = 12


@dataclass(frozen=True)
class KmsSettings:
    """``[keys]`` for ``kek = "aws-kms"``: the key, its region, and an optional endpoint."""

    key_id: str
    region: str
    endpoint_url: str | None = None

    #: The settings ``[keys]`` may hold for this provider.
    FIELDS = ("key_id", "region", "endpoint_url")

    @classmethod
    def from_table(cls, table: dict[str, Any], where: str) -> KmsSettings:
        for name in ("key_id", "region"):
            v = table.get(name)
            if not isinstance(v, str) or not v.strip():
                raise CryptoError(f"kek = \"aws-kms\" needs {name} (a non-empty string)",
                                  where=where)
        url = table.get("endpoint_url")
        if url is not None and not (isinstance(url, str) and url.startswith(("http://",
                                                                              "https://"))):
            raise CryptoError("endpoint_url must be an http:// or https:// URL", where=where)
        return cls(table["key_id"], table["region"], url)

    def toml_table(self) -> dict[str, str]:
        out = {"kek": "aws-kms", "key_id": self.key_id, "region": self.region}
        if self.endpoint_url:
            out["endpoint_url"] = self.endpoint_url
        return out

    def describe(self) -> str:
        at = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"aws-kms {self.key_id} ({self.region}{at})"


@dataclass(frozen=True)
class _ErrorRule:
    """How one KMS error code reads to the user: the exception class and the message."""

    error: type[CryptoError]
    message: str


#: KMS error code -> what Veil says ({key} and {region} filled in). Anything else is a
#: `CryptoError` naming the code.
KMS_ERRORS: dict[str, _ErrorRule] = {
    "NotFoundException": _ErrorRule(
        KeyMissingError, "KMS key {key} not found in {region} (fix [keys] key_id or region)"),
    "DisabledException": _ErrorRule(KeyMissingError, "KMS key {key} is disabled"),
    "KMSInvalidStateException": _ErrorRule(
        KeyMissingError, "KMS key {key} is not usable (pending deletion or import)"),
    "AccessDeniedException": _ErrorRule(
        CryptoError, "access to KMS key {key} denied (check the key policy and IAM role)"),
    "InvalidCiphertextException": _ErrorRule(
        WrongKeyError, "KMS cannot unwrap this (wrong KEK or associated data, or damaged)"),
    "IncorrectKeyException": _ErrorRule(
        WrongKeyError, "this was wrapped under another KMS key than {key}"),
    "UnrecognizedClientException": _ErrorRule(
        CryptoError, "KMS rejected the AWS credentials (unknown access key)"),
    "InvalidSignatureException": _ErrorRule(
        CryptoError, "KMS rejected the AWS credentials (bad signature)"),
    "ExpiredTokenException": _ErrorRule(CryptoError, "the AWS session token has expired"),
}


def _kms_error(exc: Exception, settings: KmsSettings, where: str) -> CryptoError:
    """One clear error for a boto3/botocore failure (never the request or the key material)."""
    from botocore import exceptions as bx

    fill = {"key": settings.key_id, "region": settings.region}
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return KeyMissingError("no AWS credentials for KMS (set them the usual way: "
                               "AWS_PROFILE, AWS_ACCESS_KEY_ID..., or an instance role)",
                               where=where)
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError
                  | bx.ReadTimeoutError | bx.ConnectionClosedError):
        target = settings.endpoint_url or f"KMS in {settings.region}"
        return CryptoError(f"cannot reach {target} (check [keys] endpoint_url / region and "
                           "the network)", where=where)
    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        rule = KMS_ERRORS.get(code)
        if rule is not None:
            return rule.error(rule.message.format(**fill), where=where)
        return CryptoError(f"KMS refused ({code or 'unknown error'})", where=where)
    return CryptoError(f"KMS client error ({type(exc).__name__})", where=where)


def _client(settings: KmsSettings) -> Any:
    import boto3
    from botocore.config import Config

    cfg = Config(connect_timeout=5, read_timeout=30,
                 retries={"mode": "standard", "max_attempts": 3})
    return boto3.session.Session().client("kms", region_name=settings.region,
                                          endpoint_url=settings.endpoint_url, config=cfg)


def open_kms_kek(settings: KmsSettings, where: str = "[keys]") -> AwsKmsKEK:
    """A client for the configured key, after checking with KMS that it exists, is enabled
    and is a symmetric encryption key."""
    from botocore import exceptions as bx

    client = _client(settings)
    try:
        meta = client.describe_key(KeyId=settings.key_id)["KeyMetadata"]
    except (bx.BotoCoreError, bx.ClientError) as exc:
        raise _kms_error(exc, settings, where) from None
    if meta.get("KeyState", "Enabled") != "Enabled":
        raise KeyMissingError(f"KMS key {settings.key_id} is {meta.get('KeyState')}",
                              where=where)
    if meta.get("KeyUsage", "ENCRYPT_DECRYPT") != "ENCRYPT_DECRYPT" or meta.get(
            "KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        raise CryptoError(f"KMS key {settings.key_id} is not a symmetric encryption key",
                          where=where)
    return AwsKmsKEK(settings, client, str(meta["Arn"]), where)


class AwsKmsKEK:
    """A `veil.kek.providers.KEK` whose key is in AWS KMS (see the module docstring)."""

    def __init__(self, settings: KmsSettings, client: Any, arn: str, where: str) -> None:
        self.settings = settings
        self._client = client
        self._arn = arn
        self._where = where
        self._pid = os.getpid()
        self._lock = threading.Lock()

    @property
    def kek_id(self) -> str:
        return f"aws-kms:{self._arn}"

    def _kms(self) -> Any:
        with self._lock:  # boto3 clients are thread-safe, but not shared across fork
            if self._pid != os.getpid():
                self._client, self._pid = _client(self.settings), os.getpid()
            return self._client

    def _call(self, op: str, **kw: Any) -> dict[str, Any]:
        from botocore import exceptions as bx

        try:
            return dict(getattr(self._kms(), op)(**kw))
        except (bx.BotoCoreError, bx.ClientError) as exc:
            raise _kms_error(exc, self.settings, self.kek_id) from None

    @staticmethod
    def _context(aad: bytes) -> dict[str, str]:
        return {CONTEXT_KEY: base64.b64encode(bytes(aad)).decode("ascii")}

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        ctx = self._context(aad)
        if len(plaintext) <= KMS_MAX_PLAINTEXT:
            blob = self._call("encrypt", KeyId=self._arn, Plaintext=bytes(plaintext),
                              EncryptionContext=ctx)["CiphertextBlob"]
            return MAGIC + bytes([DIRECT]) + bytes(blob)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        dk = self._call("generate_data_key", KeyId=self._arn, KeySpec="AES_256",
                        EncryptionContext=ctx)
        nonce = os.urandom(NONCE_SIZE)
        sealed = AESGCM(bytes(dk["Plaintext"])).encrypt(nonce, bytes(plaintext), bytes(aad))
        blob = bytes(dk["CiphertextBlob"])
        return MAGIC + bytes([ENVELOPE]) + len(blob).to_bytes(2, "big") + blob + nonce + sealed

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        data = bytes(ciphertext)
        if data[:len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + 2:
            raise WrongKeyError("not wrapped by a KMS KEK (wrong KEK)", where=self.kek_id)
        mode, body = data[len(MAGIC)], data[len(MAGIC) + 1:]
        ctx = self._context(aad)
        if mode == DIRECT:
            return bytes(self._call("decrypt", KeyId=self._arn, CiphertextBlob=body,
                                    EncryptionContext=ctx)["Plaintext"])
        if mode != ENVELOPE or len(body) < 2:
            raise WrongKeyError("unknown KMS wrapping, or damaged", where=self.kek_id)
        n = int.from_bytes(body[:2], "big")
        blob, rest = body[2:2 + n], body[2 + n:]
        if len(blob) != n or len(rest) < NONCE_SIZE + 16:
            raise WrongKeyError("KMS-wrapped data is truncated", where=self.kek_id)
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        dk = self._call("decrypt", KeyId=self._arn, CiphertextBlob=blob,
                        EncryptionContext=ctx)["Plaintext"]
        try:
            return AESGCM(bytes(dk)).decrypt(rest[:NONCE_SIZE], rest[NONCE_SIZE:], bytes(aad))
        except InvalidTag:
            raise WrongKeyError("the wrapped data is damaged", where=self.kek_id) from None

    def __repr__(self) -> str:
        return f"AwsKmsKEK(kek_id={self.kek_id!r})"
