"""Scan a Spark DataFrame for personal data: the local scanner's report, fed from Spark.

The rows stream to the driver as Arrow batches (:mod:`veil.spark.collect`) into the same
column scanner ``veil scan`` uses, so the report (types, shares, categories, suggested rules)
is the one a local scan of the same rows gives. ``sample=N`` scans the first N rows Spark
returns (``DataFrame.limit``), which is how the local scan samples a large file.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from veil.spark.collect import arrow_batches

__all__ = ["scan"]


def scan(df: Any, *, sample: int | None = None, text_columns: Sequence[str] = (),
         policy: Any = None, **options: Any) -> Any:
    """Scan ``df`` (a Spark DataFrame) for personal data; returns a
    `veil.discovery.scan.SourceScan`. ``options`` go to `veil.discovery.scan.scan_source`
    (``max_cell_chars``, ``text_sample``, ``registry``, ``max_spans``)."""
    from veil.discovery.scan import scan_source
    from veil.errors import InputError

    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int)
                               or sample <= 0):
        raise InputError("--sample must be a positive number of rows")
    data = df.limit(sample) if sample else df
    result = scan_source(arrow_batches(data), sample=sample, text_columns=text_columns,
                         policy=policy, **options)
    return dataclasses.replace(result, source="<spark.DataFrame>", format="spark")
