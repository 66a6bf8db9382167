"""Person names written in lower case ("rent to siobhan o'dwyer", "queja de jorge luis sánchez").

Capital letters are what the run scanner (:mod:`.proper_nouns`) starts from, so names typed
in lower case need their own, stricter test. Two ways in:

- after a cue (a payee word, a greeting, "customer", "my name is"...): one very common first
  name ("hi anjali") or a first name and a surname ("to jan nowicki");
- anywhere: a very common first name, then name words, ending in a known surname
  ("account of wei zhang", "şikayet: burak yıldız"): two or more name words in a row, none of
  them a common word or a memo word, is rare in prose that names no one.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

from veil.detect.recognizers import lexicon, persons
from veil.detect.recognizers.firms import firm_covers

Cand = tuple[int, int, int, float, str, str]

_L = r"[a-zß-öø-ÿā-ž]"
_LOWER_WORD = r"(?:" + _L + r"['’])?" + _L + r"{2,}(?:[-'’]" + _L + r"+)*"  # "o'dwyer"
_LOWER_PARTICLES = frozenset(
    ("de", "van", "der", "den", "da", "di", "del", "dos", "das", "el", "al", "bin", "ibn", "la",
     "le", "ter", "ten", "von")
)  # fmt: skip
_CUE = re.compile(
    r"(?i:\b(?:to|from|for|by|of|payee|payer|beneficiary|dear|hi|hello|hey|thanks|mr|mrs|ms|"
    r"an|von|für|à|pour|par|aan|van|voor|para|per|da|dla|od|från|till|av|"
    # a customer named by role, or introducing themselves in a chat
    r"customer|client|klant|kunde|kundin|klient|klientka|cliente|clienta|müşteri|kund|"
    r"my name is|name is|this is|it's|it is|c'est|je suis|je m'appelle|soy|me llamo|sono|"
    r"mi chiamo|ich bin|hier ist|ik ben|hoi met|met|jestem|nazywam się|tu|sou|é o|é a|ben|"
    r"adım|benim adım|jag heter|jag är)\b[:,]?[ ]+)"
    r"(?P<name>" + _LOWER_WORD + r"(?:[ ]" + _LOWER_WORD + r"){0,3})(?![\w@])"
)
_WORD = re.compile(r"(?<![\w@.'’\-/])" + _LOWER_WORD + r"(?![\w@'’\-/])")


def scan(
    joined: str,
    starts: list[int],
    idx: list[int],
    values: list[str],
    add: Callable[[int, Cand], None],
    recognizer: str,
) -> None:
    """Report lower-case names in the joined texts (``starts``: where each text begins)."""
    lex = lexicon.names()

    def report(s: int, e: int, score: float) -> None:
        k = bisect_right(starts, s) - 1
        if firm_covers(joined[max(starts[k], s - 40) : s], joined[s:e].split(), joined[e : e + 40]):
            return  # "audited by grant thornton": a firm, not a person
        if e <= starts[k] + len(values[idx[k]]):
            add(idx[k], (s - starts[k], e - starts[k], 1, score, "person", recognizer))

    cued: list[tuple[int, int]] = []
    for m in _CUE.finditer(joined):
        words = m.group("name").split()
        keep = 0
        for k, w in enumerate(words):
            if k and w in _LOWER_PARTICLES and k + 1 < len(words):
                continue  # "bram de wit": a particle inside the name
            if not w.islower() or not _name_word(w, lex):
                break
            if not _plain(w) and not (  # "jan nowicki": a first name
                k == 0 and len(words) > 1 and lex.is_top_first(w) and lex.is_last(words[1])
            ):
                break
            keep = k + 1
        if keep == 0:
            continue
        words = words[:keep]
        s = m.start("name")
        if keep == 1:
            k = bisect_right(starts, s) - 1
            tend = starts[k] + len(values[idx[k]])
            wend = s + len(words[0])  # what follows the kept word, not the whole group
            tail = joined[wend : min(tend, wend + 2)]
            if not lex.is_top_first(words[0]) or tail[:1].isalpha() or tail[1:2].islower():
                continue  # "to mark as paid": a verb, not a name
            score = 0.6
        elif lex.is_first(words[0]) and lex.is_last(words[-1]):
            score = 0.8
        else:
            continue
        e = s + len(" ".join(words))
        if joined[s:e] == " ".join(words):  # not separated by more than one space
            report(s, e, score)
            cued.append((s, e))
    for s, e in _name_rows(joined, lex):
        k = bisect_right(cued, (e,)) - 1
        if k < 0 or cued[k][1] <= s:  # "je suis amandine petit": the cue's reading wins
            report(s, e, 0.7)


# short words of the bank's languages that name lists also hold ("em", "bir", "ayda"): the
# common-word flag of the lexicon leaves out Turkish and words common in one language only
_FUNCTION_WORDS = (
    "or and nor if as at on in is it be by so we us an am me my he his her our you your all "
    "any can not yes via per off out own than then too its who whom whose "
    "price audit bond key sterling low lane branch "  # bank nouns that are surnames somewhere
    "em no na do ao aos um uma com sem por pelo pela mas que mais para como sobre entre "
    "en el la lo un una con sin por del al que mas muy "
    "il lo un una con per tra fra che non più "
    "sui sul sullo sulla sulle sugli nei nel nello nella nelle negli dai dal dallo dalla dalle "
    "dagli ai agli alla alle allo col coi "  # Italian prepositions with an article
    # auxiliaries ("hanno aderito", "han firmado", "ont signé"): a verb, never a name
    "ho hai ha abbiamo avete hanno sono sei siamo siete era erano "
    "he has han hemos habéis fue eran tem têm tinha foram ont est sont "
    "hat haben hatte hatten ist sind war heeft hebben had zijn "
    "le les un une des du au aux avec sans pour par sur que qui "
    "een het met voor naar uit bij als maar "
    "ein eine mit ohne für bei nach aus als "
    "och att med som för från till av men "
    "w z na do od po za dla przez oraz jest "
    "bir ve ile için bu şu da de ki ne her çok daha gibi kadar sonra önce ayda yılda günde "
    "hafta ay yıl gün"
)
_FUNCTION = frozenset(_FUNCTION_WORDS.split())


def _plain(w: str) -> bool:
    return w.islower() and w not in _FUNCTION and not persons.is_function_word(w)


def _name_word(w: str, lex: lexicon.NameLexicon) -> bool:
    """A known name word; a hyphenated one needs a known part and no short part
    ("müller-lüdenscheidt")."""
    if lex.is_name(w):
        return True
    parts = w.split("-")
    return len(parts) > 1 and all(len(p) >= 3 for p in parts) and any(map(lex.is_name, parts))


def _name_rows(joined: str, lex: lexicon.NameLexicon):
    """(start, end) of lower-case rows of name words: a very common first name, then up to two
    more name words or particles, the last a known surname, one space apart."""
    words = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(joined)]
    n = len(words)
    top = lex.top_first
    i = 0
    while i < n - 1:
        s, e, w = words[i]
        if w.split("-", 1)[0] not in top or not (  # most words fail the first, cheap test
            _plain(w) and all(map(lex.is_top_first, w.split("-")))
        ):
            i += 1
            continue
        end = None
        j = i + 1
        while j < n and j <= i + 3 and joined[words[j - 1][1] : words[j][0]] == " ":
            wj = words[j][2]
            if wj in _LOWER_PARTICLES and j + 1 < n:
                j += 1
                continue
            if not (_plain(wj) and _name_word(wj, lex)):
                break
            if lex.is_last(wj) or "-" in wj:
                end = j
            j += 1
        if end is None:
            i += 1
            continue
        yield s, words[end][1]
        i = end + 1


def lower_case_after_payee(text: str) -> bool:
    """Whether `text` may hold a lower-case name (a lower-case word after a payee phrase, or a
    row of lower-case name words): the audit screen's prefilter must send such text to the
    finder."""
    if _CUE.search(text) is not None:
        return True
    if " " not in text:  # a row is two words or more, one space apart (ids, digests, codes)
        return False
    return next(_name_rows(text, lexicon.names()), None) is not None
