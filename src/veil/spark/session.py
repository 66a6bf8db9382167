"""A SparkSession for Veil: the one already running (spark-submit, a notebook), or a local one.

Veil's stages work on Arrow batches; Spark's default of 10,000 rows per Arrow batch is raised
to the local engine's 65,536 so per-batch costs stay as small as in a local run.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["session"]

ARROW_BATCH_ROWS = 65_536


def session(master: str | None = None, app_name: str = "veil", **conf: str) -> Any:
    """The active SparkSession, or a new one (``master``: argument, else ``VEIL_SPARK_MASTER``,
    else what spark-submit set, else ``local[*]``); ``conf`` adds Spark settings."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None and not conf:
        return active
    builder = SparkSession.builder.appName(app_name)
    given = SparkConf()
    chosen = master or os.environ.get("VEIL_SPARK_MASTER")
    if chosen:
        builder = builder.master(chosen)
    elif not given.contains("spark.master"):
        builder = builder.master("local[*]")
    local = (chosen or given.get("spark.master", "local[*]")).startswith("local")
    if local and not os.environ.get("PYSPARK_PYTHON"):
        os.environ["PYSPARK_PYTHON"] = sys.executable  # local workers: this interpreter
    settings = {
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.showConsoleProgress": "false",
        **conf,
    }
    for k, v in settings.items():
        if not given.contains(k):
            builder = builder.config(k, v)
    return builder.getOrCreate()
