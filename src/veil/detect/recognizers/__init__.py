"""Built-in recognizer families, one small module each."""

from __future__ import annotations

from veil.detect.registry import Recognizer

FAMILIES = (
    "cards",
    "banking",
    "vat",
    "national_ids",
    "registers",
    "contact",
    "network",
    "web",
    "crypto",
    "dates",
    "location",
    "passport",
    "persons",
    "places",
    "stdnum_formats",
)
"""Hand-written families first; ``stdnum_formats`` (generated from python-stdnum's module
list, every module no hand-written family covers) last."""


def all_recognizers(*, generated: bool = True) -> list[Recognizer]:
    import importlib

    recs: list[Recognizer] = []
    for fam in FAMILIES if generated else FAMILIES[:-1]:
        mod = importlib.import_module(f"veil.detect.recognizers.{fam}")
        recs.extend(mod.RECOGNIZERS)
    return recs
