"""What the Spark tests share: the JVM options of every Spark JVM they start."""

from __future__ import annotations

#: The tests' JVMs live seconds to minutes: C1 only and the serial collector halve their CPU
#: (a JVM running one small job: ~23 s of CPU with the defaults, ~13 s with these; the JIT's
#: optimising compiler and the parallel GC's threads pay off only in long jobs). Tuning only:
#: the same Spark runs the same jobs. The in-process session takes them as
#: `spark.driver.extraJavaOptions`, a `veil ... spark` or `spark-submit` process as
#: SPARK_SUBMIT_OPTS (spark-submit adds both to the driver's JVM command line).
JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
SESSION_CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2",
                "spark.driver.extraJavaOptions": JVM_OPTIONS}


def jvm_env(env: dict[str, str]) -> dict[str, str]:
    """`env` with JVM_OPTIONS added to SPARK_SUBMIT_OPTS (for a process that starts Spark)."""
    opts = " ".join(o for o in (env.get("SPARK_SUBMIT_OPTS"), JVM_OPTIONS) if o)
    return {**env, "SPARK_SUBMIT_OPTS": opts}
