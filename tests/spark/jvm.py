"""The Spark tests' JVMs: their options, a class-data-sharing (CDS) archive of Spark's classes,
and stopping a session's JVM for good. Run as a script (`python jvm.py ARCHIVE`), it is the
small Spark job whose JVM writes the archive as it exits.

Tuning only: the same Spark runs the same jobs. Most of a short test JVM's CPU is loading and
verifying Spark's classes; mapped from the archive they cost about half (a `veil run --engine
spark` on 10,000 rows: ~10 -> ~5 CPU s of JVM). Dumping the archive costs ~30 CPU s, more than
one test session saves (tests/spark starts eight JVMs), so it is kept in pytest's cache and made
again only for another Spark, Java or set of options (the JVM itself checks the archive against
its build and class path, and runs without it on a mismatch: slower, never different).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

#: The tests' JVMs live seconds to minutes: C1 only and the serial collector halve their CPU
#: (the JIT's optimising compiler and the parallel GC's threads pay off only in long jobs).
#: JVM log lines (the CDS ones included) go to stderr, never into a CLI's stdout.
JVM_OPTIONS = ("-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "
               "-Xlog:disable -Xlog:all=warning:stderr")
#: Spark settings of the in-process session (the UI's web server is never looked at).
SPARK_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
              "spark.ui.enabled": "false"}


def archive_name() -> str:
    """The archive's file name: what it depends on (Spark, the java binary, the options, the
    job that dumps it), hashed."""
    import shutil

    import pyspark

    java = os.path.realpath(shutil.which("java") or "java")
    parts = (pyspark.__version__, java, JVM_OPTIONS, Path(__file__).read_text())
    return f"spark-{hashlib.sha256(repr(parts).encode()).hexdigest()[:16]}.jsa"


def with_archive(folder: Path) -> str:
    """JVM_OPTIONS plus the CDS archive in `folder`; if it is not there yet, dumped first by a
    JVM that runs one small job (a CSV read, a Python mapInArrow, a Parquet write, a shuffle),
    under a name of its own then renamed (another session may be dumping the same archive)."""
    archive = folder / archive_name()
    if not archive.is_file():
        part = archive.with_name(f"{archive.name}.{os.getpid()}")
        env = {**os.environ,
               "SPARK_SUBMIT_OPTS": f"{JVM_OPTIONS} -XX:ArchiveClassesAtExit={part}"}
        done = subprocess.run([sys.executable, __file__, str(part)], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0 or not part.is_file():
            part.unlink(missing_ok=True)
            raise RuntimeError(f"the JVM's class archive was not written:\n{done.stderr[-3000:]}")
        os.replace(part, archive)
        for old in folder.glob("spark-*.jsa"):  # another Spark's or option set's: ~180 MB each
            if old != archive:
                old.unlink(missing_ok=True)
    return f"{JVM_OPTIONS} -XX:SharedArchiveFile={archive}"


def stop(spark: Any) -> None:
    """Stop `spark` and wait for its JVM to exit: it exits only when its stdin closes, and a JVM
    nobody waits for outlives the test session (and its CPU escapes the session's rusage)."""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    spark.stop()
    if gateway is None:
        return
    gateway.shutdown()
    gateway.proc.stdin.close()
    gateway.proc.wait(timeout=300)
    SparkContext._gateway = SparkContext._jvm = None


def _warm_up() -> None:
    from veil.spark import session

    spark = session("local[2]", **SPARK_CONF)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "in.csv").write_text("a,b\n1,x\n2,y\n3,x\n")
        df = spark.read.csv(str(folder / "in.csv"), header=True)
        df.mapInArrow(lambda batches: iter(list(batches)), df.schema).repartition(2) \
            .write.parquet(str(folder / "out.parquet"))
        assert spark.read.parquet(str(folder / "out.parquet")).select("b").distinct().count() == 2
    stop(spark)  # the JVM writes the archive as it exits


if __name__ == "__main__":
    _warm_up()
