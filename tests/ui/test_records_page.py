"""The Records pages through the real app: the Art. 30 records of every purpose (the same
record `veil ropa` writes), each purpose's DPIA draft (the same draft `veil dpia` writes),
printable; unknown purposes and roles without the permission are refused."""

from __future__ import annotations

import html
import re

from tests.ui.conftest import Site
from veil.dpia import draft_dpia
from veil.ropa import build_ropa


def text(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_records_of_every_purpose(site: Site) -> None:
    r = site.client("auditor").get("/ui/records")
    assert r.status_code == 200
    t = text(r.text)
    ropa = build_ropa(site.policy)
    assert [x["purpose_id"] for x in ropa["records"]] == ["offers", "scoring"]
    for purpose in ("offers", "scoring"):
        assert f"Purpose {purpose}" in t and f'href="/ui/records/dpia/{purpose}"' in r.text
    assert t.count("(g) Security measures") == 2
    assert "(b) Legal basis Art. 6(1)(a) consent (consent required)" in t
    assert "(f) Time limit for erasure 2 years (P2Y)" in t
    assert "(a) Controller Test Bank SE, privacy@test-bank.example, Teststrasse 1" in t
    for missing in ropa["missing"]:
        assert missing in t  # what the policy does not say is flagged
    assert 'href="/ui/static/pages.css"' in r.text  # the print stylesheet


def test_the_dpia_draft_of_a_purpose(site: Site) -> None:
    draft = draft_dpia(site.policy, "scoring", site.ws)
    r = site.client("engineer").get("/ui/records/dpia/scoring")
    assert r.status_code == 200
    t = text(r.text)
    met = sum(1 for c in draft.criteria if c["met"])
    assert f"{met} of {len(draft.criteria)} criteria met" in t
    assert "1. Systematic description (Art. 35(7)(a))" in t
    assert "Automated decisions (Art. 22) Approve or refuse a loan application" in t
    assert "No succeeded run of this purpose in the workspace" in t
    for q in draft.open_risks:
        assert q in t
    for s in draft.safeguards:
        assert s in t


def test_an_unknown_purpose_is_not_found(site: Site) -> None:
    c = site.client("dpo")
    for path in ("/ui/records/dpia/nope", "/ui/records/dpia/%3Cscript%3E"):
        r = c.get(path)
        assert r.status_code == 404 and "no purpose by that name" in r.text
        assert "<script>" not in r.text.split("<main")[1]


def test_roles_without_the_records_permission_are_refused(site: Site) -> None:
    c = site.client("service")
    assert 'href="/ui/records"' not in c.get("/ui/").text
    assert c.get("/ui/records").status_code == 403
    assert c.get("/ui/records/dpia/offers").status_code == 403
