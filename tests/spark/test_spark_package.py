"""`veil spark package`: a virtual environment packed for spark-submit --archives."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

pytest.importorskip("venv_pack", reason="venv-pack is not installed (pip install 'veil[spark]')")


def _veil(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "veil", *args], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_package_packs_a_venv_and_prints_the_settings(tmp_path: Path) -> None:
    venv = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    (venv / "lib" / "marker.txt").write_text("shipped")
    done = _veil("spark", "package", "--venv", str(venv), "-o", "env.tar.gz", "--json",
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["spark_submit"][:2] == ["--archives", "env.tar.gz#environment"]
    assert info["env"]["PYSPARK_PYTHON"] == "./environment/bin/python"
    with tarfile.open(tmp_path / "env.tar.gz") as tar:
        names = tar.getnames()
    assert "lib/marker.txt" in names and "bin/python" in names and "pyvenv.cfg" in names

    again = _veil("spark", "package", "--venv", str(venv), "-o", "env.tar.gz", cwd=tmp_path)
    assert again.returncode != 0 and "already exists" in again.stderr + again.stdout


def test_not_a_venv_is_one_clear_error(tmp_path: Path) -> None:
    done = _veil("spark", "package", "--venv", str(tmp_path), "-o", "x.tar.gz", cwd=tmp_path)
    assert done.returncode != 0
    out = done.stderr + done.stdout
    assert "not a virtual environment" in out and "Traceback" not in out
    assert not (tmp_path / "x.tar.gz").exists()
