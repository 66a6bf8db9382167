"""Vectorized twin of ``contact.validate_phone`` (``phone_score``): phonenumbers' parse and
validation, done with phonenumbers' own metadata over a whole Arrow array at once.

phonenumbers costs ~40 µs a value (more for a national number, tried in up to 17 regions).
For a value of a plain shape (ASCII digits, an optional leading ``+``, the separators
space, dot, dash, slash and parentheses) what ``parse`` and ``is_valid_number`` do reduces
to a few steps on the digits, which this module repeats with ``pyarrow.compute`` for all
values of a country calling code (or a default region) together:

* the country calling code: the shortest prefix of 1-3 digits that phonenumbers knows;
  in a national number, the region's own code written without ``+`` (kept when the digits
  without it fit the region's general pattern and the whole did not, or the whole is too
  long);
* the national prefix (``national_prefix_for_parsing``) stripped where phonenumbers
  strips it (the rest must still fit the general pattern; after the calling code, it must
  still have a possible length);
* valid: the national number has a length and full match of the general description and
  of one number type (premium rate ... mobile), in the region that phonenumbers picks for
  the number (leading digits or the first region whose types match); possible: its length
  is one of the general description's possible lengths (local-only ones included).

Anything else (letters, extensions, other punctuation, a national prefix with a transform
rule, an international prefix dialled inside a national number, a pattern RE2 refuses)
is left as NaN: ``validators_vec.scores`` asks ``phone_score`` itself. The tests compare
the twin with ``phone_score`` on every example number phonenumbers has and mutations.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

from veil.detect.recognizers.contact import DEFAULT_REGIONS

MIN_NSN, MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN and _MAX_LENGTH_FOR_NSN
_PLAIN = r"^[\t\n\f\r ]*\+?[0-9(][0-9 .\-/()]*[0-9][\t\n\f\r ]*$"
SMALL = 400  # fewer values than this are matched with Python's re
_MAX_CHARS = 100  # longer values go to phonenumbers (its own limit is 250)
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
)
# _test_number_length's outcomes
POSSIBLE, LOCAL_ONLY, TOO_SHORT, TOO_LONG, INVALID_LENGTH = range(5)


class Undecided(Exception):
    """A metadata pattern RE2 does not take: the values go to phonenumbers."""


def phone_twin(values: pa.Array) -> np.ndarray:
    """``phone_score`` of every value: 0.85 / 0.45 / 0.0 (international), 0.4 / 0.2 / 0.0
    (national), NaN where phonenumbers itself must answer."""
    n = len(values)
    out = np.full(n, np.nan)
    plain = _mask(pc.match_substring_regex(values, _PLAIN))
    plain &= pc.utf8_length(values).to_numpy(zero_copy_only=False) <= _MAX_CHARS
    idx = np.flatnonzero(plain)
    if idx.size == 0:
        return out
    vals = values.take(pa.array(idx))
    digits = pc.replace_substring_regex(vals, r"[^0-9]", "")
    ndig = _lengths(digits)
    plus = _mask(pc.match_substring_regex(vals, r"^\s*\+"))
    zz = _mask(pc.starts_with(digits, "00"))
    res = np.zeros(idx.size)
    sized = (ndig >= 7) & (ndig <= 15)
    intl = np.flatnonzero(sized & (plus | zz))
    if intl.size:
        d = digits.take(pa.array(intl))
        full = pc.if_else(pa.array(plus[intl]), d, pc.utf8_slice_codeunits(d, 2))
        res[intl] = _international(full)
    nat = np.flatnonzero(sized & ~plus & ~zz)
    if nat.size:
        res[nat] = _national(digits.take(pa.array(nat)))
    out[idx] = res
    return out


def _international(full: pa.Array) -> np.ndarray:
    """``parse("+" + full, None)``: the calling code, then validity in its region."""
    res = np.zeros(len(full))
    codes = np.zeros(len(full), dtype=np.int64)
    for width in (3, 2, 1):  # the shortest known prefix wins
        head = pc.utf8_slice_codeunits(full, 0, width)
        known = _mask(pc.is_in(head, value_set=_codes())) & (_lengths(head) == width)
        num = pc.cast(pc.if_else(pa.array(known), head, "0"), pa.int64())
        codes = np.where(known, num.to_numpy(zero_copy_only=False), codes)
    codes[_mask(pc.starts_with(full, "0"))] = 0
    for cc in np.unique(codes[codes > 0]).tolist():
        rows = np.flatnonzero(codes == cc)
        w = len(str(cc))
        nsn = pc.utf8_slice_codeunits(full.take(pa.array(rows)), w)
        meta = _main_metadata(cc)
        try:
            res[rows] = _score(cc, meta, nsn, 0.85, 0.45)
        except Undecided:
            res[rows] = np.nan
    return res


def _score(cc: int, meta: object, nsn: pa.Array, valid_s: float, poss_s: float) -> np.ndarray:
    """After the calling code: phonenumbers' checks of the national number's length, its
    national prefix stripped (when the rest has a possible length), valid or possible."""
    short = _lengths(nsn) < MIN_NSN
    nsn, fb = _strip_prefix(meta, nsn, check_length=True)
    ln = _lengths(nsn)
    bad = short | (ln < MIN_NSN) | (ln > MAX_NSN)
    out = np.where(_valid(cc, nsn), valid_s, np.where(_possible(cc, nsn), poss_s, 0.0))
    out = np.where(bad, 0.0, out)
    return np.where(fb & ~short, np.nan, out)


def _national(digits: pa.Array) -> np.ndarray:
    """``phone_score``'s loop over the default regions: 0.4 at the first region where the
    number is valid, else 0.2 if it was possible in one, else 0.0."""
    n = len(digits)
    out = np.full(n, -1.0)  # -1: not decided yet
    possible = np.zeros(n, dtype=bool)
    for region in DEFAULT_REGIONS:
        open_ = np.flatnonzero(out == -1.0)
        if open_.size == 0:
            break
        try:
            v, p, fb = _in_region(region, digits.take(pa.array(open_)))
        except Undecided:
            out[open_] = np.nan
            break
        out[open_] = np.where(fb, np.nan, np.where(v, 0.4, -1.0))
        possible[open_] |= p & ~fb
    return np.where(out == -1.0, np.where(possible, 0.2, 0.0), out)


def _in_region(region: str, digits: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``parse(value, region)`` then valid and possible; a raise counts as neither. Also
    the values phonenumbers must decide (an international prefix dialled)."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None:
        raise Undecided(region)
    fb = np.zeros(len(digits), dtype=bool)
    if meta.international_prefix:
        fb |= _prefix_match(digits, meta.international_prefix)
    cc = meta.country_code
    ccs = str(cc)
    nsn = digits
    own = _mask(pc.starts_with(digits, ccs))
    if own.any():  # the region's calling code written without "+"
        pot, pfb = _strip_prefix(meta, pc.utf8_slice_codeunits(digits, len(ccs)), False)
        gen = meta.general_desc.national_number_pattern
        take = own & (
            (~_full(digits, gen) & _full(pot, gen))
            | (_length_result(meta, _lengths(digits)) == TOO_LONG)
        )
        fb |= own & pfb
        if COUNTRY_CODE_TO_REGION_CODE[cc][0] != region:
            fb |= take  # parse would go on with the main region's metadata
        nsn = pc.if_else(pa.array(take), pot, digits)
    short = _lengths(nsn) < MIN_NSN
    nsn, sfb = _strip_prefix(meta, nsn, check_length=True)
    ln = _lengths(nsn)
    ok = ~short & (ln >= MIN_NSN) & (ln <= MAX_NSN)
    return ok & _valid(cc, nsn), ok & _possible(cc, nsn), fb | (sfb & ~short)


def _strip_prefix(meta: object, nsn: pa.Array, check_length: bool) -> tuple[pa.Array, np.ndarray]:
    """``_maybe_strip_national_prefix_carrier_code`` (and, with ``check_length``, parse's
    test that the rest has a possible length): the numbers, and where phonenumbers must
    decide (a prefix with a transform rule)."""
    n = len(nsn)
    fb = np.zeros(n, dtype=bool)
    npfp = getattr(meta, "national_prefix_for_parsing", None)
    if not npfp or n == 0:
        return nsn, fb
    hit, k = _prefix_ends(nsn, npfp)
    if not hit.any():
        return nsn, fb
    if getattr(meta, "national_prefix_transform_rule", None):
        return nsn, hit
    rest = _slice_each(nsn, k)
    gen = meta.general_desc.national_number_pattern  # type: ignore[attr-defined]
    keep = _full(nsn, gen) & ~_full(rest, gen)
    strip = hit & ~keep
    if check_length:
        lr = _length_result(meta, _lengths(rest))
        strip &= ~np.isin(lr, (TOO_SHORT, LOCAL_ONLY, INVALID_LENGTH))
    return pc.if_else(pa.array(strip), rest, nsn), fb


def _prefix_ends(nsn: pa.Array, pattern: str) -> tuple[np.ndarray, np.ndarray]:
    """Where ``re.match(pattern, number)`` matches, and where that match ends."""
    if len(nsn) < SMALL:
        rx = _python_re(pattern)
        ms = [rx.match(v) for v in nsn.to_pylist()]
        hit = np.array([m is not None for m in ms], dtype=bool)
        return hit, np.array([m.end() if m else 0 for m in ms], dtype=np.int64)
    got = pc.extract_regex(nsn, _checked("^(?P<p>" + _non_capturing(pattern) + ")"))
    hit = _mask(got.is_valid())
    k = pc.utf8_length(pc.struct_field(got, [0])).fill_null(0)
    return hit, np.where(hit, k.to_numpy(zero_copy_only=False), 0).astype(np.int64)


def _slice_each(strs: pa.Array, k: np.ndarray) -> pa.Array:
    """Each string without its first ``k[i]`` characters."""
    out = strs
    for w in np.unique(k[k > 0]).tolist():
        out = pc.if_else(pa.array(k == w), pc.utf8_slice_codeunits(strs, w), out)
    return out


def _valid(cc: int, nsn: pa.Array) -> np.ndarray:
    """``is_valid_number``: the region phonenumbers picks among those of ``cc``, and a
    number type of that region that the national number matches."""
    regions = COUNTRY_CODE_TO_REGION_CODE[cc]
    n = len(nsn)
    if len(regions) == 1:
        return _typed(_metadata(cc, regions[0]), nsn)
    out = np.zeros(n, dtype=bool)
    open_ = np.arange(n)  # no region picked yet
    for region in regions:
        meta = PhoneMetadata.metadata_for_region(region)
        if meta is None:
            continue
        if open_.size == 0:
            break
        sub = nsn.take(pa.array(open_))
        if meta.leading_digits is not None:
            claim = _prefix_match(sub, meta.leading_digits)
            picked = open_[claim]
            if picked.size:
                out[picked] = _typed(meta, nsn.take(pa.array(picked)))
        else:
            claim = _typed(meta, sub)
            out[open_[claim]] = True
        open_ = open_[~claim]
    return out


def _typed(meta: object, nsn: pa.Array) -> np.ndarray:
    """``_number_type_helper(nsn, meta) != UNKNOWN``: the general description, then one
    of the type descriptions (each tried on the numbers no earlier one matched)."""
    ln = _lengths(nsn)
    ok = np.zeros(len(nsn), dtype=bool)
    descs = [meta.fixed_line]  # type: ignore[attr-defined]
    if not getattr(meta, "same_mobile_and_fixed_line_pattern", False):
        descs.append(meta.mobile)  # type: ignore[attr-defined]
    descs += [getattr(meta, name) for name in _TYPES]
    cand = _matching(nsn, ln, np.arange(len(nsn)), meta.general_desc)  # type: ignore[attr-defined]
    for desc in descs:
        if cand.size == 0:
            break
        hit = _matching(nsn, ln, cand, desc)
        ok[hit] = True
        cand = cand[~ok[cand]]
    return ok


def _matching(nsn: pa.Array, ln: np.ndarray, pos: np.ndarray, desc: object) -> np.ndarray:
    """The positions ``pos`` whose number matches ``desc`` (``_is_number_matching_desc``:
    a possible length of the description, if it lists any, and a full match)."""
    if desc is None or not desc.national_number_pattern:  # type: ignore[attr-defined]
        return pos[:0]
    lengths = tuple(desc.possible_length or ())  # type: ignore[attr-defined]
    if lengths:
        pos = pos[_length_table(lengths)[ln[pos]]]
    if pos.size == 0:
        return pos
    sub = nsn if pos.size == len(nsn) else nsn.take(pa.array(pos))
    return pos[_full(sub, desc.national_number_pattern)]  # type: ignore[attr-defined]


def _possible(cc: int, nsn: pa.Array) -> np.ndarray:
    """``is_possible_number``: the length test in the calling code's main region."""
    lr = _length_result(_main_metadata(cc), _lengths(nsn))
    return np.isin(lr, (POSSIBLE, LOCAL_ONLY))


def _length_result(meta: object, ln: np.ndarray) -> np.ndarray:
    """``_test_number_length`` for the general description."""
    desc = meta.general_desc  # type: ignore[attr-defined]
    pl = list(desc.possible_length or ())
    if not pl:
        raise Undecided("no possible lengths")
    local = list(desc.possible_length_local_only or ())
    res = np.where(_length_table(tuple(pl[1:]))[ln], POSSIBLE, INVALID_LENGTH)
    res = np.where(pl[-1] < ln, TOO_LONG, res)
    res = np.where(pl[0] > ln, TOO_SHORT, res)
    res = np.where(pl[0] == ln, POSSIBLE, res)
    return np.where(_length_table(tuple(local))[ln], LOCAL_ONLY, res)


def _full(strs: pa.Array, pattern: str | None) -> np.ndarray:
    """Full matches of a metadata pattern: Python's ``re`` (phonenumbers' own engine) for
    a few values, RE2 over the array for many (compiling a pattern costs ~100 µs)."""
    if not pattern:
        return np.zeros(len(strs), dtype=bool)
    if len(strs) < SMALL:
        rx = _python_re(pattern)
        return np.array([rx.fullmatch(v) is not None for v in strs.to_pylist()], dtype=bool)
    return _mask(pc.match_substring_regex(strs, _checked("^(?:" + pattern + ")$")))


def _prefix_match(strs: pa.Array, pattern: str) -> np.ndarray:
    if len(strs) < SMALL:
        rx = _python_re(pattern)
        return np.array([rx.match(v) is not None for v in strs.to_pylist()], dtype=bool)
    return _mask(pc.match_substring_regex(strs, _checked("^(?:" + pattern + ")")))


@lru_cache(maxsize=4096)
def _length_table(lengths: tuple[int, ...]) -> np.ndarray:
    """``table[n]``: n is one of ``lengths`` (n up to the longest plain value)."""
    table = np.zeros(_MAX_CHARS + 1, dtype=bool)
    table[[x for x in lengths if 0 <= x <= _MAX_CHARS]] = True
    return table


@lru_cache(maxsize=4096)
def _python_re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@lru_cache(maxsize=4096)
def _checked(src: str) -> str:
    try:
        pc.match_substring_regex(pa.array(["0"]), src)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise Undecided(src) from None
    return src


def _non_capturing(src: str) -> str:
    """Groups made non-capturing (``extract_regex`` takes named groups only)."""
    out, i = [], 0
    while i < len(src):
        c = src[i]
        if c == "\\":
            out.append(src[i : i + 2])
            i += 2
            continue
        out.append("(?:" if c == "(" and src[i + 1 : i + 2] != "?" else c)
        i += 1
    return "".join(out)


@lru_cache(maxsize=1)
def _codes() -> pa.Array:
    """Every country calling code phonenumbers knows, as strings."""
    return pa.array(sorted(str(c) for c in COUNTRY_CODE_TO_REGION_CODE), type=pa.string())


@lru_cache(maxsize=512)
def _main_metadata(cc: int) -> object:
    return _metadata(cc, COUNTRY_CODE_TO_REGION_CODE[cc][0])


def _metadata(cc: int, region: str) -> object:
    meta = PhoneMetadata.metadata_for_region_or_calling_code(cc, region)
    if meta is None:
        raise Undecided(region)
    return meta


def _lengths(strs: pa.Array) -> np.ndarray:
    return pc.utf8_length(strs).to_numpy(zero_copy_only=False).astype(np.int64)


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
