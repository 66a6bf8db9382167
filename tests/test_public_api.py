"""The public names of `veil` are a decision, not an accident (httpx pins its exports the
same way): adding or removing one means changing this list on purpose."""

from __future__ import annotations

import importlib

import pytest

import veil

PUBLIC = [
    "AuditError",
    "ConsentError",
    "CryptoError",
    "InputError",
    "Policy",
    "PolicyError",
    "RunRefused",
    "RunResult",
    "StoreError",
    "VeilError",
    "Workspace",
    "build_ropa",
    "init_workspace",
    "load_policy",
    "read",
    "run",
    "write_ropa",
]


def test_the_public_names_are_pinned() -> None:
    assert sorted(veil.__all__) == PUBLIC


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(veil, name) is not None


def test_the_version_is_one_module_every_layer_may_import() -> None:
    assert veil.__version__ == importlib.import_module("veil._version").__version__


def test_importing_veil_stays_cheap() -> None:
    """Names load on first use: `import veil` alone pulls in neither pyarrow nor SQLAlchemy."""
    import subprocess
    import sys

    code = ("import sys, veil; "
            "print(any(m in sys.modules for m in ('pyarrow', 'sqlalchemy', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
