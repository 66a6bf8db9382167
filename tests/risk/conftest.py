"""Fixtures shared by the risk tests: the Adult table with ARX's hierarchies, and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from veil.cli import risk as risk_cli
from veil.cli.main import app, main


@pytest.fixture(scope="session")
def adult_path(conformance_dir: Path) -> Path:
    """``../shared/conformance/adult`` (ARX's ``data/`` at aacd487f)."""
    return conformance_dir / "adult"


@pytest.fixture(scope="session")
def adult_table(adult_path: Path) -> pa.Table:
    return pacsv.read_csv(
        adult_path / "adult.csv", parse_options=pacsv.ParseOptions(delimiter=";")
    )


@pytest.fixture(scope="session")
def adult_hierarchies(adult_path: Path) -> dict:
    from veil.risk import load_hierarchies

    return load_hierarchies(sorted(adult_path.glob("adult_hierarchy_*.csv")))


@pytest.fixture
def veil_cli() -> Callable[..., int]:
    """Run ``veil ARGS...`` in-process (``veil.cli.main.main``); returns the exit code."""
    if "risk" not in {c.name for c in app.registered_commands}:
        risk_cli.register(app)

    def run(*args: str) -> int:
        return main([str(a) for a in args])

    return run
