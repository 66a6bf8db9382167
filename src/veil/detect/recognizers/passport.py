"""Passport numbers: 6-9 letters and digits, only next to a passport context word (the
formats differ by country and carry no public check digit outside the machine-readable zone)."""

from __future__ import annotations

import re

from veil.detect.registry import Recognizer

_FORMAT = re.compile(r"[A-Z0-9]{6,9}")


def validate_passport(value: str) -> bool:
    v = value.strip().upper()
    if not _FORMAT.fullmatch(v):
        return False
    ndig = sum(ch.isdigit() for ch in v)
    return ndig >= 1 and len(set(v)) > 2  # context is required; some formats have one digit


RECOGNIZERS = [
    Recognizer(
        name="passport",
        type="passport",
        pattern=r"(?<![\w@\-/])[A-Z0-9]{6,9}(?![\w@\-])",
        value_pattern=r"[A-Za-z0-9]{6,9}",
        validator=validate_passport,
        validator_name="format + context",
        strength="context",
        context=(
            "passport",
            "pass no",
            "pass-nr",
            "passnummer",
            "reisepass",
            "passeport",
            "pasaporte",
            "passaporto",
            "paspoort",
            "paszport",
            "passaporte",
            "pass nr",
            "travel document",
        ),
        context_required=True,
        context_window=32,
        score=0.75,
        column_names=r"passport|reisepass|passeport|pasaporte|passaporto|paspoort",
        name_required=True,
    ),
]
