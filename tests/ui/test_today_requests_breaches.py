"""Today, Requests and Breaches through the real app: what a DPO sees and does, what other
roles do not see, every action in the audit log with the person's identity, user text escaped,
and stale or bad forms answered with one line and nothing changed."""

from __future__ import annotations

import io
import re
import zipfile

from tests.ui.conftest import CUSTOMER, XSS, Site, csrf_of


def key_actor(site: Site, role: str) -> str:
    return "key:" + site.keys[role].split("_")[1]


def actors(site: Site, action: str) -> list[str]:
    from veil.audit.log import AuditLog

    return [e.actor for e in AuditLog(site.ws).events(action=action)]


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_today_shows_what_needs_attention_in_the_dpos_time_zone(site: Site) -> None:
    rid = site.overdue_access_request()
    ref = site.breach(hours_ago=10)
    c = site.client("dpo")
    html = c.get("/ui/").text
    text = text_of(html)
    assert f'href="/ui/requests/{rid}"' in html and "1 overdue" in text
    assert f'href="/ui/breaches/{ref}"' in html and "62.0 h" in text  # 72 - 10 hours
    assert "Times in Europe/Berlin" in text and ("CET" in text or "CEST" in text)
    assert "Consents expiring" in text and "Outputs due for retention" in text
    assert "not verified since the service started" in text
    r = c.post("/ui/audit/verify", data={"csrf": csrf_of(html)})
    assert r.status_code == 200 and "verified at size" in text_of(r.text)
    assert actors(site, "ui.audit_verify") == [key_actor(site, "dpo")]


def test_each_role_sees_only_its_parts_and_links(site: Site) -> None:
    site.overdue_access_request()
    site.breach()
    reviewer = text_of(site.client("reviewer").get("/ui/").text)
    assert "Data-subject requests" not in reviewer and "Breach clocks" not in reviewer
    assert "Contested decisions" in reviewer and "Audit log" not in reviewer
    auditor = site.client("auditor")
    page = auditor.get("/ui/").text
    assert "Data-subject requests" in page and "Audit log" in page
    assert "Consents expiring" not in page and 'href="/ui/consent"' not in page
    assert auditor.get("/ui/consent").status_code == 403
    assert auditor.get("/ui/requests").status_code == 200  # dsr.list
    rid = site.overdue_access_request()
    r = auditor.get(f"/ui/requests/{rid}")
    assert r.status_code == 403 and "dsr.read" in r.text
    assert auditor.post(f"/ui/requests/{rid}/run",
                        data={"csrf": csrf_of(page)}).status_code == 403
    assert site.client("reviewer").get("/ui/breaches").status_code == 403


def test_run_a_request_and_download_its_package(site: Site) -> None:
    rid = site.overdue_access_request()
    c = site.client("dpo")
    listing = c.get("/ui/requests").text
    assert rid in listing and "overdue" in listing
    confirm = c.get(f"/ui/requests/{rid}/confirm?action=run")
    assert confirm.status_code == 200 and "Run the request" in confirm.text
    done = c.post(f"/ui/requests/{rid}/run", data={"csrf": csrf_of(confirm.text,
                                                                    f"/ui/requests/{rid}/run")})
    assert done.status_code == 200 and "Run finished: the request is now completed" in done.text
    assert "Open the package" in done.text
    assert key_actor(site, "dpo") in actors(site, "dsr.run")
    token = csrf_of(done.text)
    refused = c.post(f"/ui/requests/{rid}/export", data={"csrf": token, "mode": "download"})
    assert refused.status_code == 422 and "reason" in refused.text
    r = c.post(f"/ui/requests/{rid}/export",
               data={"csrf": token, "reason": "sent via secure portal", "mode": "download"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert f'filename="{rid}-package.zip"' in r.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert sorted(names) == ["package.html", "package.json"]
    shown = c.post(f"/ui/requests/{rid}/export",
                   data={"csrf": token, "reason": "review before sending", "mode": "view"})
    assert shown.status_code == 200 and "ticked the box" in text_of(shown.text)
    assert actors(site, "dsr.export") == [key_actor(site, "dpo")] * 2


def test_an_erasure_shows_its_certificate(site: Site) -> None:
    from veil.lifecycle import requests

    site.overdue_access_request()  # the customer now has consent records
    rec = requests(site.ws, site.policy).open("erasure", CUSTOMER, actor="tests")
    c = site.client("dpo")
    page = c.get(f"/ui/requests/{rec.id}/confirm?action=run").text
    assert "cannot be undone" in page
    r = c.post(f"/ui/requests/{rec.id}/run", data={"csrf": csrf_of(page, f"/ui/requests/"
                                                                         f"{rec.id}/run")})
    assert r.status_code == 200 and 'id="certificate"' in r.text
    assert CUSTOMER not in r.text  # the certificate names the subject by pseudonym only


def test_stale_and_bad_forms_change_nothing(site: Site) -> None:
    rid = site.overdue_access_request()
    c = site.client("dpo")
    token = csrf_of(c.get(f"/ui/requests/{rid}").text)
    assert c.post(f"/ui/requests/{rid}/close", data={"csrf": token}).status_code == 422
    ok = c.post(f"/ui/requests/{rid}/close", data={"csrf": token, "note": f"told {XSS}"})
    assert ok.status_code == 200 and "Closed." in ok.text
    assert "<script>alert" not in ok.text and "&lt;script&gt;" in ok.text
    again = c.post(f"/ui/requests/{rid}/close", data={"csrf": token, "note": "twice"})
    assert again.status_code in (409, 422) and "Nothing was changed" in again.text
    run = c.post(f"/ui/requests/{rid}/run", data={"csrf": token})
    assert run.status_code in (409, 422) and "only open or failed" in run.text
    assert c.get("/ui/requests/zzzz9999").status_code == 404
    assert c.get("/ui/requests/not-an-id!").status_code == 404
    assert c.get("/ui/requests?status=bogus").status_code == 422


def test_a_breach_with_its_clock_drafts_and_a_recorded_notification(site: Site) -> None:
    ref = site.breach(hours_ago=70)
    c = site.client("dpo")
    page = c.get(f"/ui/breaches/{ref}")
    text = text_of(page.text)
    assert page.status_code == 200 and "2.0 hours left" in text
    assert "Art. 33 notification draft" in text and "Art. 34 notice" in text
    token = csrf_of(page.text)
    assessed = c.post(f"/ui/breaches/{ref}/assess", data={"csrf": token})
    assert "Risk assessed" in assessed.text
    bad = c.post(f"/ui/breaches/{ref}/notify", data={"csrf": token, "recipient": "press"})
    assert bad.status_code == 422
    r = c.post(f"/ui/breaches/{ref}/notify",
               data={"csrf": token, "recipient": "authority", "phase": "single",
                     "reference": "case 7", "sent_at": ""})
    assert r.status_code == 200 and "Notification recorded" in r.text and "case 7" in r.text
    assert actors(site, "breach.notify") == [key_actor(site, "dpo")]
    listing = text_of(c.get("/ui/breaches").text)
    assert ref in listing and "notified" in listing
    assert c.get("/ui/breaches/BR-9999").status_code == 404
    assert c.get("/ui/breaches/BR-x").status_code == 404
    auditor = site.client("auditor")
    seen = auditor.get(f"/ui/breaches/{ref}").text
    assert "Record a notification" not in seen  # breach.read only
    assert auditor.post(f"/ui/breaches/{ref}/assess",
                        data={"csrf": csrf_of(seen)}).status_code == 403


def test_user_text_is_escaped_everywhere(site: Site) -> None:
    ref = site.breach(title=f"Lost {XSS}", other=f"notes {XSS}")
    c = site.client("dpo")
    for path in ("/ui/", "/ui/breaches", f"/ui/breaches/{ref}"):
        html = c.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html, path
        assert "&lt;script&gt;" in html, path
    token = csrf_of(c.get(f"/ui/breaches/{ref}").text)
    r = c.post(f"/ui/breaches/{ref}/notify", data={"csrf": token, "recipient": "authority",
                                                   "reference": XSS, "channel": XSS})
    assert r.status_code == 200 and "<script>alert" not in r.text
