"""Regenerate ``stdnum_formats.tsv`` from the installed python-stdnum (build time only).

    python -m veil.detect.data.build_stdnum

For every number module python-stdnum ships that no hand-written recognizer covers and
:data:`~veil.detect.recognizers.stdnum_catalog.EXCLUDED` does not list, the module's own
doctest examples (its docstring, read with :class:`doctest.DocTestParser`) give:

- the shape of the number: the compact forms (``module.compact``) of the examples that pass
  ``is_valid``, one character class per position (digit, letter, either), per length;
- the chance that a random string of that shape passes ``is_valid`` (a fixed-seed sample):
  near zero for a real check digit, one for a format with no check at all;
- context words: the short names and the expansion on the docstring's first line
  ("CPF (Cadastro de Pessoas Físicas, ...)" -> "cpf", "cadastro de pessoas físicas").

It also writes the doctest cases (number, valid or not, the function the doctest called and
its source) to ``tests/detect/data/stdnum_doctests.json``, the conformance cases of the
generated recognizers. Nothing here runs when Veil scans.
"""

from __future__ import annotations

import ast
import doctest
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
TSV = HERE / "stdnum_formats.tsv"
CASES = HERE.parents[3] / "tests" / "detect" / "data" / "stdnum_doctests.json"
CHANCE_SAMPLE = 400
_CALLS = ("validate", "is_valid")


@dataclass(frozen=True)
class DocCase:
    """One top-level ``validate('...')`` / ``is_valid('...')`` call of a module's docstring."""

    number: str
    valid: bool
    via: str
    error: str | None


def doc_cases(mod: ModuleType) -> Iterator[DocCase]:
    """The single-argument validate/is_valid calls of the module's docstring, with their
    outcome as the doctest states it."""
    for ex in doctest.DocTestParser().get_examples(mod.__doc__ or ""):
        try:
            node = ast.parse(ex.source.strip(), mode="eval").body
        except SyntaxError:
            continue
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _CALLS
            and len(node.args) == 1
            and not node.keywords
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            continue
        number = node.args[0].value
        if node.func.id == "validate":
            error = ex.exc_msg.split(":")[0].strip() if ex.exc_msg is not None else None
            if error is None and "Traceback" in ex.want:
                error = "exception"
            yield DocCase(number, error is None, "validate", error)
        else:
            yield DocCase(number, ex.want.strip() == "True", "is_valid", None)


def _cls(chars: set[str]) -> str:
    if all(c.isdigit() for c in chars):
        return "d"
    if all(c.isalpha() for c in chars):
        return "A"
    if all(c.isalnum() for c in chars):
        return "X"
    return "?"


def shape_of(compacts: list[str]) -> list[str]:
    """One template per length: a class per position (d digit, A letter, X either)."""
    by_len: dict[int, list[str]] = {}
    for c in compacts:
        by_len.setdefault(len(c), []).append(c)
    out = []
    for n in sorted(by_len):
        group = by_len[n]
        out.append("".join(_cls({g[i] for g in group}) for i in range(n)))
    return out


_CLASS_RX = {"d": r"\d", "A": "[A-Z]", "X": "[A-Z0-9]"}
_SEP = "[ .\\-/]?"


def _runs(template: str) -> list[tuple[str, int]]:
    return [(m.group()[0], len(m.group())) for m in re.finditer(r"d+|A+|X+", template)]


def core_regex(templates: list[str]) -> str:
    """The number's regex (RE2-compatible): the classes of each template, an optional
    separator (space, dot, dash, slash) between any two characters; all-digit templates of
    several lengths become one range."""
    if all(set(t) == {"d"} for t in templates):
        lo, hi = min(map(len, templates)), max(map(len, templates))
        reps = f"{{{lo - 1}}}" if lo == hi else f"{{{lo - 1},{hi - 1}}}"
        return rf"\d(?:{_SEP}\d){reps}"
    alts = []
    for t in sorted(templates, key=len, reverse=True):
        parts = []
        for cls, n in _runs(t):
            c = _CLASS_RX[cls]
            parts.append(c if n == 1 else f"{c}(?:{_SEP}{c}){{{n - 1}}}")
        alts.append(_SEP.join(parts))
    return "|".join(alts)


def chance(mod: ModuleType, templates: list[str], seed: str) -> float:
    """Share of random strings of the shape that pass ``is_valid`` (fixed seed)."""
    rng = random.Random(seed)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    pools = {"d": "0123456789", "A": letters, "X": "0123456789" + letters}
    ok = 0
    for i in range(CHANCE_SAMPLE):
        t = templates[i % len(templates)]
        s = "".join(rng.choice(pools[c]) for c in t)
        try:
            ok += bool(mod.is_valid(s))
        except Exception:  # noqa: BLE001 - a library's own bug counts as a rejection
            pass
    return ok / CHANCE_SAMPLE


def context_words(module: str, summary: str) -> list[str]:
    """Short names and expansion of the docstring's first line, and the module's name."""
    from veil.detect.recognizers.stdnum_catalog import CONTEXT_STOPWORDS

    head, _, rest = summary.partition("(")
    words = [w.strip() for w in re.split(r",| or |/", head)]
    words += [w.strip() for w in re.split(r"[,()]", rest.rsplit(")", 1)[0]) if len(w.strip()) >= 6]
    words.append(module.rsplit(".", 1)[-1].rstrip("_"))
    out: list[str] = []
    for w in words:
        w = w.lower().strip(" .").removeprefix("n° ")
        if len(w) >= 3 and w not in CONTEXT_STOPWORDS and w not in out and "\t" not in w:
            out.append(w)
    return out


def covered_modules() -> set[str]:
    """Modules a hand-written recognizer or named validator covers."""
    from veil.detect.recognizers import FAMILIES, all_recognizers
    from veil.detect.recognizers.stdnum_catalog import COVERED_ELSEWHERE

    assert FAMILIES[-1] == "stdnum_formats"
    recs = all_recognizers(generated=False)
    named = {
        r.validator_name[len("stdnum.") :] for r in recs if r.validator_name.startswith("stdnum.")
    }
    return named | set(COVERED_ELSEWHERE)


def build() -> tuple[list[str], dict[str, object]]:
    from stdnum.util import get_number_modules

    from veil.detect.recognizers.stdnum_catalog import EXCLUDED, TEMPLATE_OVERRIDES, kind_of

    covered = covered_modules()
    rows = ["module\tcountry\ttype\tcore\tlengths\tdigits\tchance\tcontext\tsummary"]
    cases: dict[str, object] = {}
    for mod in get_number_modules():
        name = mod.__name__[len("stdnum.") :]
        if name in covered or name in EXCLUDED:
            continue
        summary = (mod.__doc__ or "").strip().splitlines()[0].strip()
        got = list(doc_cases(mod))
        valid = [c.number for c in got if mod.is_valid(c.number)]
        # the compact forms, and the numbers as written (compact may pad or add a prefix)
        compacts = sorted({mod.compact(n).upper() for n in valid} | {n.upper() for n in valid})
        if not compacts:
            raise SystemExit(f"{name}: no valid example to learn a shape from; list it in EXCLUDED")
        # separators some compact forms keep ("12-345") are optional in the pattern anyway
        templates = list(TEMPLATE_OVERRIDES.get(name, ())) or shape_of(
            sorted({re.sub(r"[^0-9A-Z]", "", c) for c in compacts})
        )
        country = name.split(".")[0].rstrip("_") if "." in name else ""
        rows.append(
            "\t".join(
                (
                    name,
                    country,
                    kind_of(name, summary),
                    core_regex(templates),
                    ",".join(str(len(t)) for t in templates),
                    "1" if all(set(t) == {"d"} for t in templates) else "0",
                    f"{chance(mod, templates, name):.4f}",
                    "|".join(context_words(name, summary)),
                    summary.replace("\t", " "),
                )
            )
        )
        cases[name] = {
            "source": f"stdnum/{name.replace('.', '/')}.py (docstring)",
            "summary": summary,
            "cases": [c.__dict__ for c in got],
        }
    meta = {
        "source": {"package": "python-stdnum", "version": version("python-stdnum")},
        "method": "doctest.DocTestParser over each module's docstring; every top-level "
        "validate('...')/is_valid('...') call with one string argument and its stated outcome "
        "(valid = validate returned, or is_valid returned True; error = the exception class).",
        "types": cases,
    }
    return rows, meta


def main() -> None:
    rows, meta = build()
    TSV.write_text("\n".join(rows) + "\n", encoding="utf-8")
    CASES.write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} modules -> {TSV.name}, cases -> {CASES}", file=sys.stderr)


if __name__ == "__main__":
    main()
