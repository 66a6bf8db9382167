"""Stream a Spark DataFrame's rows to the driver as Arrow record batches, in bounded memory.

``DataFrame.toArrow()`` gathers the whole result in the driver before returning. Here the
driver reads the same Arrow stream the JVM serves (``collectAsArrowToPython``) but yields each
batch as it arrives, in the order partitions finish (row order is not kept, which a Veil
output never promises). On Spark Connect, where that stream is not reachable, it falls back to
``toArrow()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

__all__ = ["arrow_batches"]


def arrow_batches(df: Any) -> Iterator[pa.RecordBatch]:
    """Every row of ``df`` as Arrow batches, as soon as each partition's batches arrive."""
    jdf = getattr(df, "_jdf", None)
    if jdf is None:  # Spark Connect
        yield from df.toArrow().to_batches()
        return
    from pyspark.errors.exceptions.captured import unwrap_spark_exception
    from pyspark.serializers import UTF8Deserializer, read_int
    from pyspark.traceback_utils import SCCallSiteSync
    from pyspark.util import _create_local_socket

    with SCCallSiteSync(df._sc):
        port, secret, server = jdf.collectAsArrowToPython()
    sockfile, sock = _create_local_socket((port, secret))
    finished = False
    try:
        yield from pa.ipc.open_stream(sockfile)
        count = read_int(sockfile)  # then the batch order (unused), or -1 and an error
        if count == -1:
            error = UTF8Deserializer().loads(sockfile)
            raise RuntimeError(f"the Spark job failed: {error.splitlines()[0] if error else ''}")
        for _ in range(count):
            read_int(sockfile)
        finished = True
    finally:
        sockfile.close()
        sock.close()
        if finished:
            with unwrap_spark_exception():
                server.getResult()
