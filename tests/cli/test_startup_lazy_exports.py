"""A package that exports a name its own submodule also has (``veil.pipeline.run``,
``veil.incidents.clock``, ``veil.spark.session``) keeps the export whichever is imported
first: importing the submodule must not replace the function by the module. Fresh
interpreters, since the order of imports is the point."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLASHES = [("veil.pipeline", "run"), ("veil.incidents", "clock"), ("veil.spark", "session")]


@pytest.mark.parametrize(("package", "name"), CLASHES)
def test_the_export_survives_importing_its_submodule(package: str, name: str) -> None:
    script = (f"import sys, types\nimport {package}.{name}\n"
              f"from {package} import {name} as export\n"
              f"module = sys.modules['{package}.{name}']\n"
              f"assert callable(export) and not isinstance(export, types.ModuleType), export\n"
              f"assert export is getattr(module, '{name}')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
