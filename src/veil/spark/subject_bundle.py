"""Per-subject keys (transform ``encrypt``) for Spark executors: a short-lived key bundle.

Executors do not open the workspace's store, so the driver prepares what they need:

1. It collects the distinct subject ids of the rows that reach the transforms (after the
   rights and consent joins), names them by keyed pseudonym (`SubjectRef`) and asks the
   store for their keys with ``create=True``: **new subjects' keys are made on the driver
   and stored in one transaction, before the job starts**, as the local engine makes them in
   its batches. A run that fails afterwards leaves keys for subjects that have rows in the
   input but in no published output: nothing was encrypted under them, erasure still
   shreds them, and the next run over that input uses them. No orphan can be read.
2. It draws a fresh random 256-bit bundle key, used for this run only, and seals each
   subject key (AES-256-GCM, associated data = the subject-key wrap binding of that
   pseudonym) and the subject-reference key under it. The bundle key itself travels
   **wrapped under the workspace's KEK** (associated data names the run), with the KEK's
   *reference* (`veil.spark.keys`): the executor opens it with its own KEK, from its own
   environment or HSM/KMS. No plaintext key is in the closure, the Spark plan, a log or on
   disk; an executor without the KEK fails its task with one clear error and the driver
   publishes nothing.

The bundle travels in the task closure: about 150 bytes per subject (a million subjects is
~150 MB pickled), so it suits runs up to a few hundred thousand distinct subjects per job.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from veil.crypto.errors import KeyMissingError, TamperedError, WrongKeyError
from veil.keys.manager import SUBJECT_NAMESPACE, KeysConfig, load_kek
from veil.keys.subject_keys import TOMBSTONE, InMemoryKeyStore, SubjectKeys, subject_wrap_aad

__all__ = ["SubjectBundle", "make_bundle"]

_REF_AAD = b"veil.spark.subject-ref.v1"
_NONCE = 12


def _bundle_aad(run_id: str) -> bytes:
    return b"veil.spark.subject-bundle.v1\x00" + run_id.encode("ascii")


def _seal(aead: AESGCM, key: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, key, aad)


class _BundleKEK:
    """Opens the bundle's sealed subject keys; makes none (a subject the driver did not
    prepare is a `KeyMissingError`, never a fresh key that no store would hold)."""

    kek_id = "spark-run-bundle"

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def wrap(self, plaintext: bytes, aad: bytes) -> bytes:
        raise KeyMissingError("a subject's key was not prepared by the Spark driver (the "
                              "executor cannot create keys: the store is on the driver)")

    def unwrap(self, ciphertext: bytes, aad: bytes) -> bytes:
        try:
            return self._aead.decrypt(ciphertext[:_NONCE], ciphertext[_NONCE:], aad)
        except InvalidTag:
            raise TamperedError("a sealed subject key in the Spark bundle does not open") \
                from None


class _Ref:
    """What `subject_tokens` needs of a `SubjectRef`: its HMAC key."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def key(self) -> bytes:
        return self._key


@dataclass
class SubjectBundle:
    """The run's subject keys, sealed under a bundle key that is wrapped under the KEK."""

    run_id: str
    kek_id: str
    kek_ref: KeysConfig
    wrapped_key: bytes  # the bundle key, wrapped under the workspace's KEK
    sealed_ref: bytes  # the subject-reference key, sealed under the bundle key
    sealed: dict[str, bytes]  # pseudonym -> sealed subject key (b"" = erased)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:  # nothing sealed in logs either
        return f"SubjectBundle({len(self.sealed)} subjects, kek={self.kek_ref.describe()})"

    def open(self) -> tuple[SubjectKeys, _Ref]:
        """Subject keys and references for the executor's ``encrypt`` (its KEK unwraps the
        bundle key; keys are unsealed one subject at a time, as rows need them)."""
        with _LOCK:
            got = _OPEN.get(self.run_id)
            if got is not None:
                return got
            kek = load_kek(self.kek_ref)
            if kek.kek_id != self.kek_id:
                raise WrongKeyError(f"the run's subject keys are wrapped under KEK "
                                    f"{self.kek_id}, but this executor's KEK is {kek.kek_id} "
                                    "(set the same KEK on every executor)")
            bundle_key = kek.unwrap(self.wrapped_key, _bundle_aad(self.run_id))
            inner = _BundleKEK(bundle_key)
            store = InMemoryKeyStore()
            for token, blob in self.sealed.items():
                store[token] = blob
            keys = SubjectKeys(inner, store, namespace=SUBJECT_NAMESPACE)  # type: ignore[arg-type]
            ref = _Ref(inner.unwrap(self.sealed_ref, _REF_AAD))
            _OPEN.clear()  # one run's keys per executor process at a time
            _OPEN[self.run_id] = (keys, ref)
            return keys, ref


_LOCK = threading.Lock()
_OPEN: dict[str, tuple[SubjectKeys, _Ref]] = {}


def make_bundle(ws: Any, run_id: str, subject_ids: list[str]) -> SubjectBundle:
    """The bundle for these subject ids (see the module docstring): missing keys are made
    and stored now, in one transaction; an erased subject's entry is a tombstone."""
    from veil.consent.models import SubjectRef
    from veil.keys.manager import KeyManager
    from veil.transforms.subject_encrypt import subject_tokens

    cfg = KeysConfig.from_workspace(ws.root)
    if cfg is None:
        raise KeyMissingError("this workspace has no key-encryption key yet: run `veil keys init`")
    manager = KeyManager(ws)
    kek = manager.kek
    ref_key = SubjectRef(ws.root).key()
    ref = _Ref(ref_key)
    tokens = list(dict.fromkeys(subject_tokens(ref, [s.encode("utf-8") for s in subject_ids])))
    store_keys = manager.subject_keys(cache_size=1)  # empty cache: keys come back raw
    keys, erased = store_keys.keys_for(tokens, create=False) if tokens else ({}, [])
    new = [t for t in tokens if t not in keys and t not in erased]
    if new:
        made, _ = store_keys.keys_for(new, create=True)
        keys.update(made)
    bundle_key = AESGCM.generate_key(bit_length=256)
    aead = AESGCM(bundle_key)
    sealed: dict[str, bytes] = {t: TOMBSTONE for t in erased}
    for t, k in keys.items():
        raw = k if isinstance(k, bytes) else None
        if raw is None:
            raise KeyMissingError("a subject key came back as a cached primitive; the Spark "
                                  "driver needs a fresh key manager")
        sealed[t] = _seal(aead, raw, subject_wrap_aad(SUBJECT_NAMESPACE, t))
    return SubjectBundle(run_id, kek.kek_id, cfg, kek.wrap(bundle_key, _bundle_aad(run_id)),
                         _seal(aead, ref_key, _REF_AAD), sealed)
