"""Firms named after people: banks, brokers, auditors, law firms and shops a bank's text names.

"Goldman Sachs", "Grant Thornton", "Charles Schwab" and "John Lewis" are a first name and a
surname to every name list, and no context word tells them from a customer; only knowing the
firm does. The list holds well-known financial, audit, law and retail firms whose names are
(or read as) people's names, written once, by hand (no generator, no sample data). A run of
capitalized words, or a row of lower-case words, that falls inside one of these names is no
person (:func:`firm_covers`).
"""

from __future__ import annotations

import re
from functools import lru_cache

FIRM_NAMES = """
Goldman Sachs|Morgan Stanley|JP Morgan|J.P. Morgan|JPMorgan Chase|Merrill Lynch|Lehman Brothers
Wells Fargo|Charles Schwab|Edward Jones|Raymond James|T. Rowe Price|Franklin Templeton
Janus Henderson|Neuberger Berman|Lord Abbett|Legg Mason|William Blair|Piper Sandler
Houlihan Lokey|Keefe Bruyette|Brown Brothers Harriman|Cantor Fitzgerald|Stifel Nicolaus
Charles Stanley|Brewin Dolphin|Hargreaves Lansdown|Quilter Cheviot|Close Brothers
Evelyn Partners|St. James's Place|Julius Baer|Julius Bär|Lombard Odier|Edmond de Rothschild
Hauck Aufhäuser Lampe|M.M. Warburg|Donner & Reuschel|Sal. Oppenheim|Merck Finck
Van Lanschot|Van Lanschot Kempen|Oddo BHF|Banca March|Erik Penser|ABN AMRO
Grant Thornton|Ernst & Young|Ernst and Young|Deloitte Touche|Touche Tohmatsu|Price Waterhouse
Peat Marwick|Arthur Andersen|Forvis Mazars|Baker Tilly|Moore Stephens|Crowe Horwath
Ebner Stolz|Rödl & Partner|Warth & Klein
Clifford Chance|Allen & Overy|Allen Overy Shearman|Freshfields Bruckhaus Deringer
Slaughter and May|Herbert Smith Freehills|Norton Rose Fulbright|Hogan Lovells|Baker McKenzie
Bird & Bird|Simmons & Simmons|Latham & Watkins|White & Case|Gleiss Lutz|Hengeler Mueller
Uría Menéndez|Gómez-Acebo & Pombo|Gianni & Origoni|Bonelli Erede|De Brauw|Loyens & Loeff
Mannheimer Swartling|Gorrissen Federspiel|Kromann Reumert|Bredin Prat|Darrois Villey
Gide Loyrette Nouel
Standard & Poor's|Thomson Reuters|Dow Jones
John Lewis|Marks & Spencer|Harvey Nichols|Hugo Boss
Tommy Hilfiger|Ralph Lauren|Calvin Klein|Louis Vuitton|Yves Saint Laurent|Christian Dior
Giorgio Armani|Dolce & Gabbana|Salvatore Ferragamo|Ermenegildo Zegna|Karl Lagerfeld
Jack Wolfskin|Walt Disney|Johnson & Johnson|Procter & Gamble|Ben & Jerry's|Harley-Davidson
Aston Martin|Rolls-Royce|Mercedes-Benz|Tim Hortons|Eli Lilly
"""
# One-word firms ("Rothschild", "Ferrari", "Öhman") are left out: a lone surname is no
# person to the run scorer anyway, and "Giulia Ferrari" is one.

_WORD = re.compile(r"[\w'’.&-]+")


def _key(word: str) -> str:
    """A word as it is compared: lower case, a possessive "'s" and outer dots left out."""
    w = word.lower().strip(".,;:()\"")
    for q in ("'s", "’s"):
        if w.endswith(q) and len(w) > 2:
            w = w[: -len(q)]
    return w


@lru_cache(maxsize=1)
def _by_first() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each firm's words, indexed by its first word."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for line in FIRM_NAMES.split("\n"):
        for name in line.split("|"):
            if name:
                words = tuple(_key(w) for w in _WORD.findall(name))
                out.setdefault(words[0], []).append(words)
    return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in out.items()}


def firm_covers(before: str, words: list[str], after: str) -> bool:
    """Whether a known firm's name takes in any of ``words`` (a run of words, with the text
    ``before`` and ``after`` it): "Morgan Stanley" inside "Goldman Sachs and Morgan Stanley",
    "Young" inside "Ernst & Young"."""
    index = _by_first()
    pre = [_key(w) for w in _WORD.findall(before[-40:])[-3:]]
    own = [_key(w) for w in words]
    if not any(k in index for k in pre) and not any(k in index for k in own):
        return False  # no firm starts here: most runs
    post = [_key(w) for w in _WORD.findall(after[:40])[:3]]
    seq = pre + own + post
    lo, hi = len(pre), len(pre) + len(words)  # the run's words: seq[lo:hi]
    for i in range(min(hi, len(seq))):
        for firm in index.get(seq[i], ()):
            j = i + len(firm)
            if j > lo and tuple(seq[i:j]) == firm:
                return True
    return False
