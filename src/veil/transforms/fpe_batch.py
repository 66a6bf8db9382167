"""The ``fpe`` transform's formats over whole Arrow arrays, for FF1 and FF3-1.

Card and account numbers never become Python strings one by one: the separators are stripped
with Arrow's regex kernels, the values of one digit count become one ``(N, n)`` numpy block,
Luhn digits are checked and recomputed on the block, the kept leading digits give the tweaks
(hashed once per distinct head), and the cipher (`veil.crypto.fpe_ff1`,
`veil.crypto.fpe_ff3`) encrypts the block in one batch. Only values typed with separators
go back into their layout in Python. IBANs are parsed per value by ``schwifty`` (the bank
code's place depends on the country) and then encrypted in batches the same way.

A value that is not valid in its format is collected in `Rejects` with the reason (never the
value); the caller decides between an error naming the row and a null.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.crypto.fpe_ff1 import FF1
from veil.crypto.fpe_ff3 import FF31

ALGORITHMS = ("ff3-1", "ff1")
NAMES = {"ff3-1": "FF3-1", "ff1": "FF1"}
DIGITS = "0123456789"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
SEPARATORS = " -/."
MIN_DIGITS, MAX_DIGITS = 6, 56  # radix 10: 10**6 >= one million; FF3-1: 2*floor(96/log2(10))
MIN_LETTERS, MAX_LETTERS = 5, 40  # radix 26
_SEP_RE = r"[ \-/.]"


@dataclass(frozen=True)
class Spec:
    """A field's ``fpe`` parameters, checked."""

    fmt: str
    keep_first: int = 0
    keep_bank: bool = True
    check_digit: str = "none"
    algorithm: str = "ff3-1"

    @property
    def luhn(self) -> bool:
        return self.fmt == "card" or self.check_digit == "luhn"

    @property
    def what(self) -> str:
        return {"card": "card number", "digits": "account number"}.get(self.fmt, self.fmt)


@dataclass
class Rejects:
    """Which values are invalid and why (the first reason in value order is reported)."""

    count: int
    groups: list[tuple[np.ndarray, str]] = field(default_factory=list)

    def add(self, idx: np.ndarray, reason: str) -> None:
        if len(idx):
            self.groups.append((np.asarray(idx, dtype=np.int64), reason))

    def mask(self) -> np.ndarray:
        m = np.zeros(self.count, dtype=bool)
        for idx, _ in self.groups:
            m[idx] = True
        return m

    def first(self) -> tuple[int, str] | None:
        """(the lowest invalid index, its reason), or None when all are valid."""
        best: tuple[int, str] | None = None
        for idx, why in self.groups:
            i = int(idx.min())
            if best is None or i < best[0]:
                best = (i, why)
        return best


class Engine:
    """One key and algorithm: the radix-10 and radix-26 ciphers and the tweaks."""

    def __init__(self, key: bytes, algorithm: str) -> None:
        cls = FF31 if algorithm == "ff3-1" else FF1
        self.algorithm = algorithm
        self.name = NAMES[algorithm]
        self.digits = cls(key, 10)
        self.letters = cls(key, 26)

    def tweak(self, fmt: str, context: bytes, part: str = "") -> bytes:
        """The tweak of one value: the format, the part and the kept characters. FF1 takes
        them as they are (its tweaks have any length); FF3-1 takes 56 bits of their SHA-256
        (the tweaks Veil's FF3-1 tokens always had)."""
        return self._tweaks_of(fmt, part, [context])[0]

    def _tweaks_of(self, fmt: str, part: str, contexts: list[bytes]) -> list[bytes]:
        prefix = fmt.encode() + b"\x00" + part.encode() + b"\x00"
        if self.algorithm == "ff1":
            return [prefix + c for c in contexts]
        prefix = b"veil.fpe.v1\x00" + prefix
        sha256 = hashlib.sha256
        return [sha256(prefix + c).digest()[:7] for c in contexts]

    def tweaks(self, fmt: str, heads: np.ndarray) -> bytes | np.ndarray:
        """One tweak per row of kept leading digits (ASCII): FF1's are the rows themselves
        behind the format; FF3-1's are hashed once per distinct head."""
        count, width = heads.shape
        if width == 0:
            return self.tweak(fmt, b"")
        if self.algorithm == "ff1":
            prefix = np.frombuffer(self.tweak(fmt, b""), np.uint8)
            return np.hstack([np.broadcast_to(prefix, (count, len(prefix))), heads])
        if width <= 18:  # as integers: np.unique sorts them much faster than byte strings
            keys = (heads.astype(np.int64) - 48) @ (10 ** np.arange(width, dtype=np.int64))
        else:
            keys = np.ascontiguousarray(heads).view(f"S{width}").reshape(-1)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        contexts = [row.tobytes() for row in heads[first]]
        table = np.frombuffer(b"".join(self._tweaks_of(fmt, "", contexts)), np.uint8)
        return table.reshape(len(uniq), -1)[inverse.reshape(-1)]

    def crypt(
        self, cipher: FF1 | FF31, numerals: np.ndarray, tweaks: bytes | np.ndarray, forward: bool
    ) -> np.ndarray:
        return cipher.encrypt(numerals, tweaks) if forward else cipher.decrypt(numerals, tweaks)


# -- card and digits -------------------------------------------------------------------------


def crypt_numeric(
    values: pa.Array, spec: Spec, engine: Engine, forward: bool
) -> tuple[pa.Array, Rejects]:
    """``card`` / ``digits`` over distinct, non-null strings: (outputs, rejected)."""
    n = len(values)
    rejects = Rejects(n)
    stripped = pc.replace_substring_regex(values, _SEP_RE, "")
    lengths = pc.binary_length(stripped).to_numpy(zero_copy_only=False).astype(np.int64)
    has_sep = lengths != pc.binary_length(values).to_numpy(zero_copy_only=False)
    ok = pc.match_substring_regex(stripped, r"^[0-9]+$").to_numpy(zero_copy_only=False)
    rejects.add(np.flatnonzero(~ok), f"not a {spec.what} (digits and separators only)")
    pieces: list[pa.Array] = []
    places: list[np.ndarray] = []
    for length in np.flatnonzero(np.bincount(lengths[ok])).tolist():
        idx = np.flatnonzero(ok & (lengths == length))
        done = _numeric_group(
            stripped.take(pa.array(idx)), idx, length, spec, engine, forward, rejects
        )
        if done is None:
            continue
        idx, ascii_rows = done
        seps = has_sep[idx]
        if (~seps).any():
            pieces.append(_strings(ascii_rows[~seps]))
            places.append(idx[~seps])
        if seps.any():
            originals = values.take(pa.array(idx[seps])).to_pylist()
            pieces.append(
                pa.array(
                    [
                        _relayout(o, r.tobytes().decode())
                        for o, r in zip(originals, ascii_rows[seps], strict=True)
                    ],
                    pa.string(),
                )
            )
            places.append(idx[seps])
    return _assemble(n, pieces, places), rejects


def _numeric_group(
    digits_arr: pa.Array,
    idx: np.ndarray,
    length: int,
    spec: Spec,
    engine: Engine,
    forward: bool,
    rejects: Rejects,
) -> tuple[np.ndarray, np.ndarray] | None:
    """One digit count: (the surviving value indices, their outputs as ASCII rows)."""
    if spec.fmt == "card" and not 13 <= length <= 19:
        rejects.add(idx, "not a card number (13 to 19 digits)")
        return None
    d = _ascii_rows(digits_arr, length) - np.uint8(48)
    if spec.luhn:
        good = luhn_valid(d)
        rejects.add(idx[~good], f"not a {spec.what} (the Luhn check digit is wrong)")
        idx, d = idx[good], d[good]
    kf = spec.keep_first
    body = max(0, length - kf - (1 if spec.luhn else 0))
    if not MIN_DIGITS <= body <= MAX_DIGITS:
        rejects.add(
            idx, f"{body} digits to encrypt; {engine.name} needs {MIN_DIGITS} to {MAX_DIGITS}"
        )
        return None
    if len(idx) == 0:
        return None
    tweaks = engine.tweaks(spec.fmt, d[:, :kf] + np.uint8(48))
    out = d.copy()
    out[:, kf : kf + body] = engine.crypt(engine.digits, d[:, kf : kf + body], tweaks, forward)
    if spec.luhn:
        out[:, -1] = luhn_digit(out[:, :-1])
    return idx, out + np.uint8(48)


_DOUBLED = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.uint8)  # 2d, less 9 past 9


def luhn_valid(d: np.ndarray) -> np.ndarray:
    """The Luhn check of every row of digits (the last digit is the check digit)."""
    return (_luhn_sum(d[:, ::-1], 0) % 10) == 0


def luhn_digit(payload: np.ndarray) -> np.ndarray:
    """The Luhn check digit of every row of digits (``stdnum.luhn.calc_check_digit``)."""
    return ((10 - _luhn_sum(payload[:, ::-1], 1) % 10) % 10).astype(np.uint8)


def _luhn_sum(rev: np.ndarray, first_doubled: int) -> np.ndarray:
    """Luhn's sum of rows given right to left; every second digit from ``first_doubled`` is
    doubled."""
    plain = rev[:, first_doubled::2].sum(axis=1, dtype=np.int32)
    return plain + _DOUBLED[rev[:, 1 - first_doubled :: 2]].sum(axis=1, dtype=np.int32)


def _ascii_rows(arr: pa.Array, width: int) -> np.ndarray:
    """A string array whose values all have ``width`` bytes, as an ``(N, width)`` block."""
    offsets = np.frombuffer(arr.buffers()[1], np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    data = np.frombuffer(arr.buffers()[2], np.uint8)
    return data[offsets[0] : offsets[0] + len(arr) * width].reshape(len(arr), width)


def _strings(rows: np.ndarray) -> pa.Array:
    """``(N, width)`` ASCII rows -> an Arrow string array, without Python strings."""
    n, width = rows.shape
    offsets = (np.arange(n + 1, dtype=np.int32) * width).tobytes()
    return pa.StringArray.from_buffers(
        n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(rows).tobytes())
    )


def _relayout(original: str, digits: str) -> str:
    """``digits`` put back where the original had digits, its separators kept in place."""
    it = iter(digits)
    return "".join(next(it) if c in DIGITS else c for c in original)


def _assemble(n: int, pieces: list[pa.Array], places: list[np.ndarray]) -> pa.Array:
    """The pieces' values at their places; null where no piece has a value (the rejects)."""
    placed = np.zeros(n, dtype=bool)
    for p in places:
        placed[p] = True
    missing = np.flatnonzero(~placed)
    order = np.concatenate([*places, missing]) if places else missing
    whole = pa.concat_arrays([*pieces, pa.nulls(len(missing), pa.string())])
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n, dtype=np.int64)  # value i is at whole[where[i]]
    return whole.take(pa.array(where))


# -- IBAN --------------------------------------------------------------------------------------


@dataclass
class _Iban:
    """One IBAN taken apart: what is kept, and which BBAN places get encrypted."""

    chars: list[str]
    pos: list[int]
    country: str
    bban: list[str]
    context: bytes
    dig: list[int]
    let: list[int]


def crypt_iban(
    values: pa.Array, spec: Spec, engine: Engine, forward: bool
) -> tuple[pa.Array, Rejects]:
    """``iban`` over distinct, non-null strings: (outputs, rejected)."""
    texts = values.to_pylist()
    rejects = Rejects(len(texts))
    parts: dict[int, _Iban] = {}
    for i, v in enumerate(texts):
        got = _parse_iban(v, spec, engine)
        if isinstance(got, str):
            rejects.add(np.array([i]), got)
        else:
            parts[i] = got
    for part, cipher, alphabet in (
        ("digits", engine.digits, DIGITS),
        ("letters", engine.letters, LETTERS),
    ):
        mine = [
            (i, p.dig if part == "digits" else p.let)
            for i, p in parts.items()
            if part == "digits" or MIN_LETTERS <= len(p.let) <= MAX_LETTERS
        ]
        bodies = ["".join(parts[i].bban[j] for j in places) for i, places in mine]
        tweaks = [engine.tweak("iban", parts[i].context, part) for i, _ in mine]
        new = crypt_strings(engine, cipher, alphabet, bodies, tweaks, forward)
        for (i, places), enc in zip(mine, new, strict=True):
            for j, c in zip(places, enc, strict=True):
                parts[i].bban[j] = c
    out: list[str | None] = [None] * len(texts)
    for i, p in parts.items():
        out[i] = _iban_out(p)
    return pa.array(out, pa.string()), rejects


def _parse_iban(value: str, spec: Spec, engine: Engine) -> _Iban | str:
    """The value taken apart, or the reason it is not a valid IBAN."""
    from schwifty import IBAN
    from schwifty.domain import Component
    from schwifty.exceptions import SchwiftyException

    chars = list(value)
    pos = [i for i, c in enumerate(chars) if c.isalnum()]
    if len(pos) + sum(1 for c in chars if c in SEPARATORS) != len(chars) or len(pos) < 5:
        return "not an IBAN"
    compact = "".join(chars[i] for i in pos).upper()
    try:
        parsed = IBAN(compact)
    except (SchwiftyException, ValueError):
        return "not a valid IBAN"
    bban = compact[4:]
    kept: set[int] = set()
    if spec.keep_bank:
        r = parsed.bban.spec.positions.get(Component.BANK_CODE)
        if r is not None and r.end > r.start:
            kept = set(range(r.start, r.end))
    context = compact[:2] + "".join(bban[i] for i in sorted(kept))
    dig = [i for i in range(len(bban)) if i not in kept and bban[i] in DIGITS]
    let = [i for i in range(len(bban)) if i not in kept and bban[i] in LETTERS]
    if len(dig) < MIN_DIGITS:
        return (
            f"IBAN of {compact[:2]}: {len(dig)} digits to encrypt, {engine.name} needs "
            f"{MIN_DIGITS} (try keep_bank: false)"
        )
    return _Iban(chars, pos, compact[:2], list(bban), context.encode(), dig, let)


def _iban_out(p: _Iban) -> str:
    """New check digits, and the input's layout: separators and kept characters as typed."""
    from stdnum import iban as std_iban

    new_bban = "".join(p.bban)
    check = std_iban.calc_check_digits(p.country + "00" + new_bban)
    out = p.country + check + new_bban
    res = list(p.chars)
    for i, c in zip(p.pos, out, strict=True):
        if p.chars[i].upper() != c:
            res[i] = c
    return "".join(res)


def crypt_strings(
    engine: Engine,
    cipher: FF1 | FF31,
    alphabet: str,
    bodies: list[str],
    tweaks: list[bytes],
    forward: bool,
) -> list[str]:
    """Strings over a contiguous ASCII alphabet, in one batch per length and tweak length."""
    out: list[str] = [""] * len(bodies)
    base = np.uint8(ord(alphabet[0]))
    shapes = np.array(
        [(len(b), len(t)) for b, t in zip(bodies, tweaks, strict=True)], dtype=np.int64
    ).reshape(-1, 2)
    for length, tlen in np.unique(shapes, axis=0).tolist() if len(bodies) else []:
        idx = np.flatnonzero((shapes[:, 0] == length) & (shapes[:, 1] == tlen))
        rows = np.frombuffer("".join(bodies[i] for i in idx).encode(), np.uint8)
        num = rows.reshape(len(idx), length) - base
        tw = np.frombuffer(b"".join(tweaks[i] for i in idx), np.uint8).reshape(len(idx), tlen)
        new = (engine.crypt(cipher, num, tw, forward) + base).tobytes().decode()
        for j, i in enumerate(idx.tolist()):
            out[i] = new[j * length : (j + 1) * length]
    return out
