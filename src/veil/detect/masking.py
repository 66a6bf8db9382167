"""Masked examples for reports: enough to recognize the shape, never the identifier."""

from __future__ import annotations


def _star_alnum(value: str, keep_head: int, keep_tail: int) -> str:
    pos = [i for i, ch in enumerate(value) if ch.isalnum()]
    n = len(pos)
    # never reveal more than a third of the characters, nor all of them
    budget = max(0, min(keep_head + keep_tail, n // 3))
    head = min(keep_head, budget)
    tail = min(keep_tail, budget - head)
    keep = set(pos[:head]) | (set(pos[n - tail :]) if tail else set())
    return "".join(ch if (i in keep or not ch.isalnum()) else "*" for i, ch in enumerate(value))


def mask(value: str, type_: str | None = None, *, max_len: int = 48) -> str:
    """A masked rendering of ``value``: separators kept, most letters and digits replaced
    by ``*``. Cards keep at most the last 4 digits, e-mails the first letter of each part
    and the top-level domain, names their initials."""
    v = value.strip()
    if len(v) > max_len:
        v = v[:max_len]
        suffix = "…"
    else:
        suffix = ""
    if type_ == "email" and "@" in v:
        local, _, domain = v.partition("@")
        labels = domain.split(".")
        masked_domain = ".".join(
            [(lb[:1] + "*" * (len(lb) - 1)) for lb in labels[:-1]] + labels[-1:]
        )
        return (local[:1] + "*" * max(len(local) - 1, 2)) + "@" + masked_domain + suffix
    if type_ == "person":
        return " ".join(t[:1] + "*" * (len(t) - 1) for t in v.split()) + suffix
    if type_ == "card":
        return _star_alnum(v, 0, 4) + suffix
    if type_ in ("iban", "vat", "bic"):
        return _star_alnum(v, 2, 2) + suffix
    if type_ in ("free_text",):
        return " ".join(t[:1] + "*" * (len(t) - 1) for t in v.split()[:6]) + suffix
    return _star_alnum(v, 0, 2) + suffix
