"""The Runs pages through the real app, over a real run: the list (with the output's expiry) and
one receipt made readable (rows in and out and why rows were dropped, fields, digests, the
audit head, retention); a failed run says why; bad ids and pages get one-line pages."""

from __future__ import annotations

import hashlib
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.ui.conftest import XSS, Site
from veil.consent import Ledger


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


@pytest.fixture
def ran(site: Site) -> dict:
    """A run of `offers` over five customers, three of whom consented: its receipt."""
    import veil

    ledger = Ledger(site.ws, site.policy)
    for i in range(3):
        ledger.grant(f"C-{i}", "offers", channel="web_form", action="clicked 'I agree'",
                     collector="web")
    src = site.root / "customers.csv"
    src.write_text("customer_id,email,balance\n" + "".join(
        f"C-{i},c{i}@example.com,{100 * i}.5\n" for i in range(5)), "utf-8")
    out = site.root / "offers.parquet"
    veil.run(site.root / "policy.yaml", "offers", src, out, workspace=site.ws)
    return json.loads(Path(str(out) + ".receipt.json").read_text("utf-8"))


def test_the_list_shows_each_run_with_its_output_expiry(site: Site, ran: dict) -> None:
    r = site.client("dpo").get("/ui/runs")
    assert r.status_code == 200
    t = text(r.text)
    assert "1 runs recorded: 1 succeeded" in t
    assert f'href="/ui/runs/{ran["run_id"]}"' in r.text
    assert "offers customers 5 3" in t
    assert str(int(ran["purpose"]["expires_at"][:4])) in t  # the output's expiry date


def test_a_receipt_made_readable(site: Site, ran: dict) -> None:
    r = site.client("engineer").get(f"/ui/runs/{ran['run_id']}")
    assert r.status_code == 200
    t = text(r.text)
    assert "Rows: 5 in, 3 out" in t
    chart = re.search(r'id="run-rows".*?</table>', r.text, re.S).group(0)
    assert 'data-chart="hbar"' in chart
    assert re.findall(r'<th scope="row">([^<]+)</th><td data-v="(\d+)"', chart) == [
        ("written to the output", "3"), ("dropped: no consent", "2")]
    assert "Kept as they are (2) customer_id balance" in t and "Transformed (0)" in t
    assert "email not needed for purpose" in t  # dropped by minimization, with the reason
    assert ran["output"]["sha256"] in r.text and ran["input"]["sha256"] in r.text
    assert ran["audit"]["root"] in r.text and f"size {ran['audit']['tree_size']:,}" in t
    assert "Rule 2 years" in t and "State live" in t
    assert "consent 5 3" in t  # the consent stage: 5 rows in, 3 out


def test_a_failed_run_says_why_and_names_no_one(site: Site) -> None:
    from veil.store.schema import runs

    run_id = hashlib.sha256(b"failed").hexdigest()[:32]
    with site.ws.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id=run_id, started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
            status="failed", actor="tests", purpose="offers", dataset="customers",
            policy_path="policy.yaml", policy_digest="0" * 64, input_ref=f"in{XSS}.csv",
            output_ref="out.parquet", error=f"customers.csv:3: expected 3 fields {XSS}"))
    c = site.client("auditor")
    assert "failed" in text(c.get("/ui/runs").text)
    r = c.get(f"/ui/runs/{run_id}")
    assert r.status_code == 200
    assert "The run failed: customers.csv:3: expected 3 fields" in text(r.text)
    assert XSS not in r.text and "&lt;script&gt;" in r.text
    assert "the run published no output" in r.text


@pytest.mark.parametrize(("path", "status", "message"), [
    ("/ui/runs/not-a-run", 404, "hexadecimal"),
    ("/ui/runs/abcdef0123", 404, "no run with id"),
    ("/ui/runs?p=0", 422, "Pages are numbered"),
    ("/ui/runs?p=x", 422, "Pages are numbered"),
])
def test_bad_ids_and_pages_get_one_line(site: Site, path: str, status: int, message: str) -> None:
    r = site.client("dpo").get(path)
    assert r.status_code == status and message in r.text and "Traceback" not in r.text


def test_roles_without_the_records_permission_see_no_runs(site: Site) -> None:
    c = site.client("reviewer")
    assert 'href="/ui/runs"' not in c.get("/ui/").text
    assert c.get("/ui/runs").status_code == 403


def test_risk_figures_and_transforms_of_a_receipt(site: Site) -> None:
    """A receipt with a risk gate and transforms (as the pipeline writes them) on the page."""
    from veil.store.schema import runs

    receipt = {
        "rows": {"in": 1000, "out": 960, "dropped": {"suppressed (risk gate)": 40}},
        "fields": {"kept": ["sex"], "dropped": [],
                   "transformed": {"age": {"transform": "generalize",
                                           "params": {"method": "interval", "width": 10}},
                                   "id": {"transform": "pseudonymize", "params": {},
                                          "algorithm": "HMAC-SHA256"}}},
        "risk": {"outcome": "generalized", "quasi_identifiers": ["age", "sex"],
                 "quasi_identifiers_not_released": [], "suppression_limit": 0.04,
                 "rows": {"in": 1000, "out": 960, "suppressed": 40},
                 "checks_before": [{"model": "k-anonymity", "k": 5, "figure": "k",
                                    "value": 2, "requirement": ">= 5", "passed": False}],
                 "checks_after": [{"model": "k-anonymity", "k": 5, "figure": "k",
                                   "value": 7, "requirement": ">= 5", "passed": True}],
                 "before": {"records": 1000, "classes": 400, "k": 2,
                            "prosecutor_risk_highest": 0.5},
                 "after": {"records": 960, "classes": 90, "k": 7,
                           "prosecutor_risk_highest": 0.1429}},
    }
    run_id = "ab" * 16
    with site.ws.engine.begin() as conn:
        conn.execute(runs.insert().values(
            id=run_id, started_at=datetime.now(UTC), finished_at=datetime.now(UTC),
            status="succeeded", actor="tests", purpose="scoring", dataset="customers",
            policy_path="policy.yaml", policy_digest="0" * 64, input_ref="in.csv",
            output_ref="out.parquet", rows_in=1000, rows_out=960, receipt=receipt))
    t = text(site.client("dpo").get(f"/ui/runs/{run_id}").text)
    assert "age generalize method=interval; width=10" in t
    assert "id pseudonymize algorithm: HMAC-SHA256" in t
    assert "Outcome generalized" in t and "Quasi-identifiers age, sex" in t
    assert "k (smallest class) 2 7" in t and "highest re-identification risk 0.5 0.1429" in t
    assert "before model=k-anonymity, k=5 k 2 >= 5 no" in t
    assert "after model=k-anonymity, k=5 k 7 >= 5 yes" in t
    assert "dropped: suppressed (risk gate) 40" in t
