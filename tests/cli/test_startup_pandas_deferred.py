"""pyarrow's own look for pandas is refused while a command runs, and pyarrow's pandas support
comes back as soon as code imports pandas (inside the command or after it): results equal a
process that imported pandas first. Fresh interpreters: pandas can be imported only once."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_SCRIPT = """
import json, sys
from veil._lazy import pandas_deferred

for _ in range(300 if WHEN == "after many" else 1):  # one process, many commands (tests)
    with pandas_deferred():
        import pyarrow as pa
        pa.array([1, None]); pa.array(["a"], pa.string()); pa.scalar(1); pa.table({"x": [1]})
        looked = "pandas" in sys.modules
        if WHEN == "inside":
            import pandas as pd
import importlib.util
found = importlib.util.find_spec("pandas") is not None  # a look is no import
if WHEN == "after":
    import pandas as pd
if WHEN == "after many":
    pd = __import__("pandas")  # as pytest.importorskip does
s = pd.Series([1.0, float("nan")])
print(json.dumps({
    "looked": looked, "found": found,
    "series_nulls": pa.array(s).null_count,
    "frame_nulls": pa.table(pd.DataFrame({"a": s})).column("a").null_count,
    "int_nulls": pa.array(pd.Series([1, None], dtype="Int64")).null_count,
    "back": pa.array(["x"]).to_pandas().tolist(),
    "loader": type(pd.__spec__.loader).__name__,
}))
"""


@pytest.mark.parametrize("when", ["inside", "after", "after many"])
def test_pyarrow_works_with_pandas_imported_inside_or_after(when: str) -> None:
    pytest.importorskip("pandas")
    proc = subprocess.run([sys.executable, "-c", f"WHEN = {when!r}\n{_SCRIPT}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert got == {"looked": False, "found": True, "series_nulls": 1, "frame_nulls": 1,
                   "int_nulls": 1, "back": ["x"], "loader": "SourceFileLoader"}


_PYARROW_IMPORTS_IT = """
import sys
import pyarrow as pa, pyarrow.compute as pc
from veil._lazy import pandas_deferred
with pandas_deferred():
    pa.array([1.5, None])  # pyarrow looks for pandas and is refused
# after the command: pyarrow's own compiled code imports pandas (a scalar from a Python value)
filled = pc.fill_null(pa.array([1.0, None]), 0.5)
import pandas as pd
assert pa.array(pd.Series([1, 2])).to_pylist() == [1, 2]
print(filled.to_pylist())
"""


def test_pyarrow_importing_pandas_itself_after_a_command_does_not_wait_forever() -> None:
    """pyarrow's compiled code importing pandas after a command once waited on itself (the
    hook called back into pyarrow's pandas shim from inside the shim's own import)."""
    proc = subprocess.run([sys.executable, "-c", _PYARROW_IMPORTS_IT], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[1.0, 0.5]"
