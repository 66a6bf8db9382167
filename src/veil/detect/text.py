"""Personal data inside free text: ``find_spans(texts) -> list[list[Span]]``.

How it stays fast without a language model:

1. Recognizers sharing one regex form a group. For each group, pyarrow's RE2 runs a cheap
   prefilter over the whole Arrow array (the recognizer's prefilter, or its context words when
   context is required), so the Python regex only visits texts that can hold a match.
2. The selected texts are joined with NUL separators and scanned by one ``finditer``; match
   offsets map back to (text, offset) by bisection.
3. Validators run only on candidates, each distinct candidate once (a per-finder cache).
4. Per text, overlapping candidates are resolved: validated by a checksum first, then longer,
   then higher score. A candidate that has the exact shape of a checksummed identifier (card,
   IBAN) but fails its checksum vetoes every other reading of those characters, so a number
   whose checksum fails is never reported under any type.

Before matching, texts are normalized (:mod:`.normalize`: NFKC, zero-width characters
removed, every kind of space a plain one) and spans map back to the caller's offsets. Long
texts are scanned in overlapping pieces (:mod:`.pieces`): time is linear in the length and
nothing is cut off. A limit (``max_chars``), where a caller sets one, is reported
(``TextScan.truncated``, and a :class:`TextTruncated` warning from :func:`find_spans`).
A few short texts skip pyarrow: compiled Python regexes prefilter them (a single short text
costs a fraction of a millisecond); many texts get one RE2 pass per group over the array.
For one text, a digit count rules out every group whose regex needs more digits
(:mod:`.regex_digits`), and one look-up of the text's words picks the context-only groups
whose context words may be there; the others are never visited.
"""

from __future__ import annotations

import gc
import re
import threading
import warnings
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from veil.detect.normalize import normalize
from veil.detect.pieces import needs_digit
from veil.detect.pieces import slabs as _slabs
from veil.detect.proper_nouns import ProperNounScanner
from veil.detect.recognizers import persons
from veil.detect.recognizers.lexicon import CITY_MIN_POPULATION
from veil.detect.regex_digits import digit_counts, min_digits
from veil.detect.registry import Recognizer, Registry, default_registry

MAX_TEXT_CHARS: int | None = None
"""No limit by default: long texts are scanned in overlapping pieces (linear time, bounded
memory). A limit, where a caller sets one, is reported (``TextScan.truncated``)."""
SMALL_TEXTS = 16
SMALL_CHARS = 16_384
FEW_ROWS = 48  # fewer texts than this: a compiled Python prefilter, not an RE2 compilation
FEW_CTX_TEXTS = 1_024  # texts with context words: looked up word by word up to this many
CONTEXT_BONUS = 0.3
_RANK = {"checksum": 3, "library": 2, "format": 1, "context": 1}
_SEP = "\x00"
_PROPER = frozenset(("person", "city"))


@dataclass(frozen=True, slots=True)
class Span:
    """A piece of personal data in a text: ``text[start:end]`` is of ``type``."""

    start: int
    end: int
    type: str
    score: float
    recognizer: str = ""

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class TextScan:
    """Spans per text, and what could not be scanned as given."""

    spans: list[list[Span]]
    truncated: list[int] = field(default_factory=list)  # scanned up to max_chars only
    replaced_bytes: list[int] = field(default_factory=list)  # not valid UTF-8: decoded with U+FFFD
    max_chars: int | None = MAX_TEXT_CHARS

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for spans in self.spans:
            for s in spans:
                out[s.type] = out.get(s.type, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def _ctx_regex(words: Sequence[str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alts = []
    for w in sorted(set(words), key=len, reverse=True):
        esc = re.escape(w)
        if len(w) <= 3 and w[-1:].isalnum():
            esc += r"(?!\w)"
        alts.append(esc)
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + ")")


def _re2_words(words: Iterable[str]) -> str:
    """RE2 alternation of context words, case-insensitive, at a word start where RE2 can
    tell (ASCII)."""
    esc = []
    for w in sorted(set(words), key=len, reverse=True):
        body = "".join(
            "\\" + ch if ch.isascii() and not ch.isalnum() and ch != " " else ch for ch in w
        )
        esc.append(("\\b" + body) if w[:1].isascii() and w[:1].isalnum() else body)
    return "(?i:" + "|".join(esc) + ")"


class _Group:
    """Recognizers that share one Python regex."""

    def __init__(self, recs: list[Recognizer]) -> None:
        self.recs = recs
        self.regex = recs[0].regex
        names = {r.name for r in recs}
        self.is_person = recs[0].pattern == persons.RUN_PATTERN and bool(names & _PROPER)
        self.proper: ProperNounScanner | None = None
        self.ctx = [_ctx_regex(r.context) for r in recs]
        self.ctx_not = [_ctx_regex(r.context_not) for r in recs]
        self.window = max(r.context_window for r in recs)
        # groups whose prefilter is just their context words share one RE2 pass
        self.ctx_words: frozenset[str] | None = None
        if all(r.context_required and r.context and r.context_fn is None for r in recs):
            self.ctx_words = frozenset(w for r in recs for w in r.context)
        # the first word of each context phrase, for the small-input prefilter; phrases whose
        # first word is a single letter ("d.o.b", "b.") are looked for as they are
        firsts = [(w.lower(), _HEAD.search(w.lower())) for w in self.ctx_words or ()]
        self.ctx_first = frozenset(
            m.group() for _w, m in firsts if m and 1 < len(m.group()) <= _HEAD_MAX
        )
        self.ctx_short = tuple(
            w for w, m in firsts if not m or not 1 < len(m.group()) <= _HEAD_MAX
        )
        pre: list[str] = []
        for r in recs:
            p = _prefilter(r)
            if p is None:
                pre = []
                break
            pre.append(p)
        self.prefilter = "|".join(f"(?:{p})" for p in dict.fromkeys(pre)) if pre else None
        self.py_prefilter = _py_regex(self.prefilter) if self.prefilter else None
        self.needs_digit = all(needs_digit(r.pattern, r.flags) for r in recs)
        # no match of the group's regex (nor of its prefilter) holds fewer digits than this
        self.min_digits = 0 if self.is_person else self._min_digits()
        self.pos = 0  # index in the finder's group order
        gates = [r.gate for r in recs]
        self.gate = gates[0] if len(gates) == 1 else None

    def _min_digits(self) -> int:
        bound = min(min_digits(r.pattern, r.flags) for r in self.recs)
        if self.py_prefilter is not None and self.ctx_words is None:  # the prefilter gates too
            bound = max(bound, min_digits(self.py_prefilter.pattern))
        return bound

    def ctx_in(self, text: str, heads: set[str]) -> bool:
        """A context phrase of this group may be in ``text`` (a superset test)."""
        if not self.ctx_first.isdisjoint(heads):
            return True
        if self.ctx_short:
            low = text.lower()
            return any(w in low for w in self.ctx_short)
        return False


def _py_regex(re2: str) -> re.Pattern[str] | None:
    """A Python twin of an RE2 prefilter (Unicode classes widened to letters), or None."""
    src = re2.replace("\\p{Lu}", "[^\\W\\d_]").replace("\\p{L}", "[^\\W\\d_]")
    try:
        return re.compile(src)
    except re.error:
        return None


_HEAD = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_HEAD_MAX = 24


def _word_heads(text: str) -> set[str]:
    """Every prefix of every word of ``text``, lower case: a context phrase can only be there
    when the first word of the phrase is one of them (context words match at a word start)."""
    out: set[str] = set()
    for w in _HEAD.findall(text.lower()):
        for k in range(1, min(len(w), _HEAD_MAX) + 1):
            out.add(w[:k])
    return out


def _np(mask: pa.Array) -> np.ndarray:
    return mask.to_numpy(zero_copy_only=False)


_EMPTY = np.zeros(0, dtype=np.int64)
_ONE = np.zeros(1, dtype=np.int64)  # the one text of a single-text call


def _prefilter(rec: Recognizer) -> str | None:
    if rec.type == "person":
        return None
    if rec.context_required and rec.context and rec.context_fn is None:
        return _re2_words(rec.context)
    if rec.prefilter:
        return rec.prefilter
    if rec.value_pattern:
        return rec.value_pattern
    return None


def _to_texts(texts: Any) -> tuple[list[str], list[int]]:
    """Python strings from an Arrow array / chunked array / sequence; bytes that are not
    valid UTF-8 are decoded with replacement characters and reported."""
    replaced: list[int] = []
    if isinstance(texts, (pa.Array, pa.ChunkedArray)):
        typ = texts.type
        if pa.types.is_dictionary(typ):
            texts = (
                texts.cast(typ.value_type)
                if isinstance(texts, pa.Array)
                else pc.cast(texts, typ.value_type)
            )
            typ = texts.type
        if (
            pa.types.is_string(typ)
            or pa.types.is_large_string(typ)
            or str(typ) == "string_view"
            or pa.types.is_binary(typ)
            or pa.types.is_large_binary(typ)
            or str(typ) == "binary_view"
        ):
            values = texts.to_pylist()
        elif pa.types.is_null(typ):
            values = [None] * len(texts)
        else:
            values = pc.cast(texts, pa.string()).to_pylist()
    else:
        values = list(texts)
    out: list[str] = []
    for i, v in enumerate(values):
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        elif isinstance(v, (bytes, bytearray, memoryview)):
            b = bytes(v)
            try:
                out.append(b.decode("utf-8"))
            except UnicodeDecodeError:
                out.append(b.decode("utf-8", errors="replace"))
                replaced.append(i)
        else:
            out.append(str(v))
    return out, replaced


MEMO_TEXTS = 32_768
MEMO_CHARS = 256


class _Memo:
    """Spans of texts already scanned. A text's spans depend on the text alone (each text's
    candidates are resolved apart), so a batch scans each distinct text once, and a short text
    seen in an earlier batch ("ATM withdrawal", "Rent June") is not scanned again. Bounded:
    at most :data:`MEMO_TEXTS` texts of at most :data:`MEMO_CHARS` characters (cleared when
    full, like the validation cache)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[Span, ...]] = {}

    def spans(
        self, values: list[str], scan: Callable[[list[str]], list[list[Span]]]
    ) -> list[list[Span]]:
        seen = self.seen
        out: list[list[Span]] = [[]] * len(values)
        pending: dict[str, list[int]] = {}
        for i, t in enumerate(values):
            got = seen.get(t)
            if got is not None:
                out[i] = list(got)
            elif (rows := pending.get(t)) is None:
                pending[t] = [i]
            else:
                rows.append(i)
        if not pending:
            return out
        texts = list(pending)
        if len(seen) + len(texts) > MEMO_TEXTS:
            seen.clear()
        for t, found, rows in zip(texts, scan(texts), pending.values(), strict=True):
            if len(t) <= MEMO_CHARS and len(seen) < MEMO_TEXTS:
                seen[t] = tuple(found)
            out[rows[0]] = found
            for i in rows[1:]:
                out[i] = list(found)
        return out


class SpanFinder:
    """Compiled span finder for one registry; reuse it across calls (it caches validations)."""

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        types: Iterable[str] | None = None,
        min_score: float = 0.5,
        max_chars: int | None = MAX_TEXT_CHARS,
        ner: Callable[[list[str]], list[list[Span]]] | None = None,
        city_min_population: int = CITY_MIN_POPULATION,
    ) -> None:
        reg = registry if registry is not None else default_registry()
        self.ner = ner
        recs = [r for r in reg if r.in_text]
        if types is not None:
            wanted = set(types)
            recs = [r for r in recs if r.type in wanted]
        else:  # dates and URLs are no personal data by themselves: asked for by name only
            recs = [r for r in recs if not r.optional]
        groups: dict[tuple[str, int], list[Recognizer]] = {}
        for r in recs:
            groups.setdefault((r.pattern, r.flags), []).append(r)
        # checksummed groups first: their spans let later groups skip validations that
        # could not win the overlap resolution anyway
        self.groups = sorted(
            (_Group(g) for g in groups.values()),
            key=lambda g: -max(_RANK[r.strength] for r in g.recs),
        )
        # first words of context phrases -> the groups they may open (one lookup per text)
        self._ctx_index: dict[str, list[int]] = {}
        self._ctx_short: list[tuple[str, int]] = []
        for pos, g in enumerate(self.groups):
            g.pos = pos
            for w in g.ctx_first:
                self._ctx_index.setdefault(w, []).append(pos)
            self._ctx_short.extend((w, pos) for w in g.ctx_short)
        self._plain = [g for g in self.groups if g.ctx_words is None]
        words: set[str] = set()
        for g in self.groups:
            if g.ctx_words is not None:
                words |= g.ctx_words
        self._ctx_union = _re2_words(words) if words else None
        for g in self.groups:
            if g.is_person:
                names = {r.name for r in g.recs}
                g.proper = ProperNounScanner(
                    person="person" if "person" in names else None,
                    city="city" if "city" in names else None,
                    city_min_population=city_min_population,
                    min_score=min_score,
                )
        # a checksummed number found only beside its own context word ("CPF", "kennitala")
        # is that number even where a failed card check vetoes the digits' other readings
        self._named = frozenset(
            r.name for r in recs if r.context_required and r.strength == "checksum"
        )
        self.min_score = min_score
        self.max_chars = max_chars
        self._cache: dict[str, dict[str, float]] = {}
        self._memo = _Memo()
        self._lock = threading.Lock()

    # -- public -----------------------------------------------------------------------
    def find(self, texts: Any) -> list[list[Span]]:
        return self.scan(texts).spans

    def scan(self, texts: Any) -> TextScan:
        # The scan allocates many small acyclic objects; pausing the cyclic collector
        # avoids full collections over the caller's heap mid-scan (restored afterwards).
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return self._scan(texts)
        finally:
            if was_enabled:
                gc.enable()

    def _scan(self, texts: Any) -> TextScan:
        values, replaced = _to_texts(texts)
        truncated: list[int] = []
        if self.max_chars is not None:
            truncated = [i for i, t in enumerate(values) if len(t) > self.max_chars]
            for i in truncated:
                values[i] = values[i][: self.max_chars]
        if self.ner is not None:  # a model need not give a text the same spans twice
            spans = self._spans(values)
        else:
            spans = self._memo.spans(values, self._spans)
        return TextScan(spans, truncated, replaced, self.max_chars)

    def _spans(self, values: list[str]) -> list[list[Span]]:
        """Spans per text: normalized, in slabs of pieces, mapped back to the caller's offsets."""
        n = len(values)
        spans: list[list[Span]] = [[] for _ in range(n)]
        split: set[int] = set()
        for slab in _slabs(values):
            pieces = [values[u.text][u.lo : u.hi] for u in slab]
            norms = [normalize(t.replace(_SEP, " ") if _SEP in t else t) for t in pieces]
            found = self._scan_pieces([x.text for x in norms])
            for u, norm, got in zip(slab, norms, found, strict=True):
                if u.lo or u.hi < len(values[u.text]):
                    split.add(u.text)
                if norm.identity and not u.lo and u.hi == u.core_hi:  # the whole text as given
                    spans[u.text] = got
                    continue
                out = spans[u.text]
                for sp in got:
                    a, b = norm.span(sp.start, sp.end)
                    a, b = a + u.lo, b + u.lo
                    if u.core_lo <= a < u.core_hi:
                        out.append(Span(a, b, sp.type, sp.score, sp.recognizer))
        for i in split:  # a span near a piece boundary seen by both pieces: keep the first
            kept: list[Span] = []
            for sp in spans[i]:
                if not kept or sp.start >= kept[-1].end:
                    kept.append(sp)
            spans[i] = kept
        return spans

    def _scan_pieces(self, values: list[str]) -> list[list[Span]]:
        """Spans per (normalized, bounded) piece of text."""
        n = len(values)
        spans: list[list[Span]] = [[] for _ in range(n)]
        if n == 0:
            return spans
        cands: dict[int, list[tuple[int, int, int, float, str, str]]] = {}
        vetoes: dict[int, list[tuple[int, int]]] = {}
        full: tuple[str, list[int], np.ndarray] | None = None
        if n == 1 and len(values[0]) <= SMALL_CHARS:
            for group in self._plan_one(values[0]):
                self._scan_group(group, values[0], [0], _ONE, values, cands, vetoes)
            return self._resolved(values, cands, vetoes, spans)
        select = self._selector(values)
        for group in self.groups:
            idx = select(group)
            if idx is None:
                if full is None:
                    full = _join(values, np.arange(n))
                joined, starts, idx = full
            elif idx.size == 0:
                continue
            elif idx.size == n:
                if full is None:
                    full = _join(values, np.arange(n))
                joined, starts, idx = full
            else:
                joined, starts, idx = _join(values, idx)
            self._scan_group(group, joined, starts, idx, values, cands, vetoes)
        return self._resolved(values, cands, vetoes, spans)

    def _resolved(
        self,
        values: list[str],
        cands: dict[int, list[tuple[int, int, int, float, str, str]]],
        vetoes: dict[int, list[tuple[int, int]]],
        spans: list[list[Span]],
    ) -> list[list[Span]]:
        """The optional model's spans joined to the candidates, overlaps resolved."""
        if self.ner is not None:
            # optional model-based spans (e.g. spacy_ner); they compete in the overlap
            # resolution as "format" evidence, below checksummed identifiers
            for i, extra in enumerate(self.ner(values)):
                for sp in extra:
                    if 0 <= sp.start < sp.end <= len(values[i]) and sp.score >= self.min_score:
                        cands.setdefault(i, []).append(
                            (sp.start, sp.end, 1, sp.score, sp.type, sp.recognizer or "ner")
                        )
        for i, cs in cands.items():
            spans[i] = _resolve(cs, vetoes.get(i, ()), self._named)
        return spans

    def _ctx_groups(self, text: str) -> set[int]:
        """Positions of the context-only groups one of whose context phrases may be in
        ``text`` (the union of :meth:`_Group.ctx_in` over the groups, in one pass)."""
        index = self._ctx_index
        chosen: set[int] = set()
        for head in _word_heads(text).intersection(index):
            chosen.update(index[head])
        if self._ctx_short:
            low = text.lower()
            chosen.update(pos for w, pos in self._ctx_short if w in low)
        return chosen

    def _plan_one(self, text: str) -> list[_Group]:
        """The groups one short text must scan, in group order: digit counts, one
        context-word lookup and compiled Python prefilters (no per-group arrays, and the
        context-only groups whose words are absent are never visited)."""
        digits = len(_DIGIT.findall(text))
        keep: list[int] = []
        for group in self._plain:
            if group.min_digits > digits or (group.needs_digit and not digits):
                continue
            if group.gate is not None:
                if not group.gate(text):
                    continue
            elif group.py_prefilter is not None and not group.py_prefilter.search(text):
                continue
            keep.append(group.pos)
        groups = self.groups
        for pos in self._ctx_groups(text):
            g = groups[pos]
            if g.min_digits <= digits and (digits or not g.needs_digit):
                keep.append(pos)
        keep.sort()
        return [groups[pos] for pos in keep]

    def _selector(self, values: list[str]) -> Callable[[_Group], np.ndarray | None]:
        """Which texts each group must scan (None: all). A few short texts are prefiltered
        by compiled Python regexes (no RE2 compilation per call: one 70-character text
        costs well under a millisecond); many texts by pyarrow's RE2 over the whole array."""
        if len(values) <= SMALL_TEXTS and sum(map(len, values)) <= SMALL_CHARS:
            heads = [_word_heads(t) for t in values]
            digits = [len(_DIGIT.findall(t)) for t in values]

            def small(group: _Group) -> np.ndarray | None:
                rows = [
                    i
                    for i in range(len(values))
                    if digits[i] >= group.min_digits and (digits[i] or not group.needs_digit)
                ]
                if group.ctx_words is not None:
                    rows = [i for i in rows if group.ctx_in(values[i], heads[i])]
                elif group.gate is not None:
                    rows = [i for i in rows if group.gate(values[i])]
                elif group.py_prefilter is not None:
                    rows = [i for i in rows if group.py_prefilter.search(values[i])]
                elif group.prefilter is None and len(rows) == len(values):
                    return None
                return np.array(rows, dtype=np.int64)

            return small
        arr = pa.array(values, type=pa.large_string())
        ctx_idx, ctx_arr = self._context_subset(arr)
        digits = digit_counts(arr)
        # texts holding at least k digits (and their sub-array), shared by the groups needing k
        enough: dict[int, tuple[np.ndarray, pa.Array | None]] = {}

        def rows_with(k: int) -> tuple[np.ndarray, pa.Array | None]:
            got = enough.get(k)
            if got is None:
                rows = np.flatnonzero(digits >= k)
                sub = None if rows.size == len(values) else arr.take(pa.array(rows))
                got = enough[k] = (rows, sub)
            return got

        by_ctx: dict[int, list[int]] | None = None

        def ctx_rows(group: _Group) -> np.ndarray:
            # the texts holding a context word of any group (one RE2 pass) are looked up
            # word by word, as for one text: no RE2 compilation per context-only group
            nonlocal by_ctx
            if by_ctx is None:
                by_ctx = {}
                for i in ctx_idx.tolist():
                    for pos in self._ctx_groups(values[i]):
                        by_ctx.setdefault(pos, []).append(i)
            rows = by_ctx.get(group.pos)
            return np.array(rows, dtype=np.int64) if rows else _EMPTY

        def big(group: _Group) -> np.ndarray | None:
            need = max(group.min_digits, 1 if group.needs_digit else 0)
            if group.ctx_words is not None:
                if ctx_idx.size == 0:
                    return _EMPTY
                if ctx_idx.size > FEW_CTX_TEXTS:  # many: the RE2 compilations pay off
                    mask = pc.match_substring_regex(ctx_arr, group.prefilter)
                    rows = ctx_idx[np.flatnonzero(_np(mask))]
                else:
                    rows = ctx_rows(group)
                return rows[digits[rows] >= need] if need and rows.size else rows
            rows, sub = rows_with(need) if need else (None, None)
            if rows is None or sub is None:  # every text may match
                if group.prefilter is None:
                    return None
                mask = pc.match_substring_regex(arr, group.prefilter)
                return np.flatnonzero(_np(mask))
            if rows.size == 0 or group.prefilter is None:
                return rows
            if rows.size <= FEW_ROWS and (group.gate or group.py_prefilter) is not None:
                test = group.gate or group.py_prefilter.search  # type: ignore[union-attr]
                return np.array([i for i in rows.tolist() if test(values[i])], dtype=np.int64)
            return rows[np.flatnonzero(_np(pc.match_substring_regex(sub, group.prefilter)))]

        return big

    # -- internals --------------------------------------------------------------------
    def _context_subset(self, arr: pa.Array) -> tuple[np.ndarray, pa.Array]:
        """Texts holding any context word of the context-only groups (one RE2 pass)."""
        if self._ctx_union is None:
            return np.zeros(0, dtype=np.int64), arr
        mask = pc.match_substring_regex(arr, self._ctx_union)
        idx = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        return idx, arr.take(pa.array(idx)) if idx.size else arr

    def _validated(self, rec: Recognizer, value: str) -> float:
        cache = self._cache.get(rec.name)
        if cache is None:
            cache = self._cache[rec.name] = {}
        got = cache.get(value)
        if got is None:
            got = rec.score_value(value)
            if len(cache) > 200_000:
                cache.clear()
            cache[value] = got
        return got

    def _scan_group(
        self,
        group: _Group,
        joined: str,
        starts: list[int],
        idx: np.ndarray,
        values: list[str],
        cands: dict[int, list[tuple[int, int, int, float, str, str]]],
        vetoes: dict[int, list[tuple[int, int]]],
    ) -> None:
        min_score = self.min_score
        window = group.window
        if group.is_person:
            self._scan_person(group, joined, starts, idx, values, cands)
            return
        for m in group.regex.finditer(joined):
            s, e = m.span()
            k = bisect_right(starts, s) - 1
            base = starts[k]
            ti = int(idx[k])
            tend = base + len(values[ti])
            if e > tend:
                continue
            value = m.group()
            before_l: str | None = None
            found: set[str] = set()
            ls, le = s - base, e - base
            prior = cands.get(ti)
            for rec, ctx, ctx_not in zip(group.recs, group.ctx, group.ctx_not, strict=True):
                if rec.type in found:
                    continue  # another recognizer of the group already confirmed this type
                if prior and _covered(prior, ls, le, _RANK[rec.strength], rec.type):
                    continue
                has_ctx = False
                if ctx is not None or rec.context_fn is not None:
                    if before_l is None:
                        before_l = joined[max(base, s - window) : s].lower()
                    w = before_l[-rec.context_window :]
                    has_ctx = bool(ctx is not None and ctx.search(w))
                    if not has_ctx and rec.context_fn is not None:
                        has_ctx = rec.context_fn(
                            joined[max(base, s - window) : s], joined[e : min(tend, e + 40)]
                        )
                if rec.context_required and not has_ctx:
                    continue
                nw = rec.context_not_window or rec.context_window
                if ctx_not is not None and ctx_not.search(_clause(joined[max(base, s - nw) : s])):
                    continue  # "GL account 4410-220-18": a ledger's account, no customer's
                score = self._validated(rec, value) if rec.validate_in_text else rec.score
                end = e
                if score <= 0.0 and rec.shrink:
                    score, end = self._shrink(rec, value, s)
                if score <= 0.0:
                    if rec.veto is not None and rec.veto(value):
                        vetoes.setdefault(ti, []).append((s - base, e - base))
                    continue
                if has_ctx:
                    score = min(1.0, score + CONTEXT_BONUS)
                if score < min_score:
                    continue
                found.add(rec.type)
                cands.setdefault(ti, []).append(
                    (s - base, end - base, _RANK[rec.strength], score, rec.type, rec.name)
                )

    def _shrink(self, rec: Recognizer, value: str, s: int) -> tuple[float, int]:
        cuts = [i for i, ch in enumerate(value) if ch in " .-"]
        for cut in reversed(cuts[-8:]):
            cand = value[:cut].rstrip(" .-")
            if len(cand) < 6:
                break
            score = self._validated(rec, cand)
            if score > 0.0:
                return score, s + len(cand)
        return 0.0, s + len(value)

    def _scan_person(
        self,
        group: _Group,
        joined: str,
        starts: list[int],
        idx: np.ndarray,
        values: list[str],
        cands: dict[int, list[tuple[int, int, int, float, str, str]]],
    ) -> None:
        def add(ti: int, cand: tuple[int, int, int, float, str, str]) -> None:
            cands.setdefault(ti, []).append(cand)

        assert group.proper is not None
        group.proper.scan(joined, starts, idx.tolist(), values, add)


def _clause(before: str) -> str:
    """The lower-cased end of ``before`` after its last comma, semicolon or line break: words
    that cancel a match's context count in its own clause only ("Kostenstelle 3310,
    Kontonummer 4410..." keeps the account)."""
    cut = max(before.rfind(","), before.rfind(";"), before.rfind("\n"))
    return before[cut + 1 :].lower()


def _covered(
    prior: list[tuple[int, int, int, float, str, str]], s: int, e: int, rank: int, type_: str
) -> bool:
    """An accepted candidate that would win the overlap resolution against (s, e)."""
    for c in prior:
        if c[0] <= s and e <= c[1] and c[2] >= rank and ((c[1] - c[0]) > (e - s) or c[4] == type_):
            return True
    return False


def _join(values: list[str], idx: np.ndarray) -> tuple[str, list[int], np.ndarray]:
    sel = [values[i] for i in idx.tolist()]
    starts: list[int] = []
    pos = 0
    for t in sel:
        starts.append(pos)
        pos += len(t) + 1
    return _SEP.join(sel), starts, idx


def _resolve(
    cands: list[tuple[int, int, int, float, str, str]],
    vetoes: Sequence[tuple[int, int]],
    named: frozenset[str] = frozenset(),
) -> list[Span]:
    if vetoes:
        kept = []
        for c in cands:
            s, e, rank = c[0], c[1], c[2]
            bad = False
            if c[5] in named:
                kept.append(c)
                continue
            for vs, ve in vetoes:
                if (
                    s < ve
                    and vs < e
                    and not (rank == 3 and s <= vs and ve <= e and (e - s) > (ve - vs))
                ):
                    bad = True
                    break
            if not bad:
                kept.append(c)
        cands = kept
    cands.sort(key=lambda c: (-c[2], -(c[1] - c[0]), -c[3], c[0]))
    taken: list[tuple[int, int, int, float, str, str]] = []
    for c in cands:
        s, e = c[0], c[1]
        if all(e <= t[0] or s >= t[1] for t in taken):
            taken.append(c)
    taken.sort(key=lambda c: c[0])
    return [Span(c[0], c[1], c[4], round(c[3], 3), c[5]) for c in taken]


_DEFAULT_FINDER: dict[tuple[Any, ...], SpanFinder] = {}
_DEFAULT_LOCK = threading.Lock()


def default_finder(min_score: float = 0.5, max_chars: int | None = MAX_TEXT_CHARS) -> SpanFinder:
    key = (min_score, max_chars)
    with _DEFAULT_LOCK:
        f = _DEFAULT_FINDER.get(key)
        if f is None:
            f = _DEFAULT_FINDER[key] = SpanFinder(min_score=min_score, max_chars=max_chars)
    return f


def find_spans(
    texts: pa.Array | pa.ChunkedArray | Sequence[str | bytes | None],
    *,
    registry: Registry | None = None,
    types: Iterable[str] | None = None,
    min_score: float = 0.5,
    max_chars: int | None = MAX_TEXT_CHARS,
) -> list[list[Span]]:
    """Spans of personal data in each text (Span: start, end, type, score), sorted by start,
    never overlapping, in the caller's offsets (matching runs on a normalized copy: NFKC,
    no zero-width characters, plain spaces). ``None`` texts give no spans; bytes that are not
    UTF-8 are decoded with replacement characters (offsets refer to the decoded text). Texts
    of any length are scanned whole; when ``max_chars`` is set, longer texts are scanned up
    to that length and a :class:`TextTruncated` warning says which (:class:`SpanFinder`
    ``.scan`` returns them in ``TextScan.truncated``)."""
    if registry is None and types is None:
        finder = default_finder(min_score, max_chars)
    else:
        finder = SpanFinder(registry, types=types, min_score=min_score, max_chars=max_chars)
    got = finder.scan(texts)
    if got.truncated:
        warnings.warn(
            TextTruncated(
                f"{len(got.truncated)} text(s) longer than {max_chars} characters were scanned "
                f"up to that length (first: text {got.truncated[0]})"
            ),
            stacklevel=2,
        )
    return got.spans


class TextTruncated(UserWarning):
    """``find_spans(..., max_chars=N)`` scanned some texts only up to N characters."""


def spacy_ner(
    nlp: Any, *, labels: dict[str, str] | None = None, score: float = 0.6
) -> Callable[[list[str]], list[list[Span]]]:
    """An NER hook for :class:`SpanFinder` from a loaded spaCy pipeline (spaCy is optional
    and never downloaded by Veil: pass ``spacy.load(...)`` of a model you installed).
    Entity labels map to Veil types (default: PERSON/PER -> person)."""
    mapping = labels or {"PERSON": "person", "PER": "person"}

    def run(texts: list[str]) -> list[list[Span]]:
        out: list[list[Span]] = []
        for doc in nlp.pipe(texts):
            out.append(
                [
                    Span(ent.start_char, ent.end_char, mapping[ent.label_], score, "spacy")
                    for ent in doc.ents
                    if ent.label_ in mapping
                ]
            )
        return out

    return run
