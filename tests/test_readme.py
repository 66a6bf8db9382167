"""Docs that run: the README's quickstarts run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_two_commands_are_the_scripts_ci_uses() -> None:
    first = blocks("bash")[0]
    assert "bash scripts/demo.sh" in first and "bash scripts/test.sh" in first
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text()


def test_cli_quickstart_runs_as_written(readme_quickstart) -> None:
    """The CLI block runs as written: the session's run is it followed by the DPO block."""
    r = readme_quickstart.result
    assert r.args[-1].startswith(next(b for b in blocks("bash")
                                      if b.startswith("source .venv/bin/activate")))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    q = readme_quickstart.fresh() / "quickstart"
    assert (q / "credit.parquet").is_file() and (q / "credit.parquet.receipt.json").is_file()
    assert (q / "records" / "ropa.md").is_file()


def test_dpo_commands_run_as_written(readme_quickstart) -> None:
    r = readme_quickstart.result
    assert r.args[-1].endswith(next(b for b in blocks("bash") if "veil consent import" in b))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "VERIFIED" in r.stdout
    assert (readme_quickstart.fresh() / "quickstart" / "offers.parquet").is_file()


def test_library_quickstart_runs_as_written(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VEIL_DATABASE_URL", raising=False)
    monkeypatch.delenv("VEIL_KEK", raising=False)
    code = next(b for b in blocks("python") if "import veil" in b)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        for var in ("VEIL_KEK", "VEIL_KEK_PASSPHRASE"):  # the snippet sets it for its process
            os.environ.pop(var, None)
    assert "'out': 5000" in capsys.readouterr().out
    assert (tmp_path / "lib-demo" / "fraud.parquet").is_file()


def test_policy_example_in_readme_is_valid() -> None:
    from veil.policy import parse_policy

    yaml_block = blocks("yaml")[0]
    policy = parse_policy(yaml_block, source="README.md")
    assert "credit_scoring" in policy.purposes


def test_every_treatment_example_in_the_readme_passes_the_policy_check() -> None:
    from veil.pipeline.plan import check_treatments
    from veil.policy import parse_policy
    from veil.transforms import REGISTRY

    rows = re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", README, flags=re.M)
    assert {name for name, _ in rows} == set(REGISTRY), "README lists every transform"
    types = {"amount": "float", "birth_date": "date", "transaction_time": "timestamp",
             "annual_income": "float"}
    categories = {"memo": "free_text", "card_number": "card", "iban": "account",
                  "amount": "transaction", "annual_income": "income_credit"}
    for name, example in rows:
        field = example.split(":", 1)[0]
        text = f"""
controller: {{name: B, contact: c}}
datasets:
  d:
    subject_id: sid
    fields:
      sid: direct_identifier
      {field}: {{category: {categories.get(field, "direct_identifier")},
                 type: {types.get(field, "string")}}}
purposes:
  p:
    description: x
    legal_basis: contract
    retention: 1 year
    datasets: {{d: {{fields: {{{example}}}}}}}
"""
        check_treatments(parse_policy(text, source=f"README:{name}"))
