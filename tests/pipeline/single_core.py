"""The single-core comparison helpers and fixtures of ``test_workers_output_equals_single_core``,
loaded once for the other worker tests (a test module is not importable by name here)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any


def _load() -> Any:
    path = Path(__file__).with_name("test_workers_output_equals_single_core.py")
    spec = importlib.util.spec_from_file_location("_workers_single_core_helpers", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


helpers = _load()
