"""Field AEAD and deterministic tokens: round trips (hypothesis), context binding, Tink interop."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.crypto.aead import (
    Aead,
    DeterministicAead,
    FieldCipher,
    FieldContext,
    InMemoryKeyProvider,
    TokenCipher,
)
from veil.crypto.errors import KeyMissingError, KeysetError, TamperedError
from veil.crypto.keyset import Keyset

FIELD_KS = Keyset.generate("aead")
TOKEN_KS = Keyset.generate("daead")
CTX = FieldContext("loans", "iban")

values_st = st.lists(
    st.one_of(st.none(), st.binary(max_size=64), st.text(max_size=20)), max_size=30
)


# --- field AEAD --------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    values=values_st,
    dataset=st.text(max_size=10),
    column=st.text(max_size=10),
    subject=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
)
def test_field_round_trip(
    values: list[Any], dataset: str, column: str, subject: str | None
) -> None:
    fc = FieldCipher(FIELD_KS)
    ctx = FieldContext(dataset, column)
    ct = fc.encrypt_many(values, ctx, subject)
    expected = [None if v is None else (v.encode() if isinstance(v, str) else v) for v in values]
    assert fc.decrypt_many(ct, ctx, subject) == expected
    # Randomized: encrypting twice gives different ciphertexts (unless null).
    again = fc.encrypt_many(values, ctx, subject)
    assert all(a is None or a != b for a, b in zip(ct, again))


@settings(max_examples=100, deadline=None)
@given(
    value=st.binary(max_size=40),
    a=st.tuples(
        st.text(max_size=6), st.text(max_size=6), st.one_of(st.none(), st.text(max_size=6))
    ),
    b=st.tuples(
        st.text(max_size=6), st.text(max_size=6), st.one_of(st.none(), st.text(max_size=6))
    ),
)
def test_context_is_bound(
    value: bytes, a: tuple[str, str, str | None], b: tuple[str, str, str | None]
) -> None:
    fc = FieldCipher(FIELD_KS)
    ct = fc.encrypt(value, FieldContext(a[0], a[1]), a[2])
    if a == b:
        assert fc.decrypt(ct, FieldContext(b[0], b[1]), b[2]) == value
    else:
        with pytest.raises(TamperedError):
            fc.decrypt(ct, FieldContext(b[0], b[1]), b[2])


@given(
    a=st.tuples(
        st.text(max_size=5), st.text(max_size=5), st.one_of(st.none(), st.text(max_size=5))
    ),
    b=st.tuples(
        st.text(max_size=5), st.text(max_size=5), st.one_of(st.none(), st.text(max_size=5))
    ),
)
def test_associated_data_encoding_is_injective(
    a: tuple[str, str, str | None], b: tuple[str, str, str | None]
) -> None:
    ad_a = FieldContext(a[0], a[1]).associated_data(a[2])
    ad_b = FieldContext(b[0], b[1]).associated_data(b[2])
    assert (ad_a == ad_b) == (a == b)


def test_per_row_subjects_and_arrow() -> None:
    fc = FieldCipher(FIELD_KS)
    vals = pa.array(["DE89370400440532013000", None, "FR1420041010050500013M02606"])
    subs = pa.array(["p1", "p2", "p3"])
    ct = fc.encrypt_many(vals, CTX, subs)
    assert isinstance(ct, pa.Array) and ct.type == pa.binary() and ct.null_count == 1
    back = fc.decrypt_many(ct, CTX, subs)
    assert back.cast(pa.string()).to_pylist() == vals.to_pylist()
    # Rows swapped between subjects no longer decrypt; the error names the row, not the value.
    swapped = pa.array([ct[2].as_py(), None, ct[0].as_py()], pa.binary())
    with pytest.raises(TamperedError) as info:
        fc.decrypt_many(swapped, CTX, subs)
    assert "loans.iban, row 0" in str(info.value)
    assert "DE89" not in str(info.value)
    chunked = pa.chunked_array([vals.slice(0, 1), vals.slice(1)])
    assert fc.decrypt_many(fc.encrypt_many(chunked, CTX, subs), CTX, subs).to_pylist() == [
        v.encode() if v else None for v in vals.to_pylist()
    ]
    with pytest.raises(ValueError):
        fc.encrypt_many([b"a", b"b"], CTX, ["only one"])
    with pytest.raises(TypeError):
        fc.encrypt_many([123], CTX)


def test_field_ciphertexts_are_tink_aead(tink: Any, token: Any) -> None:
    """FieldCipher output opens in tink-py's AEAD with the context's associated data, and the
    other way round."""
    from tink import aead

    ks = Keyset.generate("aead").rotate()
    prim = tink.proto_keyset_format.parse(ks.to_binary(), token).primitive(aead.Aead)
    fc = FieldCipher(ks)
    ad = CTX.associated_data("p-17")
    ct = fc.encrypt(b"4111111111111111", CTX, "p-17")
    assert ct[:5] == b"\x01" + ks.primary_key_id.to_bytes(4, "big")
    assert prim.decrypt(ct, ad) == b"4111111111111111"
    theirs = prim.encrypt(b"from tink", ad)
    assert fc.decrypt(theirs, CTX, "p-17") == b"from tink"
    # A ciphertext made under the older key (key id in its prefix) still opens.
    old = Keyset.from_binary(ks.to_binary()).with_primary(ks.entries[0].key_id)
    assert Aead(ks).decrypt(Aead(old).encrypt(b"x", b"ad"), b"ad") == b"x"
    # RAW keys (no prefix) interoperate as well.
    raw = Keyset.generate("aead", output_prefix="RAW")
    raw_prim = tink.proto_keyset_format.parse(raw.to_binary(), token).primitive(aead.Aead)
    assert raw_prim.decrypt(Aead(raw).encrypt(b"y", b"z"), b"z") == b"y"
    assert Aead(raw).decrypt(raw_prim.encrypt(b"y", b"z"), b"z") == b"y"


def test_field_tamper_and_wrong_key() -> None:
    fc = FieldCipher(FIELD_KS)
    ct = fc.encrypt(b"secret", CTX)
    for i in range(len(ct)):
        bad = bytearray(ct)
        bad[i] ^= 0x10
        with pytest.raises(TamperedError):
            fc.decrypt(bytes(bad), CTX)
    for cut in (0, 4, 5, 16, 17, len(ct) - 1):
        with pytest.raises(TamperedError):
            fc.decrypt(ct[:cut], CTX)
    with pytest.raises(TamperedError):
        FieldCipher(Keyset.generate("aead")).decrypt(ct, CTX)
    with pytest.raises(KeysetError):
        FieldCipher(Keyset.generate("streaming"))


def test_key_provider() -> None:
    kp = InMemoryKeyProvider()
    kp.create("fields", "aead")
    kp.create("tokens", "daead")
    fc = FieldCipher.from_provider(kp, "fields")
    ct = fc.encrypt(b"v", CTX)
    kp.rotate("fields")
    fc2 = FieldCipher.from_provider(kp, "fields")
    assert fc2.keyset.primary_key_id != fc.keyset.primary_key_id
    assert fc2.decrypt(ct, CTX) == b"v"  # old key still in the keyset
    assert (
        TokenCipher.from_provider(kp, "tokens").detokenize(
            TokenCipher.from_provider(kp, "tokens").tokenize(b"x", "d"), "d"
        )
        == b"x"
    )
    with pytest.raises(KeyMissingError):
        kp.keyset("nope")
    with pytest.raises(KeysetError):
        kp.create("fields", "aead")
    assert kp.names() == ["fields", "tokens"]


# --- deterministic tokens ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(values=values_st, domain=st.text(max_size=12), text=st.booleans())
def test_token_round_trip_and_determinism(values: list[Any], domain: str, text: bool) -> None:
    tc = TokenCipher(TOKEN_KS)
    toks = tc.tokenize_many(values, domain, text=text)
    assert toks == tc.tokenize_many(values, domain, text=text)  # deterministic
    expected = [None if v is None else (v.encode() if isinstance(v, str) else v) for v in values]
    assert tc.detokenize_many(toks, domain) == expected
    # Equal inputs <-> equal tokens.
    for v, t in zip(expected, toks):
        for w, u in zip(expected, toks):
            if v is not None and w is not None:
                assert (v == w) == (t == u)
    if text:
        assert all(
            t is None or (isinstance(t, str) and "=" not in t and "+" not in t and "/" not in t)
            for t in toks
        )


@given(v=st.binary(max_size=20), d1=st.text(max_size=5), d2=st.text(max_size=5))
def test_token_domains_are_separate(v: bytes, d1: str, d2: str) -> None:
    tc = TokenCipher(TOKEN_KS)
    t = tc.tokenize(v, d1)
    if d1 == d2:
        assert tc.detokenize(t, d2) == v
    else:
        assert tc.tokenize(v, d2) != t
        with pytest.raises(TamperedError):
            tc.detokenize(t, d2)


def test_tokens_are_tink_deterministic_aead(tink: Any, token: Any) -> None:
    from tink import daead

    ks = Keyset.generate("daead")
    prim = tink.proto_keyset_format.parse(ks.to_binary(), token).primitive(daead.DeterministicAead)
    d = DeterministicAead(ks)
    for pt, ad in [(b"", b""), (b"x", b""), (b"NL91ABNA0417164300", b"domain"), (b"a" * 100, b"z")]:
        mine = d.encrypt(pt, ad)
        assert mine == prim.encrypt_deterministically(pt, ad)
        assert prim.decrypt_deterministically(mine, ad) == pt
    tc = TokenCipher(ks)
    tok = tc.tokenize(b"customer-42", "customer_id")
    assert isinstance(tok, bytes)
    assert (
        prim.decrypt_deterministically(tok, TokenCipher.domain_data("customer_id"))
        == b"customer-42"
    )


@pytest.mark.parametrize("prefix", ["TINK", "RAW"])
def test_tokenize_parts_are_tink_tokens(tink: Any, token: Any, prefix: str) -> None:
    """The bulk path (prefix joined on by the caller) gives tink-py's ciphertexts."""
    from tink import daead

    ks = Keyset.generate("daead", output_prefix="TINK" if prefix == "TINK" else "RAW")
    prim = tink.proto_keyset_format.parse(ks.to_binary(), token).primitive(daead.DeterministicAead)
    tc = TokenCipher(ks)
    values = [b"", b"x", b"customer-42", "Müller".encode(), b"a" * 100]
    pfx, outs = tc.tokenize_parts(values, "customer_id")
    assert len(pfx) == (5 if prefix == "TINK" else 0)
    ad = TokenCipher.domain_data("customer_id")
    for v, out in zip(values, outs, strict=True):
        assert pfx + out == prim.encrypt_deterministically(v, ad) == tc.tokenize(v, "customer_id")
    assert DeterministicAead(ks).encrypt_unprefixed(values, ad) == outs


def test_token_tamper_and_bad_text() -> None:
    tc = TokenCipher(TOKEN_KS)
    tok = tc.tokenize(b"v", "d", text=True)
    assert isinstance(tok, str)
    assert tc.detokenize(tok, "d") == b"v"
    with pytest.raises(TamperedError):
        tc.detokenize("!!!not base64!!!", "d")
    raw = tc.tokenize(b"v", "d")
    assert isinstance(raw, bytes)
    for i in range(len(raw)):
        bad = bytearray(raw)
        bad[i] ^= 1
        with pytest.raises(TamperedError):
            tc.detokenize(bytes(bad), "d")
    arr = tc.tokenize_many(pa.array(["a", None, "a"]), "d", text=True)
    assert arr.type == pa.string() and arr[0] == arr[2] and arr.null_count == 1
    assert tc.detokenize_many(arr, "d").to_pylist() == [b"a", None, b"a"]
