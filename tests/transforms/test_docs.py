"""docs/transforms.md runs as written: the Python example, and the YAML example passes the
policy-time checks of every treatment."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from veil.policy.model import FieldDef
from veil.transforms import REGISTRY, check_treatment

DOC = (Path(__file__).resolve().parents[2] / "docs" / "transforms.md").read_text("utf-8")
TYPES = {"birth_date": "date", "transaction_time": "timestamp", "amount": "float"}


def _block(lang: str) -> str:
    return re.findall(rf"```{lang}\n(.*?)```", DOC, flags=re.S)[0]


def test_python_example_runs() -> None:
    exec(compile(_block("python"), "docs/transforms.md", "exec"), {})


def test_yaml_example_passes_the_checks() -> None:
    doc = yaml.safe_load(_block("yaml"))
    fields = doc["purposes"]["fraud_detection"]["datasets"]["transactions"]["fields"]
    assert len(fields) == 11
    for name, treat in fields.items():
        t = treat if isinstance(treat, dict) else {"transform": treat}
        params = {k: v for k, v in t.items() if k != "transform"}
        category = "free_text" if name == "memo" else "direct_identifier"
        check_treatment(REGISTRY[t["transform"]],
                        FieldDef(category=category, type=TYPES.get(name, "string")), params)


def test_every_transform_is_documented() -> None:
    for name, t in REGISTRY.items():
        assert f"| `{name}` |" in DOC, name
        assert t.example, name


def test_cli_lists_transforms_with_examples(capsys) -> None:  # type: ignore[no-untyped-def]
    from veil.cli.main import app, main
    from veil.cli.transforms import register

    register(app)
    assert main(["transforms"]) == 0
    out = capsys.readouterr().out
    for name, t in REGISTRY.items():
        assert name in out and t.example in out
