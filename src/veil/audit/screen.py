"""The text of audit events, screened for personal data before the events are written.

An event holds no direct personal data: its subjects are pseudonyms (checked by shape in
:mod:`veil.audit.event`). Its other text can still carry what a person typed or a path held:
``--actor alice@example.com``, ``--reason "asked by Maria Schneider"``, an IBAN in ``details``.
:func:`screen_events` runs that text through Veil's own span finder (:mod:`veil.detect`) and
refuses the whole batch on the first value holding personal data, naming the field and the kind,
never the value. :meth:`veil.audit.log.AuditLog.append` calls it, so every writer (CLI, service,
Python callers) passes here; events read back from the store are not screened again.

Screened: the fields a person's text or a path can reach: ``actor``, ``purpose``, the keys and
values of ``digests``, the keys and the string values of ``details`` (reasons, notes, titles,
names of files). Not screened: the vocabulary Veil's code and the policy's legal-basis list
supply (``action``, ``legal_basis``, ``outcome``, data categories, the keys of ``counts``),
numbers (a card number given as an int passes) and ``subjects`` (pseudonyms, checked by
shape).

Appends run in the thousands (runs, consent imports) and a finder call costs milliseconds, so
the finder sees only what could hold something: values already seen clean are skipped (most
repeat: actor, purpose, keys), so are whole digests and ids Veil makes (:func:`machine_token`)
and bare key ids and counters (:func:`bare_number`); a value none of :data:`SUSPECT_RULES`
fires on is clean; the values of a batch that remain go to the finder in one columnar call.
The rules are meant as a superset of what the finder reports (tests check it on generated
text); they are not a proof.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from veil.errors import AuditError

if TYPE_CHECKING:
    from veil.audit.event import AuditEvent
    from veil.detect.text import SpanFinder

__all__ = ["SUSPECT_RULES", "FieldText", "SuspectRule", "bare_number", "free_text", "machine_token",
           "screen_events", "screen_text", "suspect"]

ADVICE = "name people by role or pseudonym"
MIN_SCORE = 0.5  # the finder's own default: the screen refuses what discovery reports


@dataclass(frozen=True)
class SuspectRule:
    """A cheap sign that a value could hold what the finder reports (``catches``): a regex
    (``pattern``) or, where a string method is faster, a ``test``."""

    name: str
    catches: str
    pattern: str | None = None
    test: Callable[[str], bool] | None = None


SUSPECT_RULES: tuple[SuspectRule, ...] = (
    SuspectRule("at sign", "e-mail addresses", test=lambda v: "@" in v),
    SuspectRule("capital letter", "names of people, streets and towns; IBANs, VAT, passport and "
                "national ids with letters; wallet addresses in base58",
                test=lambda v: v != v.lower()),
    SuspectRule("four digits", "cards, phone numbers, account and national ids, dates of birth, "
                "postcodes, IPv4 addresses", pattern=r"\d(?:[\s./()+-]{0,2}\d){3}"),
    SuspectRule("colon groups", "IPv6 and MAC addresses", pattern=r":[0-9a-f]{0,4}:"),
    SuspectRule("wallet prefix", "bitcoin (bech32) and ethereum addresses in lower case",
                pattern=r"bc1|0x[0-9a-f]{40}"),
    SuspectRule("payee phrase", "names in lower case after a payee phrase (\"transfer to john "
                "smith\")", test=lambda v: _after_payee(v)),
)
"""The prefilter: a value none of them fires on is not sent to the finder."""

def _after_payee(value: str) -> bool:
    from veil.detect.proper_nouns import lower_case_after_payee  # the finder's own pattern

    return lower_case_after_payee(value)


_TESTS = tuple(r.test for r in SUSPECT_RULES if r.test is not None)
_PATTERNS = re.compile("|".join(f"(?:{r.pattern})" for r in SUSPECT_RULES if r.pattern))

_HEX = "0123456789abcdef"
_PREFIX = "abcdefghijklmnopqrstuvwxyz0123456789._-"
_HASH_LENGTHS = frozenset((32, 40, 64, 96, 128))


_KEY_IDS = re.compile(
    r"(?:env:[A-Z_][A-Z0-9_]{0,63}|file|static):[0-9a-f]{16}"  # a KEK's id and fingerprint
    r"|[a-z][a-z0-9_-]{0,31}\.[0-9a-f]{32}")  # a keyset named after a run (``output.<run id>``)


def machine_token(value: str) -> bool:
    """A whole value that is a digest or an id Veil makes: lower-case hex of a hash's length
    (32, 40, 64, 96 or 128 digits) or a UUID, after an optional ``name:`` prefix
    (``sha256:<hex>``, a run id); a KEK id (``env:VEIL_KEK:<16 hex>``, ``file:<16 hex>``) or a
    run's keyset name (``output.<run id>``). No IBAN, card or phone number has that shape."""
    if _KEY_IDS.fullmatch(value):  # 16 digits alone could be a card: those go to the finder
        return not value[-16:].isdigit()
    head, colon, body = value.rpartition(":")
    if colon and (not head or len(head) > 32 or head.strip(_PREFIX)):
        return False
    n = len(body)
    if n in _HASH_LENGTHS:
        return not body.strip(_HEX)
    return (n == 36 and body[8] == body[13] == body[18] == body[23] == "-"
            and not body.replace("-", "").strip(_HEX))


def bare_number(value: str) -> bool:
    """A value of 1 to 11 digits alone, not in international dialling form (``00...``): a key
    id or a counter. Too short for a card, and the national ids and phone numbers of that length
    are reported only with context words, which a bare number has none of."""
    return len(value) <= 11 and value.isdigit() and value.isascii() and not value.startswith("00")


def _fires(value: str) -> bool:
    return any(t(value) for t in _TESTS) or _PATTERNS.search(value) is not None


def suspect(value: str) -> bool:
    """Whether the finder must see ``value`` (a rule fires and it is no machine token)."""
    return not machine_token(value) and not bare_number(value) and _fires(value)


@dataclass(frozen=True)
class FieldText:
    """One screened string: which event of the batch, and the field as the error names it."""

    event: int
    field: str
    value: str
    is_key: bool = False


def free_text(event: AuditEvent, index: int = 0) -> Iterator[FieldText]:
    """Every screened string of ``event`` (a mapping's keys before their values)."""
    for name in ("actor", "purpose"):
        yield FieldText(index, name, getattr(event, name))
    for k, v in event.digests.items():
        yield FieldText(index, "digests", k, True)
        yield FieldText(index, f"digests.{k}", v)
    for k, d in event.details.items():
        yield FieldText(index, "details", k, True)
        if isinstance(d, str):
            yield FieldText(index, f"details.{k}", d)


def _strings(event: AuditEvent, out: list[str]) -> None:
    """The values of :func:`free_text`, without the bookkeeping (the hot path)."""
    out += (event.actor, event.purpose)
    if event.digests:
        out += event.digests
        out += event.digests.values()
    out += event.details
    out += [v for v in event.details.values() if type(v) is str]


_CLEAN: set[str] = set()  # values seen clean (by the rules or the finder); most repeat
_CLEAN_MAX = 100_000


def screen_events(events: Sequence[AuditEvent]) -> None:
    """Refuse the batch (AuditError, exit 8) if a screened value holds personal data; the error
    names the field and the kind, never the value. Nothing is written then."""
    values: list[str] = []
    for e in events:
        _strings(e, values)
    flagged = _flagged(values)
    if flagged:
        first = next(t for i, e in enumerate(events) for t in free_text(e, i)
                     if t.value in flagged)
        raise _refusal(first, flagged[first.value], len(events))


def screen_text(fields: Mapping[str, str | Iterable[str]]) -> None:
    """The same refusal for text a later audit event will carry, checked before anything is
    stored (e.g. ``{"actor": collector}`` before a ledger write): field name -> value(s)."""
    texts = [FieldText(0, name, v) for name, vs in fields.items()
             for v in ([vs] if isinstance(vs, str) else vs)]
    flagged = _flagged(t.value for t in texts)
    if flagged:
        first = next(t for t in texts if t.value in flagged)
        raise _refusal(first, flagged[first.value], 1)


#: Kinds the finder reports that identify no one on their own and that audit events carry by
#: design (times, endpoints, places of a breach): a date of birth, a name or an id still refuses.
NOT_ON_THEIR_OWN = frozenset({"date", "url", "city"})


def _flagged(values: Iterable[str]) -> dict[str, list[str]]:
    """value -> the kinds of personal data the finder reports in it, for the values that hold
    some (one finder call for all the values the rules cannot clear)."""
    fresh = set(values)
    fresh -= _CLEAN
    if len(_CLEAN) > _CLEAN_MAX:
        _CLEAN.clear()
    doubtful = []
    for v in _sift(fresh):
        if machine_token(v) or bare_number(v):
            continue  # unique by nature: not worth remembering
        if _fires(v):
            doubtful.append(v)
        else:
            _CLEAN.add(v)
    flagged: dict[str, list[str]] = {}
    if doubtful:
        for v, spans in zip(doubtful, _finder().find(doubtful), strict=True):
            kinds = sorted({s.type for s in spans} - NOT_ON_THEIR_OWN)
            if kinds:
                flagged[v] = kinds
            else:
                _CLEAN.add(v)
    return flagged


# The batch's values in a few Arrow regex passes (RE2), before any per-value Python:
# _CLEARED clears no value that `machine_token` or `bare_number` would not clear (a subset: the
# hash, UUID and key-id shapes, ASCII only); _MAYBE finds every value a rule could fire on (a
# superset of `_fires`: any non-ASCII character, a capital, an @, a space, which every payee
# phrase needs, and the digit, colon and wallet patterns with a wider set of separators). Only
# values _MAYBE finds go through the rules one at a time; the others are clean, as the rules
# would find them. Tested against the rules on generated values (tests/audit).
_HEXES = "|".join(f"[0-9a-f]{{{n}}}" for n in sorted(_HASH_LENGTHS))
_CLEARED = (
    r"^(?:(?:[a-z0-9._-]{1,32}:)?(?:" + _HEXES + r"|[0-9a-f-]{8}-[0-9a-f-]{4}-[0-9a-f-]{4}-"
    r"[0-9a-f-]{4}-[0-9a-f-]{12})|[1-9][0-9]{0,10}|0[1-9][0-9]{0,9}|0)$"
)
_CLEARED_KEY = "^(?:" + _KEY_IDS.pattern + ")$"  # cleared unless its last 16 are all digits
_MAYBE = (r"[^\x00-\x7f]|[A-Z@ ]|[0-9](?:[\t\n\x0b\x0c\r\x1c-\x1f ./()+-]{0,2}[0-9]){3}"
          r"|:[0-9a-f]{0,4}:|bc1|0x[0-9a-f]{40}")
_SIFT_MIN = 64  # fewer values: the rules one at a time cost less than the Arrow calls


def _sift(values: set[str]) -> Iterable[str]:
    """The values the rules must look at one at a time (see _CLEARED and _MAYBE)."""
    if len(values) < _SIFT_MIN:
        return values
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = pa.array(list(values), pa.string())
    key = pc.and_not(pc.match_substring_regex(arr, _CLEARED_KEY),
                     pc.match_substring_regex(arr, "[0-9]{16}$"))
    cleared = pc.or_(pc.match_substring_regex(arr, _CLEARED), key)
    keep = pc.and_not(pc.match_substring_regex(arr, _MAYBE), cleared)
    return arr.filter(keep).to_pylist()


def _refusal(t: FieldText, kinds: list[str], batch: int) -> AuditError:
    where = f" (event {t.event + 1} of {batch})" if batch > 1 else ""
    what = ", ".join(kinds)
    if t.is_key:
        return AuditError(f"audit event field '{t.field}'{where} has a key that holds personal "
                          f"data ({what}): {ADVICE}")
    return AuditError(f"audit event field '{t.field}'{where} holds personal data ({what}): "
                      f"{ADVICE}")


_FINDER: list[SpanFinder] = []
_FINDER_LOCK = threading.Lock()


def _finder() -> SpanFinder:
    """The shared span finder, built on first need (importing it costs ~0.2 s and its first call
    ~0.4 s; an append whose values all pass the rules pays neither)."""
    if not _FINDER:
        with _FINDER_LOCK:
            if not _FINDER:
                from veil.detect.text import default_finder

                _FINDER.append(default_finder(MIN_SCORE))
    return _FINDER[0]
