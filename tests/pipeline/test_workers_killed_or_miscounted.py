"""The parallel run's failures: a worker killed mid-run fails the run cleanly (nothing published,
a rerun succeeds); an error in a worker is the single-core run's error; a bad worker count is one
clear error: an input error from the library, a usage error (exit 2, naming the bound) from
`veil run --workers`, as for every number option."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import pytest
import sqlalchemy as sa

import veil
import veil.io.readers
from veil.cli.main import main
from veil.errors import InputError, VeilError
from veil.sample import SAMPLE_POLICY, write_sample
from veil.store.schema import runs


@pytest.fixture(scope="module")
def sample_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "tx.csv"
    write_sample(path, 300, seed=4)
    return path


def test_a_killed_worker_fails_the_run_and_a_rerun_succeeds(sample_file: Path, workspace,
                                                            tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(veil.io.readers, "CSV_BLOCK", 2 << 10)  # many small batches
    out = tmp_path / "out.parquet"
    killed: list[int] = []

    def kill_one(position: int, size: int | None) -> None:
        if not killed:
            pid = multiprocessing.active_children()[0].pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    with pytest.raises(VeilError, match="a worker process died") as info:
        veil.run(SAMPLE_POLICY, "credit_scoring", sample_file, out, workers=2,
                 progress=kill_one)
    assert killed and info.value.where == str(sample_file)
    assert [p.name for p in tmp_path.iterdir()] == ["ws"]  # no output, receipt or temp file
    with workspace.engine.connect() as c:
        statuses = c.execute(sa.select(runs.c.status)).scalars().all()
    assert statuses == ["failed"]
    assert multiprocessing.active_children() == []  # the pool is gone
    result = veil.run(SAMPLE_POLICY, "credit_scoring", sample_file, out, workers=2)
    assert result.rows_out == 300 and out.exists()


def test_an_error_in_a_worker_is_the_single_core_error(workspace, tmp_path: Path) -> None:
    """A transform's error raised in a worker (a bad value, found only in the data) comes back
    as the same class, text and place, and nothing is published."""
    policy = tmp_path / "p.yaml"
    policy.write_text("""\
version: 1
controller: {name: Bank, contact: privacy@bank.example}
datasets:
  tx:
    subject_id: cid
    fields:
      cid: direct_identifier
      card: card
purposes:
  scoring:
    description: d
    legal_basis: contract
    retention: 2 years
    datasets:
      tx:
        fields:
          card: {transform: fpe, format: card}
""")
    src = tmp_path / "in.csv"
    src.write_text("cid,card\n" + "".join(f"C{i},4111111111111111\n" for i in range(30))
                   + "C30,12\n")
    errors = []
    for n in (1, 2):
        with pytest.raises(VeilError) as info:
            veil.run(policy, "scoring", src, tmp_path / f"out{n}.parquet", workers=n)
        errors.append((type(info.value), str(info.value), info.value.where,
                       info.value.exit_code))
    assert errors[0] == errors[1]
    assert errors[0][0] is InputError and "field 'card'" in errors[0][1]
    assert not list(tmp_path.glob("*out*"))


@pytest.mark.parametrize("workers", [0, -1, (os.cpu_count() or 1) + 1, True, 1.5, "2"])
def test_bad_worker_counts_are_refused_before_anything_starts(workers, sample_file: Path,
                                                              tmp_path: Path) -> None:
    with pytest.raises(InputError, match="workers must be a whole number from 1 to") as info:
        veil.run(SAMPLE_POLICY, "credit_scoring", sample_file, tmp_path / "o.parquet",
                 workers=workers, workspace=tmp_path / "nowhere")  # checked first of all
    assert info.value.where == "--workers"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("workers", ["0", str((os.cpu_count() or 1) + 1)])
def test_cli_bad_workers_is_one_line_naming_the_bound(workers: str, sample_file: Path,
                                                      tmp_path: Path, capsys) -> None:
    """Like every number option of the CLI: exit 2, and the message says the bound."""
    capsys.readouterr()
    code = main(["run", "-p", "sample", "--purpose", "credit_scoring", str(sample_file),
                 "-o", str(tmp_path / "o.parquet"), "--workers", workers])
    err = capsys.readouterr().err
    assert code == 2
    assert "--workers" in err and "than or equal to" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []
