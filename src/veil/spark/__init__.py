"""Veil on Apache Spark: the same run, receipt and audit trail on the engine a bank already has.

::

    from veil.spark import run, scan, session
    spark = session("local[2]")
    df = spark.read.parquet("transactions.parquet")
    result = run(df, "policy.yaml", "credit_scoring", "credit.parquet")

``run`` executes the local engine's stages inside ``mapInArrow`` (keys shipped wrapped,
unwrapped per executor), joins the consent ledger, aggregates the risk figures from the
executors, and publishes one Parquet output with one receipt; ``scan`` gives the local scan's
report for a DataFrame; ``stream`` applies a purpose to a Structured Streaming source, one run
and receipt per micro-batch (docs/spark_streaming.md). PySpark is an optional extra:
``pip install 'veil[spark]'``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from veil._lazy import lazy_exports

_EXPORTS = {
    "run": "veil.spark.engine",
    "SparkRunResult": "veil.spark.engine",
    "scan": "veil.spark.discover",
    "session": "veil.spark.session",
    "stream": "veil.spark.streaming",
    "StreamResult": "veil.spark.streaming",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from veil.spark.discover import scan  # noqa: F401
    from veil.spark.engine import SparkRunResult, run  # noqa: F401
    from veil.spark.session import session  # noqa: F401
    from veil.spark.streaming import StreamResult, stream  # noqa: F401
