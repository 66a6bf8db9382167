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
)


def all_recognizers() -> list[Recognizer]:
    import importlib

    recs: list[Recognizer] = []
    for fam in FAMILIES:
        mod = importlib.import_module(f"veil.detect.recognizers.{fam}")
        recs.extend(mod.RECOGNIZERS)
    return recs
