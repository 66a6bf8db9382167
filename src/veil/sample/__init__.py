"""`veil sample`: realistic synthetic customer/transaction tables with labelled memo PII."""

from veil.sample.generator import CATEGORIES, SCHEMA, generate, write_sample
from veil.sample.memos import SPAN_TYPES

__all__ = ["CATEGORIES", "SCHEMA", "SPAN_TYPES", "generate", "write_sample"]
