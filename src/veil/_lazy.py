"""Import only what is used: lazy package exports (a name is imported from its module on first
use, so importing a package stays cheap for a tool that needs one part of it), and pandas kept
out of processes that never use it."""

from __future__ import annotations

import importlib
import importlib.util
import opcode
import os
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], Any],
                                                                  Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose names live in `exports` (name -> module)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # cached: later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    clashes = frozenset(n for n, m in exports.items() if m == f"{package}.{n}")
    if clashes:
        module = sys.modules[package]
        module.__class__ = type("Package", (_ExportsFirst,), {"clashes": clashes})
    return __getattr__, __dir__


class _ExportsFirst(types.ModuleType):
    """A package exporting a name its own submodule also has (``veil.pipeline.run``, the
    function, in ``veil/pipeline/run.py``): importing the submodule makes Python set the
    package attribute to the module; keep the export there instead (``from veil.pipeline.run
    import ...`` still reaches the module through ``sys.modules``)."""

    clashes: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        if (name in self.clashes and isinstance(value, types.ModuleType)
                and value.__name__ == f"{self.__name__}.{name}"):
            value = getattr(value, name, value)
        super().__setattr__(name, value)


# -- pandas only when used -------------------------------------------------------------------
# pyarrow imports pandas (about 0.4 s of CPU) whenever it infers a type from Python values or
# checks whether an object is a pandas one, only to recognise pandas objects. Until pandas is
# imported nothing can be one. While a command runs, those implicit imports are refused (pyarrow
# then works as in an install without the `frames` extra); an import statement, importlib or
# pyspark importing pandas goes through, and pyarrow's pandas support comes back with it.

_IMPORTLIB = os.path.dirname(importlib.__file__)
_IMPORT_NAME = opcode.opmap["IMPORT_NAME"]


@contextmanager
def pandas_deferred() -> Iterator[None]:
    """Within: pyarrow's own imports of pandas are refused until code imports pandas."""
    if "pandas" in sys.modules or any(isinstance(f, _DeferPandas) for f in sys.meta_path):
        yield
        return
    refuse = _DeferPandas()
    sys.meta_path.insert(0, refuse)
    try:
        yield
    finally:
        if refuse in sys.meta_path:
            sys.meta_path.remove(refuse)
            waiting = any(isinstance(f, _AfterImport) for f in sys.meta_path)
            if "pyarrow.lib" in sys.modules and not waiting:  # pyarrow may have looked
                sys.meta_path.insert(0, _AfterImport("pandas", _pyarrow_with_pandas))


def _pyarrow_with_pandas() -> None:
    """pyarrow looks for pandas again (its pandas calls retry a failed import) and finds it."""
    lib = sys.modules.get("pyarrow.lib")
    shim = getattr(lib, "_pandas_api", None)
    if shim is None:
        return
    lock = getattr(shim, "_lock", None)
    if lock is not None and lock.locked():  # pyarrow is importing pandas itself: it will see
        return  # it, and asking its shim from inside that import would wait on it forever
    try:
        shim.pd  # noqa: B018 - pyarrow's own import of pandas and of its pandas support
    except ImportError:  # a pandas this pyarrow refuses (too old): as pyarrow alone would be
        pass


def _asked_by_code() -> bool:
    """Whether the import being resolved comes from an import statement or importlib (code
    that wants pandas), not from a call into pyarrow's compiled code (which only looks)."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith("<frozen importlib"):
        f = f.f_back  # type: ignore[assignment]
    if f is None or os.path.dirname(f.f_code.co_filename) == _IMPORTLIB:
        return True
    return f.f_lasti >= 0 and f.f_code.co_code[f.f_lasti] == _IMPORT_NAME


class _DeferPandas:
    """Refuses pandas to pyarrow's looks; lets code's own import through (then goes away)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "pandas":
            return None
        if not _asked_by_code():
            raise ModuleNotFoundError("pandas not imported yet", name="pandas")
        after = _AfterImport("pandas", _pyarrow_with_pandas)  # waits for the import itself
        sys.meta_path[sys.meta_path.index(self)] = after
        return after.find_spec(fullname)


class _AfterImport:
    """Calls `then` once, right after the top-level module `name` has been imported (a mere
    `importlib.util.find_spec` leaves it waiting)."""

    _finding = threading.local()  # shared: no hook may come back here while one looks

    def __init__(self, name: str, then: Callable[[], None]) -> None:
        self.name, self.then = name, then

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != self.name or getattr(self._finding, "busy", False):
            return None
        self._finding.busy = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _ThenLoader(spec.loader, self._done)
        return spec

    def _done(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        self.then()


class _ThenLoader:
    """Runs the real loader, puts it back on the module, then calls `then`."""

    def __init__(self, loader: Any, then: Callable[[], None]) -> None:
        self.loader, self.then = loader, then

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        try:
            self.loader.exec_module(module)
        finally:
            module.__loader__ = self.loader
            if module.__spec__ is not None:
                module.__spec__.loader = self.loader
        self.then()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)
