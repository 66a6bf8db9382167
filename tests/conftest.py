"""Shared fixtures: where the conformance data lives, the databases to test on, and the README's
quickstart workspace (run once; the docs that continue in it start from a copy)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFORMANCE = ROOT.parent / "shared" / "conformance"


@pytest.fixture(scope="session")
def conformance_dir() -> Path:
    """`../shared/conformance` beside the project root (as CI lays it out)."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance data not found at {CONFORMANCE}")
    return CONFORMANCE


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or None when it is not set or not reachable."""
    url = os.environ.get("VEIL_TEST_DATABASE_URL")
    if not url:
        return None
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # unreachable server: skip with a reason instead of failing
        return None
    return url


def _fresh_pg_database(base_url: str, template: str | None = None) -> tuple[str, object]:
    """Create a uniquely named database on the test server (a copy of `template` when given and
    free, else empty); returns (url, dropper)."""
    import uuid

    import sqlalchemy as sa

    name = f"veil_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        try:
            copy = f' TEMPLATE "{template}"' if template else ""
            conn.execute(sa.text(f'CREATE DATABASE "{name}"{copy}'))
        except sa.exc.OperationalError:  # the template is in use elsewhere: start empty
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(base_url).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def _migrated_workspace(root: Path, database_url: str | None) -> None:
    """`init_workspace(root)` on `database_url` (None: the workspace's SQLite), closed."""
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import init_workspace

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VEIL_WORKSPACE", raising=False)
        mp.setenv("VEIL_KEK", EnvKEK.new_secret())
        if database_url is None:
            mp.delenv("VEIL_DATABASE_URL", raising=False)
        else:
            mp.setenv("VEIL_DATABASE_URL", database_url)
        ws, _ = init_workspace(root)
        ws.close()
        ws.engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_workspace_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite workspace migrated once per session: each `workspace` starts as a copy, and
    init_workspace then finds it at the head revision (the migrations cost ~0.15 s a test)."""
    root = tmp_path_factory.mktemp("workspace-template") / "ws"
    _migrated_workspace(root, None)
    return root


@pytest.fixture(scope="session")
def _pg_workspace_template(tmp_path_factory: pytest.TempPathFactory):
    """A PostgreSQL database migrated once per session, copied (CREATE DATABASE ... TEMPLATE)
    for each `workspace` on PostgreSQL; None without a server."""
    import sqlalchemy as sa

    base = postgres_url()
    if base is None:
        yield None
        return
    url, drop = _fresh_pg_database(base)
    try:
        _migrated_workspace(tmp_path_factory.mktemp("pg-template") / "ws", url)
        yield sa.make_url(url).database
    finally:
        drop()  # type: ignore[operator]


def _required_postgres_url() -> str:
    """The test server's URL; skips the test without one (fails with VEIL_REQUIRE_POSTGRES)."""
    base = postgres_url()
    if base is None and os.environ.get("VEIL_REQUIRE_POSTGRES"):
        pytest.fail("VEIL_REQUIRE_POSTGRES is set but VEIL_TEST_DATABASE_URL is not reachable")
    if base is None:
        pytest.skip("PostgreSQL not available: set VEIL_TEST_DATABASE_URL to a reachable server")
    return base


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path: Path):
    """A fresh, empty database: SQLite in tmp_path, and PostgreSQL when the server is there
    (already migrated when the test also takes `workspace`, which migrates it anyway)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'veil.db'}"
        return
    base = _required_postgres_url()
    # a workspace test gets the migrated copy init_workspace would make of the empty database
    template = (request.getfixturevalue("_pg_workspace_template")
                if "workspace" in request.fixturenames else None)
    url, drop = _fresh_pg_database(base, template)
    try:
        yield url
    finally:
        drop()


@pytest.fixture
def workspace(request, tmp_path: Path, database_url: str, monkeypatch):
    """An initialised workspace in tmp_path/ws on each test database; cwd is the workspace.
    It starts from the session's migrated template (a copy of the files, or of the database),
    so init_workspace here opens it at head instead of running every migration again."""
    from veil.store.workspace import init_workspace

    root = tmp_path / "ws"
    if not database_url.startswith("sqlite"):
        monkeypatch.setenv("VEIL_DATABASE_URL", database_url)  # a migrated copy: see above
    else:
        monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
        shutil.copytree(request.getfixturevalue("_sqlite_workspace_template"), root)
    monkeypatch.delenv("VEIL_WORKSPACE", raising=False)
    from veil.kek.providers import EnvKEK

    monkeypatch.setenv("VEIL_KEK", EnvKEK.new_secret())  # run outputs are encrypted at rest
    ws, _ = init_workspace(root)
    monkeypatch.chdir(root)
    yield ws
    ws.close()


@contextmanager
def shared_workspace(request, root: Path, kind: str) -> Iterator:
    """An initialised workspace at `root` on `kind` ("sqlite" or "postgresql"), from the same
    session templates as `workspace`, for a fixture wider than one test (a module's grid of
    cases that write nothing): VEIL_KEK and VEIL_DATABASE_URL stay set until the block ends."""
    from veil.kek.providers import EnvKEK
    from veil.store.workspace import init_workspace

    drop = None
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("VEIL_WORKSPACE", raising=False)
        mp.setenv("VEIL_KEK", EnvKEK.new_secret())
        if kind == "sqlite":
            mp.delenv("VEIL_DATABASE_URL", raising=False)
            shutil.copytree(request.getfixturevalue("_sqlite_workspace_template"), root)
        else:
            template = request.getfixturevalue("_pg_workspace_template")
            url, drop = _fresh_pg_database(_required_postgres_url(), template)
            mp.setenv("VEIL_DATABASE_URL", url)
        ws, _ = init_workspace(root)
        try:
            yield ws
        finally:
            ws.close()
            ws.engine.dispose()
            if drop is not None:
                drop()  # type: ignore[operator]


README_ENV_DROP = ("VEIL_WORKSPACE", "VEIL_DATABASE_URL", "VEIL_KEK", "VEIL_KEK_PASSPHRASE",
                   "VEIL_SAMPLE_STORE")


@dataclass
class ReadmeQuickstart:
    """The README's CLI quickstart and DPO blocks, run once as written (in `base`, beside a
    `.venv` link); the docs that continue in its `quickstart` workspace start from a copy."""

    base: Path
    result: subprocess.CompletedProcess[str]
    env: dict[str, str]
    resume: str  # the block's lines before `veil init` (venv, passphrase) and `cd quickstart`
    pristine: Path

    def fresh(self) -> Path:
        """`base/quickstart` put back as the README left it, at the same absolute path (the
        store and config may hold it); returns `base`."""
        assert self.result.returncode == 0, (
            "the README quickstart failed (see tests/test_readme.py):\n"
            + self.result.stdout[-3000:] + self.result.stderr[-3000:])
        shutil.rmtree(self.base / "quickstart", ignore_errors=True)
        shutil.copytree(self.pristine, self.base / "quickstart", symlinks=True)
        return self.base

    def run(self, script: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        """`script` run by bash in a fresh copy of the workspace, as if typed after the README."""
        base = self.fresh()
        return subprocess.run(["bash", "-euo", "pipefail", "-c", self.resume + script],
                              cwd=base, capture_output=True, text=True, env=self.env,
                              timeout=timeout)


def readme_blocks(lang: str) -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", readme, flags=re.S)


@pytest.fixture(scope="session")
def readme_quickstart(tmp_path_factory: pytest.TempPathFactory) -> ReadmeQuickstart:
    """The README's CLI quickstart then its DPO commands, as written, once per session."""
    if not (Path(sys.prefix) / "bin" / "activate").exists():
        pytest.skip("tests are not running inside a virtual environment")
    bash = readme_blocks("bash")
    cli = next(b for b in bash if b.startswith("source .venv/bin/activate"))
    dpo = next(b for b in bash if "veil consent import" in b)
    base = tmp_path_factory.mktemp("readme")
    (base / ".venv").symlink_to(sys.prefix)
    env = {k: v for k, v in os.environ.items() if k not in README_ENV_DROP}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", cli + dpo], cwd=base,
                            capture_output=True, text=True, env=env, timeout=900)
    lines = cli.splitlines()
    setup = lines[:next(i for i, line in enumerate(lines) if line.startswith("veil "))]
    resume = "\n".join([*setup, "cd quickstart", ""])
    pristine = tmp_path_factory.mktemp("readme-pristine") / "quickstart"
    if result.returncode == 0:
        shutil.copytree(base / "quickstart", pristine, symlinks=True)
    return ReadmeQuickstart(base, result, env, resume, pristine)
