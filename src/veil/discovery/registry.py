"""The recognizer registry, kept at its old path for code that imports it from here: the
registry lives in :mod:`veil.detect.registry` (the services layer, so the audit log can use it)."""

from __future__ import annotations

from veil.detect.registry import (
    CATEGORIES,
    DEFAULT_TYPE_INFO,
    RULES,
    STRENGTHS,
    TYPE_INFO,
    VALIDATORS,
    Recognizer,
    Registry,
    TypeInfo,
    Validator,
    builtin_recognizers,
    default_registry,
    normalize_column_name,
    re2_accepts,
    recognizer_from_config,
    registry_for,
    validator_by_name,
    with_overrides,
)

__all__ = [
    "CATEGORIES",
    "DEFAULT_TYPE_INFO",
    "RULES",
    "STRENGTHS",
    "TYPE_INFO",
    "VALIDATORS",
    "Recognizer",
    "Registry",
    "TypeInfo",
    "Validator",
    "builtin_recognizers",
    "default_registry",
    "normalize_column_name",
    "re2_accepts",
    "recognizer_from_config",
    "registry_for",
    "validator_by_name",
    "with_overrides",
]
