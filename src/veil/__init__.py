"""Veil: GDPR-compliant data pipelines for financial AI."""

__version__ = "0.1.0"
