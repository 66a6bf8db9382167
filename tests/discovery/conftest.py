"""Fixtures for the discovery tests: the labelled memo corpus (built once per session)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _load_corpus_module():
    name = "veil_discovery_test_corpus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / "corpus.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def corpus_mod():
    return _load_corpus_module()


@pytest.fixture(scope="session")
def memo_corpus(corpus_mod):
    return corpus_mod.make_corpus(2000, seed=7)
