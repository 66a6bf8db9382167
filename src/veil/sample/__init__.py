"""`veil sample`: realistic synthetic customer/transaction tables with labelled memo PII."""

from veil.policy.loader import SAMPLE_POLICY
from veil.sample.generator import CATEGORIES, SCHEMA, generate, write_sample
from veil.sample.memos import SPAN_TYPES

__all__ = ["CATEGORIES", "SAMPLE_POLICY", "SCHEMA", "SPAN_TYPES", "generate", "write_sample"]
