"""Readers and writers: everything moves as bounded Arrow record batches."""

from veil.io.readers import CsvOptions, Reject, Source, open_source
from veil.io.writers import ParquetSink, atomic_write_bytes

__all__ = ["CsvOptions", "ParquetSink", "Reject", "Source", "atomic_write_bytes", "open_source"]
