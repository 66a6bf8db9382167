"""What the Spark tests share: the options of every Spark JVM they start (with one class-data
archive, tests/spark/jvm.py) and one SparkSession for all modules, stopped with its JVM at the
end of the test session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.spark.jvm import SPARK_CONF, stop, with_archive
from veil.kek.providers import EnvKEK

#: Spark's workers inherit the environment of the JVM, started once per test session: the
#: KEK variable is set when it starts (as on a cluster, where executors get it from their own
#: environment, never from the job).
KEK_SECRET = EnvKEK.new_secret()


@pytest.fixture(scope="session")
def jvm_options(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> str:
    """The JVM options of the session's Spark JVMs, with the class archive kept in pytest's
    cache (in the session's temporary folder when the cache is off: `-p no:cacheprovider`)."""
    cache = getattr(request.config, "cache", None)
    return with_archive(cache.mkdir("spark-jvm") if cache is not None
                        else tmp_path_factory.mktemp("jvm"))


@pytest.fixture(scope="session")
def jvm_env(jvm_options: str) -> Any:
    """`env` with the JVM options added to SPARK_SUBMIT_OPTS, for a process that starts Spark
    (spark-submit puts them on the driver JVM's command line)."""

    def add(env: dict[str, str]) -> dict[str, str]:
        opts = " ".join(o for o in (env.get("SPARK_SUBMIT_OPTS"), jvm_options) if o)
        return {**env, "SPARK_SUBMIT_OPTS": opts}

    return add


@pytest.fixture(scope="session")
def spark(jvm_options: str) -> Iterator[Any]:
    """The one local[2] SparkSession of every Spark test module."""
    from veil.spark import session

    with pytest.MonkeyPatch.context() as mp:  # the JVM keeps it; this process does not
        mp.setenv("VEIL_KEK", KEK_SECRET)
        s = session("local[2]", **SPARK_CONF, **{"spark.driver.extraJavaOptions": jvm_options})
    yield s
    stop(s)
