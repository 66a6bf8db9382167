"""Vectorized twins of the column validators that cost most per value: payment cards (IIN
ranges + Luhn), IBANs (BBAN structure + ISO 7064 mod 97-10), IPv4 addresses, e-mail
addresses and phone numbers (:mod:`.phone_vec`), each over a whole Arrow array of
candidates at once (``pyarrow.compute`` for the shapes, numpy for the check digits); and
street addresses, of which the values no address can be in are set aside with RE2.

Each twin answers exactly what the recognizer's own validator would (tests compare them on
python-stdnum's conformance cases and on generated strings). A twin only decides the values
of a plain shape (ASCII, the characters the pattern allows); any other value, and any value
whose answer depends on a check the twin does not make (Norway's national IBAN check), goes to the
recognizer's own validator, one value at a time: ``scores`` is therefore always exact.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import iban as _stdnum_iban

from veil.detect.recognizers.banking import validate_iban
from veil.detect.recognizers.cards import IIN_RANGES, validate_card
from veil.detect.recognizers.contact import validate_email, validate_phone
from veil.detect.recognizers.location import STREET_PREFILTER, contains_street_address
from veil.detect.recognizers.network import validate_ipv4
from veil.detect.registry import Recognizer
from veil.discovery.phone_vec import phone_twin

# A twin gives per value: 0.0 rejected, 1.0 accepted (a bool validator: the recognizer's
# score), another positive number (the validator's own score), or NaN: ask the validator.
Twin = Callable[[pa.Array], np.ndarray]

_DOUBLE = np.array([0, 2, 4, 6, 8, 1, 3, 5, 7, 9], dtype=np.int64)  # Luhn: 2d, digits summed


def scores(rec: Recognizer, values: pa.Array) -> np.ndarray:
    """``rec.score_value(v)`` for every value of ``values`` (strings, no nulls): vectorized
    where ``rec``'s validator has a twin, one value at a time where it has none."""
    twin = twin_of(rec)
    n = len(values)
    if twin is None or n == 0:
        out = np.full(n, np.nan)
    else:
        raw = twin(_plain_strings(values))
        out = np.where(raw == 1.0, rec.score, raw) if _BOOL[rec.validator] else raw
    todo = np.flatnonzero(np.isnan(out))
    if todo.size:
        strs = values.take(pa.array(todo)).to_pylist()
        out[todo] = [rec.score_value(v) for v in strs]
    return out


def twin_of(rec: Recognizer) -> Twin | None:
    """The vectorized twin of ``rec``'s validator, if it has one (a pattern with a ``value``
    group hands its validator part of the value: no twin)."""
    if rec.validator is None or rec.has_value_group:
        return None
    return _TWINS.get(rec.validator)


def _plain_strings(values: pa.Array) -> pa.Array:
    if values.type != pa.string():
        values = values.cast(pa.string())
    return values


def _mask(arr: pa.Array) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def _fixed_matrix(strs: pa.Array, width: int, fill: str) -> np.ndarray:
    """The strings right-padded with ``fill`` to ``width`` ASCII bytes, as an (n, width)
    uint8 matrix (strings longer than ``width`` must have been left out)."""
    padded = pc.utf8_rpad(strs, width, fill).cast(pa.large_string())
    n = len(padded)
    if n == 0:
        return np.zeros((0, width), dtype=np.uint8)
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int64)[padded.offset :]
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8)
    start = int(offsets[0])
    return data[start : start + n * width].reshape(n, width)


# -- payment cards -----------------------------------------------------------------------

_CARD_PLAIN = r"^[0-9 .\-\t\n\r\f\v]*$"


def card_twin(values: pa.Array) -> np.ndarray:
    """``cards.validate_card``: 12-19 digits once spaces, dots and dashes are left out, a
    known issuer range and length, the Luhn check; 0.45 for a plain run of 12-15 digits that
    is not an Amex number, else 0.8."""
    n = len(values)
    out = np.full(n, np.nan)
    plain = _mask(pc.match_substring_regex(values, _CARD_PLAIN))
    idx = np.flatnonzero(plain)
    if idx.size == 0:
        return out
    vals = values.take(pa.array(idx))
    digits = pc.replace_substring_regex(vals, r"[^0-9]", "")
    lens = pc.utf8_length(digits).to_numpy(zero_copy_only=False).astype(np.int64)
    stripped = pc.utf8_length(pc.ascii_trim_whitespace(vals)).to_numpy(zero_copy_only=False)
    res = np.zeros(idx.size)
    sized = np.flatnonzero((lens >= 12) & (lens <= 19))
    if sized.size:
        mat = _fixed_matrix(digits.take(pa.array(sized)), 19, "0").astype(np.int64) - 48
        ln = lens[sized]
        ok = _luhn(mat, ln) & _known_issuer(mat, ln)
        short = (ln < 16) & (stripped[sized] == ln) & ~np.isin(mat[:, 0] * 10 + mat[:, 1], (34, 37))
        res[sized] = np.where(ok, np.where(short, 0.45, 0.8), 0.0)
    out[idx] = res
    return out


def _luhn(mat: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Luhn over left-aligned digit rows of the given lengths (padding is zeros)."""
    cols = np.arange(mat.shape[1])
    from_right = lens[:, None] - 1 - cols[None, :]
    doubled = (from_right >= 0) & (from_right % 2 == 1)
    total = np.where(doubled, _DOUBLE[mat], mat).sum(axis=1)
    return total % 10 == 0


def _known_issuer(mat: np.ndarray, lens: np.ndarray) -> np.ndarray:
    prefix = {1: mat[:, 0]}
    for w in (2, 3, 4):
        prefix[w] = prefix[w - 1] * 10 + mat[:, w - 1]
    fits = np.zeros(len(lens), dtype=bool)
    for r in IIN_RANGES:
        p = prefix[len(str(r.low))]
        fits |= np.isin(lens, r.lengths) & (p >= r.low) & (p <= r.high)
    return fits


# -- IBAN --------------------------------------------------------------------------------

_IBAN_PLAIN = r"^[A-Za-z0-9 .\-\t\n\r\f\v]*$"


@lru_cache(maxsize=512)
def _iban_country(cc: str) -> tuple[str | None, bool] | None:
    """(RE2 source of the country's BBAN structure or None, has a national check) from
    python-stdnum's IBAN registry, as ``banking.validate_iban`` reads it; None when
    stdnum's internals are not as expected (the values then go to the validator)."""
    try:
        info = _stdnum_iban._ibandb.info(cc)
        props = info[0][1]
        struct = _stdnum_iban._struct_to_re(props["bban"]).pattern + "$" if props else None
        national = _stdnum_iban._get_cc_module(cc) is not None
    except (AttributeError, KeyError, IndexError, TypeError):
        return None
    if struct is not None:
        try:
            re.compile(struct)
            pc.match_substring_regex(pa.array(["X"]), struct)
        except (re.error, pa.ArrowInvalid):
            return None
    return struct, national


def iban_twin(values: pa.Array) -> np.ndarray:
    """``banking.validate_iban``: separators left out, upper case, country code and check
    digits, the country's BBAN structure and ISO 7064 mod 97-10, and the national check
    digits of Spain and Belgium (python-stdnum's es.iban and be.iban); numbers of another
    country with its own national check (NO) that pass all that go to the validator."""
    n = len(values)
    out = np.full(n, np.nan)
    idx = np.flatnonzero(_mask(pc.match_substring_regex(values, _IBAN_PLAIN)))
    if idx.size == 0:
        return out
    c = pc.ascii_upper(pc.replace_substring_regex(values.take(pa.array(idx)), r"[^A-Za-z0-9]", ""))
    lens = pc.utf8_length(c).to_numpy(zero_copy_only=False).astype(np.int64)
    res = np.zeros(idx.size)
    shaped = (lens >= 5) & _mask(pc.match_substring_regex(c, r"^[A-Z]{2}[0-9]{2}"))
    cc = pc.utf8_slice_codeunits(c, 0, 2)
    rest = pc.utf8_slice_codeunits(c, 4)
    for code in pc.unique(cc.filter(pa.array(shaped))).to_pylist():
        rows = shaped & _mask(pc.equal(cc, code))
        info = _iban_country(code)
        if info is None:
            res[rows] = np.nan
            continue
        struct, national = info
        if struct is None:
            continue
        good = rows & _mask(pc.match_substring_regex(rest, struct))
        sel = np.flatnonzero(good)
        if sel.size == 0:
            continue
        moved = pc.binary_join_element_wise(
            rest.take(pa.array(sel)), pc.utf8_slice_codeunits(c.take(pa.array(sel)), 0, 4), ""
        )
        ok = _mod97(moved, lens[sel]) == 1
        if not national:
            res[sel] = np.where(ok, 1.0, 0.0)
            continue
        check = _NATIONAL.get(code)  # the national checks it has no twin of: the validator
        res[sel] = np.where(ok, check(c.take(pa.array(sel))) if check else np.nan, 0.0)
    out[idx] = res
    return out


def _mod97(strs: pa.Array, lens: np.ndarray) -> np.ndarray:
    """ISO 7064 mod 97-10 of upper-case alphanumeric strings, letters as 10..35."""
    width = int(lens.max())
    mat = _fixed_matrix(strs, width, "0").astype(np.int64)
    letter = mat >= 65
    val = np.where(letter, mat - 55, mat - 48)
    mult = np.where(letter, 100, 10)
    r = np.zeros(len(lens), dtype=np.int64)
    for col in range(width):
        r = np.where(col < lens, (r * mult[:, col] + val[:, col]) % 97, r)
    return r


# -- national IBAN checks (python-stdnum's es.iban and be.iban) ---------------------------

_ES_W1 = np.array([2**i for i in range(2, 10)], dtype=np.int64)  # '00' + the first 8 digits
_ES_W2 = np.array([2**i for i in range(10)], dtype=np.int64)


def _es_national(c: pa.Array) -> np.ndarray:
    """``stdnum.es.iban``: the two check digits of the CCC (mod 11 of bank+branch, and of
    the account number) on IBANs that passed the BBAN structure (20 digits)."""
    ccc = _fixed_matrix(pc.utf8_slice_codeunits(c, 4), 20, "0").astype(np.int64) - 48
    d = []
    for part, w in ((ccc[:, :8], _ES_W1), (ccc[:, 10:], _ES_W2)):
        check = (part * w).sum(axis=1) % 11
        d.append(np.where(check < 2, check, 11 - check))
    return ((ccc[:, 8] == d[0]) & (ccc[:, 9] == d[1])).astype(float)


@lru_cache(maxsize=1024)
def _be_bank_known(code: str) -> bool:
    from stdnum.be import iban as be_iban

    return bool(be_iban.info(f"BE00{code}000000000"))


def _be_national(c: pa.Array) -> np.ndarray:
    """``stdnum.be.iban``: the account's own mod 97 check digits, a bank code of the
    registry (looked up once per code) on IBANs that passed the BBAN structure."""
    mat = _fixed_matrix(pc.utf8_slice_codeunits(c, 4), 12, "0").astype(np.int64) - 48
    body = np.zeros(len(c), dtype=np.int64)
    for col in range(10):
        body = body * 10 + mat[:, col]
    check = body % 97
    check = np.where(check == 0, 97, check)
    ok = check == mat[:, 10] * 10 + mat[:, 11]
    codes = pc.utf8_slice_codeunits(c, 4, 7).to_pylist()
    known = np.array([_be_bank_known(x) for x in codes], dtype=bool)
    return (ok & known).astype(float)


_NATIONAL: dict[str, Callable[[pa.Array], np.ndarray]] = {"ES": _es_national, "BE": _be_national}


# -- IPv4 and e-mail ---------------------------------------------------------------------

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IPV4 = rf"^(?:{_OCTET}\.){{3}}{_OCTET}$"


def ipv4_twin(values: pa.Array) -> np.ndarray:
    """``network.validate_ipv4`` for values of digits and dots only (four octets 0-255, no
    leading zeros, as ``ipaddress`` wants); others (CIDR, spaces) go to the validator."""
    plain = _mask(pc.match_substring_regex(values, r"^[0-9.]*$"))
    ok = _mask(pc.match_substring_regex(values, _IPV4))
    return np.where(plain, ok.astype(float), np.nan)


_LOCAL = r"[^@.](?:[^@]{0,62}[^@.])?"
_LABEL = r"[^@.\-](?:[^@.]{0,61}[^@.\-])?"
_EMAIL = rf"^{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"


def email_twin(values: pa.Array) -> np.ndarray:
    """``contact.validate_email`` for printable ASCII values without spaces (nothing to
    strip): one @, local part 1-64 characters without a dot at the ends or a doubled dot,
    domain labels 1-63 characters not starting or ending with a dash, an alphabetic
    top-level domain of 2+ letters, 254 characters at most; others go to the validator."""
    plain = _mask(pc.match_substring_regex(values, r"^[\x21-\x7e]*$"))
    ok = (
        _mask(pc.match_substring_regex(values, _EMAIL))
        & ~_mask(pc.match_substring_regex(values, r"\.\.[^@]*@"))
        & (pc.utf8_length(values).to_numpy(zero_copy_only=False) <= 254)
    )
    return np.where(plain, ok.astype(float), np.nan)


# -- street addresses --------------------------------------------------------------------

_PRINTABLE = r"^[\x20-\x7e\t]*$"


def street_twin(values: pa.Array) -> np.ndarray:
    """``location.contains_street_address`` (its Python pattern searched in the first 300
    characters): 0.0 where the RE2 prefilter the text scanner uses for it (a superset of the
    pattern, see ``Recognizer.prefilter``) finds nothing in those characters. Only for
    printable ASCII values (Python's ``\\d``, ``\\w``, ``\\s`` also take other characters,
    RE2's do not); those and every prefilter hit go to the validator."""
    head = pc.utf8_slice_codeunits(values, 0, 300)
    plain = _mask(pc.match_substring_regex(head, _PRINTABLE))
    hit = _mask(pc.match_substring_regex(head, STREET_PREFILTER))
    return np.where(plain & ~hit, 0.0, np.nan)


_TWINS: dict[object, Twin] = {
    validate_card: card_twin,
    validate_iban: iban_twin,
    validate_ipv4: ipv4_twin,
    validate_email: email_twin,
    validate_phone: phone_twin,
    contains_street_address: street_twin,
}
_BOOL: dict[object, bool] = {
    validate_card: False,
    validate_iban: True,
    validate_ipv4: True,
    validate_email: True,
    validate_phone: False,
    contains_street_address: True,
}
