"""Hostile policy files (issue 25 item 1): bounded size, depth and alias expansion, one clear
error naming the file and line, quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from veil.errors import PolicyError
from veil.policy import load_policy
from veil.policy.yamlines import MAX_BYTES


def _laughs() -> str:
    text, prev = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n', "a"
    for name in "bcdefghi":
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
        prev = name
    return text


@pytest.mark.parametrize(("text", "message"), [
    (_laughs(), "expands to more than"),
    ("a: &x\n  - *x\n", "refers to itself"),
    ("a: " + "[" * 50_000 + "]" * 50_000 + "\n", "nested more than 64 levels"),
    ("".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "v: 1\n",
     "nested more than 64 levels"),
    ("a: 1\n" + "#" * (MAX_BYTES + 1), "larger than"),
])
def test_hostile_policy_files_get_one_clear_error_fast(tmp_path: Path, text: str,
                                                       message: str) -> None:
    p = tmp_path / "hostile.yaml"
    p.write_text(text, "utf-8")
    t0 = time.process_time()
    with pytest.raises(PolicyError) as err:
        load_policy(p)
    assert time.process_time() - t0 < 30  # bounded: no exponential expansion
    assert message in str(err.value) and str(p) in str(err.value.where)
    assert "\n" not in str(err.value)


def test_the_cli_exits_3_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from veil.cli.main import main

    p = tmp_path / "laughs.yaml"
    p.write_text(_laughs(), "utf-8")
    assert main(["policy", "check", str(p)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "expands to more than" in err
