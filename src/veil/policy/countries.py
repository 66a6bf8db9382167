"""The country lists that Chapter V GDPR turns on, kept as data a reviewer can read and date:
the EEA (``eea.csv``) and the Commission's adequacy decisions (``adequacy.csv``), each with the
date it was last checked (``as_of``) and its source."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["Adequacy", "CountryList", "adequacy_list", "eea_list"]


@dataclass(frozen=True)
class Adequacy:
    country: str
    name: str
    decision: str
    scope: str  # empty: the whole country; otherwise only the recipients the decision names


@dataclass(frozen=True)
class CountryList:
    as_of: str
    source: str
    entries: dict[str, Adequacy]

    def __contains__(self, code: object) -> bool:
        return code in self.entries

    def get(self, code: str) -> Adequacy | None:
        return self.entries.get(code)

    def note(self) -> str:
        return f"list as of {self.as_of}, {self.source}"


def _load(name: str) -> CountryList:
    text = resources.files("veil.policy").joinpath(name).read_text(encoding="utf-8")
    meta: dict[str, str] = {}
    body = []
    for line in text.splitlines():
        if line.startswith("#"):
            key, sep, value = line[1:].strip().partition(":")
            if sep and key in ("as_of", "source"):
                meta[key] = value.strip()
        elif line.strip():
            body.append(line)
    rows = csv.DictReader(io.StringIO("\n".join(body)))
    entries = {r["country"]: Adequacy(r["country"], r["name"], r.get("decision") or "",
                                      r.get("scope") or "") for r in rows}
    return CountryList(meta["as_of"], meta["source"], entries)


@cache
def eea_list() -> CountryList:
    """EU Member States, Iceland, Liechtenstein and Norway."""
    return _load("eea.csv")


@cache
def adequacy_list() -> CountryList:
    """Third countries with an adequacy decision (Art. 45)."""
    return _load("adequacy.csv")
