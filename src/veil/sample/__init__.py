"""`veil sample`: realistic synthetic customer/transaction tables with labelled memo PII."""

from veil.sample.generator import CATEGORIES, SCHEMA, generate, write_sample
from veil.sample.memos import SPAN_TYPES
from veil.sample.paths import SAMPLE_POLICY

__all__ = ["CATEGORIES", "SAMPLE_POLICY", "SCHEMA", "SPAN_TYPES", "generate", "write_sample"]
