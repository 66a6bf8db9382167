"""Every other identifier python-stdnum validates: one recognizer per module, generated.

The rows of ``veil/detect/data/stdnum_formats.tsv`` (written by
``python -m veil.detect.data.build_stdnum`` from the modules' own doctest examples; see
:mod:`.stdnum_catalog` for which modules and why) become recognizers here: the module's shape
as the candidate regex, its ``is_valid`` (compact, check digits, dates, ranges) as the
validator, its short names as context words, its country.

How much a match proves depends on the format, so:

- a format with letters, 8 characters or more, whose check a random string of its shape passes
  less than :data:`STRONG_CHANCE` of the time (CURP, PAN, GSTIN, USCC ...), is found in free
  text alone;
- every other one (all-digit numbers above all: any 9 to 13 digits pass some country's mod-11
  check now and then) only beside one of its context words;
- in a column, a generated format counts only when it validates nearly all the values it
  matches (:data:`COLUMN_MIN_RATE`); one that random strings of its shape pass often
  (:data:`NAME_CHANCE`: a length check, a date) also needs a column name that says so.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from veil.detect.recognizers._common import ALNUM_L, ALNUM_R, NUM_L, NUM_R
from veil.detect.registry import Recognizer

TSV = "stdnum_formats.tsv"
STRONG_CHANCE = 0.005
NAME_CHANCE = 0.2
COLUMN_MIN_RATE = 0.9
CHECK_CHANCE = 0.15  # below: the module's check is a checksum (ranks as one in overlaps)


@dataclass(frozen=True)
class StdnumFormat:
    """One generated row: a python-stdnum module and what its doctest examples taught."""

    module: str
    country: str
    type: str
    core: str
    lengths: tuple[int, ...]
    digits: bool
    chance: float
    context: tuple[str, ...]
    summary: str

    @property
    def name(self) -> str:
        """``br.cpf`` -> ``br_cpf``, ``in_.aadhaar`` -> ``in_aadhaar``, ``jp.in_`` -> ``jp_in``."""
        return self.module.replace("_.", ".").rstrip("_").replace(".", "_")

    @property
    def alone_in_text(self) -> bool:
        """Distinctive enough to be reported in free text without a context word: letters at
        fixed places, 8 characters or more, a check random strings of the shape rarely pass."""
        return "[A-Z]" in self.core and min(self.lengths) >= 8 and self.chance < STRONG_CHANCE


class _LazyCheck:
    """``stdnum.<module>.is_valid``, imported at its first use (a finder loads quickly)."""

    __slots__ = ("fn", "module")

    def __init__(self, module: str) -> None:
        self.module = module
        self.fn: Any = None

    def __call__(self, value: str) -> bool:
        if self.fn is None:
            self.fn = importlib.import_module(f"stdnum.{self.module}").is_valid
        return bool(self.fn(value))


EXTRA_CONTEXT: dict[str, tuple[str, ...]] = {
    "tr.tckimlik": ("tc kimlik", "kimlik no", "kimlik numarası", "tckn", "tc no"),
    "tr.vkn": ("vergi no", "vergi numarası", "vergi kimlik"),
}
"""Context words as people write them, beside the docstrings' ("T.C. Kimlik No." is mostly
written "TC kimlik no")."""


def load_formats() -> list[StdnumFormat]:
    """The generated rows (none when the file is missing: a build from scratch)."""
    from veil.detect.recognizers.lexicon import DATA

    path = DATA / TSV
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines[1:]:
        module, country, type_, core, lengths, digits, chance, context, summary = line.split("\t")
        out.append(
            StdnumFormat(
                module=module,
                country=country,
                type=type_,
                core=core,
                lengths=tuple(int(n) for n in lengths.split(",")),
                digits=digits == "1",
                chance=float(chance),
                context=tuple(w for w in context.split("|") if w)
                + EXTRA_CONTEXT.get(module, ()),
                summary=summary,
            )
        )
    return out


def _column_names(fmt: StdnumFormat) -> str:
    words = [re.escape(w).replace("\\ ", " ") for w in fmt.context if w.isascii()]
    return "|".join(rf"\b{w}" for w in words) or "(?!)"


def recognizer(fmt: StdnumFormat) -> Recognizer:
    left, right = (NUM_L, NUM_R) if fmt.digits else (ALNUM_L, ALNUM_R)
    alone = fmt.alone_in_text
    return Recognizer(
        name=fmt.name,
        type=fmt.type,
        pattern=f"{left}(?:{fmt.core}){right}",
        value_pattern=fmt.core.replace("[A-Z", "[A-Za-z"),
        validator=_LazyCheck(fmt.module),
        validator_name=f"stdnum.{fmt.module}",
        strength="checksum" if fmt.chance < CHECK_CHANCE else "format",
        context=fmt.context,
        context_required=not alone,
        score=0.7 if alone else 0.6,
        column_names=_column_names(fmt),
        name_required=fmt.chance >= NAME_CHANCE,
        column_min_rate=COLUMN_MIN_RATE,
        country=fmt.country,
    )


RECOGNIZERS = [recognizer(f) for f in load_formats()]
