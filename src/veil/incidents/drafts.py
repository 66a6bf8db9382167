"""Drafts a DPO sends or keeps: the Art. 33(3) notification to the supervisory authority (JSON,
Markdown, HTML), the plain-language Art. 34(2) notice to the people affected, and the Art. 33(5)
breach register (CSV, JSON) covering every breach, notified or not.

Documents are built once as a list of blocks and rendered to Markdown and HTML; every value is
escaped for its format (HTML entities; Markdown punctuation and angle brackets), so a title or
description cannot inject markup. Files are written atomically. Required contents the record
lacks (no DPO contact, no authority in the policy, no measures yet) are written as ``MISSING: ...``
and listed under ``missing``, never left out silently.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.errors import InputError
from veil.incidents.clock import iso, local
from veil.io.writers import atomic_write_bytes
from veil.policy.taxonomy import BUILTIN_CATEGORIES

if TYPE_CHECKING:
    from veil.incidents.register import Breach, Breaches

FORMAT = "veil-breach-notification/v1"
REGISTER_FORMAT = "veil-breach-register/v1"

#: Likely consequences for the people affected, by data category (Art. 33(3)(c)).
CONSEQUENCES: dict[str, str] = {
    "card": "fraudulent card payments with the exposed card numbers",
    "account": "unauthorised direct debits or payment fraud using the account details",
    "transaction": "disclosure of spending habits and financial situation; targeted fraud",
    "income_credit": "disclosure of income, balances or creditworthiness; discrimination or "
                     "targeted fraud",
    "government_id": "identity theft using the government identifiers",
    "contact": "phishing, spam and social-engineering attempts",
    "direct_identifier": "the people concerned can be identified directly",
    "location": "disclosure of where people live; nuisance or risk to physical safety",
    "online_identifier": "tracking and profiling across services",
    "demographic": "profiling on age, gender or nationality",
    "employment": "disclosure of employment situation",
    "free_text": "free-text notes may reveal further personal details",
    "inferred": "disclosure of scores or assessments made about the person",
}
_SPECIAL = "discrimination, reputational damage and distress (special category data)"
_CRIMINAL = "reputational damage and discrimination (criminal offence data)"

#: What the people affected can do themselves (Art. 34(2) with Art. 33(3)(d)).
ADVICE: dict[str, str] = {
    "card": "Check your card statements and tell us at once about any payment you do not "
            "recognise; we can block your card and send you a new one.",
    "account": "Check your account for direct debits or transfers you did not authorise.",
    "contact": "Be wary of e-mails, texts or calls that ask for passwords, PINs or codes: we "
               "never ask for them.",
    "government_id": "Watch for letters about credit or accounts you did not apply for; you "
                     "can ask a credit agency to flag your file.",
    "transaction": "Be wary of messages that quote your recent purchases to win your trust.",
}


# ------------------------------------------------------------------------------- rendering

Block = tuple[str, Any]
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: Any) -> str:
    """Text safe in Markdown: punctuation backslash-escaped, HTML metacharacters as entities."""
    s = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = " ".join(_MD_SPECIAL.sub(r"\\\1", s).split("\n"))
    return "\\" + s if s[:1] in ("#", "-", "+", "=") else s


def render_markdown(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    for kind, content in blocks:
        if kind == "h1":
            out.append(f"# {md_escape(content)}\n")
        elif kind == "h2":
            out.append(f"## {md_escape(content)}\n")
        elif kind == "p":
            out.append(f"{md_escape(content)}\n")
        elif kind == "ul":
            out.append("".join(f"- {md_escape(x)}\n" for x in content))
        elif kind == "table":
            rows = ["| item | value |", "|---|---|"]
            rows += [f"| {md_escape(k)} | {md_escape(v)} |" for k, v in content]
            out.append("\n".join(rows) + "\n")
    return "\n".join(out)


def render_html(blocks: Sequence[Block], title: str) -> str:
    e = html.escape
    body: list[str] = []
    for kind, content in blocks:
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{e(str(content))}</{kind}>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{e(str(x))}</li>" for x in content) + "</ul>")
        elif kind == "table":
            body.append("<table>" + "".join(
                f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in content)
                + "</table>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{e(title)}</title><style>body{{font-family:sans-serif;max-width:50em;"
            "margin:2em auto}th{text-align:left;padding-right:1em;vertical-align:top}</style>"
            "</head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# ------------------------------------------------------------------------------- content


def _category_rows(b: Breach) -> list[dict[str, Any]]:
    scope = b.scope or {}
    rows = []
    for c in scope.get("categories") or []:
        k = BUILTIN_CATEGORIES.get(c)
        rows.append({"id": c, "description": k.description if k else c,
                     "special": c in (scope.get("special") or []),
                     "criminal": c in (scope.get("criminal") or []),
                     "financial": c in (scope.get("financial") or []),
                     "intelligible": c in (scope.get("intelligible_categories") or [])})
    return rows


def likely_consequences(b: Breach) -> list[str]:
    """Derived from the intelligible categories, then the DPO's own assessment."""
    scope = b.scope or {}
    out: list[str] = []
    if scope.get("all_unintelligible"):
        out.append("none expected for the people concerned: the data is encrypted and the key "
                   "was not exposed")
    else:
        cats = scope.get("intelligible_categories") or []
        out += [CONSEQUENCES[c] for c in cats if c in CONSEQUENCES]
        if scope.get("special"):
            out.append(_SPECIAL)
        if scope.get("criminal"):
            out.append(_CRIMINAL)
    if "availability" in b.nature:
        out.append("the data was unavailable; services relying on it may have been disrupted")
    if "integrity" in b.nature:
        out.append("decisions may have been taken on altered data")
    return out + list(b.consequences)


def _measures(b: Breach) -> list[str]:
    facts: list[str] = []
    for it in (b.scope or {}).get("items", []):
        if it.get("unintelligible"):
            facts.append(f"{it['kind']} {it['ref']} was encrypted at rest (Tink AES-GCM-HKDF "
                         f"streaming, keyset '{it.get('keyset')}') and its key was not exposed")
    return list(b.measures) + facts


def notification(b: Breach, *, tz: str | None = None, now: datetime | None = None,
                 phase: str | None = None) -> dict[str, Any]:
    """The Art. 33(3) notification as a JSON-ready dict (contents (a)-(d) and the timeline)."""
    now = now or datetime.now(UTC)
    tz = tz or b.timezone
    ctl = b.controller or {}
    scope = b.scope or {}
    a = b.assessment or {}
    missing: list[str] = []
    authority = ctl.get("supervisory_authority")
    if not authority:
        missing.append("supervisory authority (controller.supervisory_authority in the policy)")
    dpo = ctl.get("dpo") or None
    if dpo:
        contact = ", ".join(str(v) for v in (dpo.get("name"), dpo.get("email"), dpo.get("phone"),
                                             dpo.get("address")) if v)
    elif ctl.get("contact"):
        contact = f"{ctl.get('name')}, {ctl['contact']}"
    else:
        contact = None
        missing.append("DPO or other contact point (Art. 33(3)(b): controller.dpo in the policy)")
    measures = _measures(b)
    if not measures:
        missing.append("measures taken or proposed (Art. 33(3)(d): veil breach update "
                       "--measure)")
    if b.assessment is None:
        missing.append("risk assessment (veil breach assess)")
    elif a.get("stale"):
        missing.append("an up-to-date risk assessment (the record changed since: assess again)")
    clk = b.clock(now)
    first = b.first_authority_notification()
    delays = [n["delay_reason"] for n in b.notifications
              if n["recipient"] == "authority" and n.get("delay_reason")]
    late = clk.state in ("overdue", "notified_late") or (first is None and now > clk.deadline)
    if late and not delays:
        missing.append("reasons for the delay (Art. 33(1): notified after 72 hours)")
    final = any(n["recipient"] == "authority" and n["phase"] in ("final", "single")
                for n in b.notifications)
    who = sorted({str(i.get("subject_kind")) for i in scope.get("items", [])
                  if i.get("subject_kind")})
    subj = scope.get("subjects") or {}
    recs = scope.get("records") or {}
    return {
        "format": FORMAT,
        "breach": b.ref,
        "title": b.title,
        "status": b.status,
        "phase": phase or ("initial" if first is None and b.status == "open" else "follow_up"),
        "further_information_to_follow": not final and b.status == "open",
        "addressed_to": authority or "MISSING: supervisory authority",
        "controller": {"name": ctl.get("name"), "contact": ctl.get("contact"),
                       "address": ctl.get("address")} if ctl else "MISSING: controller",
        "contact_point": contact or "MISSING: DPO or other contact point",
        "timeline": {
            "occurred_at": iso(b.occurred_at),
            "occurred_until": iso(b.occurred_until) if b.occurred_until else None,
            "aware_at": iso(b.aware_at),
            "deadline": iso(clk.deadline),
            "deadline_local": local(clk.deadline, tz),
            "clock": clk.text(tz),
            "notified_at": iso(clk.notified_at) if clk.notified_at else None,
            "late": late,
            "reasons_for_delay": delays,
        },
        "nature": {"types": b.nature, "description": b.description or b.title},
        "subjects": {"categories": who or ["MISSING: categories of data subjects"],
                     "approximate_number": subj.get("count"), "exact": subj.get("exact"),
                     "upper_bound": subj.get("upper_bound"), "source": subj.get("source")},
        "records": {"approximate_number": recs.get("count"), "exact": recs.get("exact")},
        "data_categories": _category_rows(b),
        "special_categories": scope.get("special") or [],
        "financial_data": scope.get("financial") or [],
        "likely_consequences": likely_consequences(b),
        "measures": measures or ["MISSING: measures taken or proposed"],
        "risk_assessment": ({k: a.get(k) for k in ("method", "severity", "score", "likelihood",
                                                   "risk", "decision", "computed_decision",
                                                   "override", "exceptions",
                                                   "subjects_communication")}
                            if a else None),
        "exposed": [{k: i.get(k) for k in ("kind", "ref", "run_id", "output", "purpose",
                                           "dataset", "records", "subjects", "encrypted",
                                           "key_safe")} for i in scope.get("items", [])],
        "generated_at": iso(now),
        "missing": missing,
    }


def notification_blocks(n: dict[str, Any]) -> list[Block]:
    tl = n["timeline"]
    auth = n["addressed_to"]
    auth_line = (", ".join(str(v) for v in auth.values() if v) if isinstance(auth, dict)
                 else auth)
    ctl = n["controller"]
    ctl_line = (", ".join(str(v) for v in ctl.values() if v) if isinstance(ctl, dict) else ctl)
    subj, recs = n["subjects"], n["records"]
    approx = "" if subj.get("exact") else " (approximate)"
    blocks: list[Block] = [
        ("h1", f"Personal data breach notification {n['breach']} (Art. 33 GDPR)"),
        ("table", [("To", auth_line), ("Controller", ctl_line),
                   ("DPO / contact point (Art. 33(3)(b))", n["contact_point"]),
                   ("Phase", n["phase"] + (" - further information will follow "
                                           "(Art. 33(4))"
                                           if n["further_information_to_follow"] else "")),
                   ("Breach occurred", tl["occurred_at"] + (f" until {tl['occurred_until']}"
                                                            if tl["occurred_until"] else "")),
                   ("Controller became aware", tl["aware_at"]),
                   ("72-hour deadline", f"{tl['deadline']} ({tl['deadline_local']})"),
                   ("Status", tl["clock"])]),
        ("h2", "Nature of the breach (Art. 33(3)(a))"),
        ("p", n["title"] if n["nature"]["description"] == n["title"]
         else f"{n['title']}: {n['nature']['description']}"),
        ("p", "Type: loss of " + ", ".join(n["nature"]["types"])),
        ("table", [("Categories of data subjects", ", ".join(subj["categories"])),
                   ("Number of data subjects", f"{subj['approximate_number']}{approx}"
                    + (f", at most {subj['upper_bound']}"
                       if subj.get("upper_bound") != subj["approximate_number"] else "")),
                   ("Number of personal data records",
                    f"{recs['approximate_number']}"
                    + ("" if recs.get("exact") else " (approximate)")),
                   ("Special categories (Art. 9/10)",
                    ", ".join(n["special_categories"]) or "none"),
                   ("Financial data", ", ".join(n["financial_data"]) or "none")]),
        ("h2", "Categories of personal data"),
        ("ul", [f"{c['id']}: {c['description']}"
                + ("" if c["intelligible"] else " (encrypted, unintelligible)")
                for c in n["data_categories"]] or ["none recorded"]),
        ("h2", "Likely consequences (Art. 33(3)(c))"),
        ("ul", n["likely_consequences"] or ["none identified"]),
        ("h2", "Measures taken or proposed (Art. 33(3)(d))"),
        ("ul", n["measures"]),
    ]
    a = n["risk_assessment"]
    if a:
        blocks += [("h2", "Risk assessment"),
                   ("table", [("Method", a["method"]),
                              ("Severity", f"{a['severity']} (score {a['score']})"),
                              ("Likelihood", a["likelihood"]), ("Result", a["risk"]),
                              ("Decision", a["decision"]
                               + (f" (override: {a['override']['reason']})"
                                  if a.get("override") else "")),
                              ("Communication to subjects", a["subjects_communication"])]
                    + [(f"Exception {e['exception']}", e["reason"])
                       for e in a.get("exceptions") or []])]
    if tl["reasons_for_delay"] or tl["late"]:
        blocks += [("h2", "Reasons for the delay (Art. 33(1))"),
                   ("ul", tl["reasons_for_delay"] or ["MISSING: reasons for the delay"])]
    if n["missing"]:
        blocks += [("h2", "Missing before sending"), ("ul", n["missing"])]
    return blocks


def subject_notice(b: Breach, *, now: datetime | None = None) -> tuple[list[Block], list[str]]:
    """The plain-language Art. 34(2) notice to the people affected, and what it lacks."""
    ctl = b.controller or {}
    scope = b.scope or {}
    missing: list[str] = []
    dpo = ctl.get("dpo") or {}
    contact = ", ".join(str(v) for v in (dpo.get("name"), dpo.get("email"), dpo.get("phone"))
                        if v) or ctl.get("contact")
    if not contact:
        missing.append("a contact point (controller.dpo in the policy)")
    name = ctl.get("name") or "We"
    cats = scope.get("intelligible_categories") or scope.get("categories") or []
    what = [BUILTIN_CATEGORIES[c].description if c in BUILTIN_CATEGORIES else c for c in cats]
    measures = list(b.measures)
    if not measures:
        missing.append("what we have done (veil breach update --measure)")
    advice = [ADVICE[c] for c in cats if c in ADVICE]
    advice.append("If you have questions, or think you are affected in a way not described "
                  "here, contact us (details below).")
    auth = ctl.get("supervisory_authority") or {}
    blocks: list[Block] = [
        ("h1", "Important: a security incident involving your personal data"),
        ("p", f"{name} is writing to tell you about an incident that affects some of your "
              "personal data. We are sorry this happened."),
        ("h2", "What happened"),
        ("p", f"{b.description or b.title} (started {b.occurred_at:%d %B %Y}; we found out on "
              f"{b.aware_at:%d %B %Y})."),
        ("h2", "What information was involved"),
        ("ul", what or ["MISSING: categories of data"]),
        ("h2", "What this may mean for you"),
        ("ul", likely_consequences(b) or ["We do not expect harm, but want you to know."]),
        ("h2", "What we have done"),
        ("ul", measures or ["MISSING: measures taken"]),
        ("h2", "What you can do"),
        ("ul", advice),
        ("h2", "Contact"),
        ("p", f"Our data protection officer: {contact or 'MISSING: contact point'}."),
    ]
    if auth:
        blocks.append(("p", "You also have the right to complain to the supervisory authority: "
                            + ", ".join(str(v) for v in auth.values() if v) + "."))
    if missing:
        blocks += [("h2", "Missing before sending"), ("ul", missing)]
    return blocks, missing


# ------------------------------------------------------------------------------- files


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def write_drafts(reg: Breaches, ref: str | int, out_dir: str | Path, *, tz: str | None = None,
                 now: datetime | None = None) -> dict[str, Path]:
    """Write ``BR-0001.authority.{json,md,html}`` and ``BR-0001.subjects.{md,html}`` into
    ``out_dir``; returns them by kind. Recorded as a step and an audit event (digests)."""
    b = reg.get(ref)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("not a folder", where=str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", where=str(out)) from None
    n = notification(b, tz=tz, now=now)
    blocks = notification_blocks(n)
    sblocks, _ = subject_notice(b, now=now)
    title = f"Breach notification {b.ref}"
    files = {
        "authority.json": _json_bytes(n),
        "authority.md": render_markdown(blocks).encode(),
        "authority.html": render_html(blocks, title).encode(),
        "subjects.md": render_markdown(sblocks).encode(),
        "subjects.html": render_html(sblocks, "A security incident involving your data")
        .encode(),
    }
    paths: dict[str, Path] = {}
    for kind, data in files.items():
        p = out / f"{b.ref}.{kind}"
        try:
            atomic_write_bytes(p, data)
        except OSError as exc:
            raise InputError(f"cannot write the draft: {exc.strerror}", where=str(p)) from None
        paths[kind] = p
    reg.record_draft(b, "authority+subjects", {
        k.replace(".", "_"): "sha256:" + hashlib.sha256(v).hexdigest() for k, v in files.items()})
    return paths


REGISTER_COLUMNS = (
    "id", "title", "status", "nature", "occurred_at", "occurred_until", "aware_at", "deadline",
    "subjects", "subjects_exact", "records", "categories", "special_categories",
    "financial_data", "encrypted_key_safe", "severity", "likelihood", "decision",
    "decision_override", "exceptions", "authority_notified_at", "notified_late",
    "reasons_for_delay", "subjects_notified_at", "consequences", "measures", "closed_at",
    "close_reason", "created_by",
)


def register_row(b: Breach) -> dict[str, Any]:
    """One breach as a row of the Art. 33(5) register: facts, effects, remedial action."""
    scope = b.scope or {}
    a = b.assessment or {}
    auth = [n for n in b.notifications if n["recipient"] == "authority"]
    subj = [n for n in b.notifications if n["recipient"] in ("subjects", "public")]
    return {
        "id": b.ref, "title": b.title, "status": b.status, "nature": ", ".join(b.nature),
        "occurred_at": iso(b.occurred_at),
        "occurred_until": iso(b.occurred_until) if b.occurred_until else "",
        "aware_at": iso(b.aware_at), "deadline": iso(b.clock().deadline),
        "subjects": (scope.get("subjects") or {}).get("count", ""),
        "subjects_exact": (scope.get("subjects") or {}).get("exact", ""),
        "records": (scope.get("records") or {}).get("count", ""),
        "categories": ", ".join(scope.get("categories") or []),
        "special_categories": ", ".join((scope.get("special") or [])
                                        + (scope.get("criminal") or [])),
        "financial_data": ", ".join(scope.get("financial") or []),
        "encrypted_key_safe": bool(scope.get("all_unintelligible")),
        "severity": a.get("severity", ""), "likelihood": a.get("likelihood", ""),
        "decision": b.decision or "not assessed",
        "decision_override": (a.get("override") or {}).get("reason", "") if a else "",
        "exceptions": "; ".join(f"{e['exception']}: {e['reason']}"
                                for e in a.get("exceptions") or []),
        "authority_notified_at": auth[0]["sent_at"] if auth else "",
        "notified_late": any(n["late"] for n in auth),
        "reasons_for_delay": "; ".join(n["delay_reason"] for n in auth if n["delay_reason"]),
        "subjects_notified_at": subj[0]["sent_at"] if subj else "",
        "consequences": "; ".join(likely_consequences(b)),
        "measures": "; ".join(_measures(b)),
        "closed_at": iso(b.closed_at) if b.closed_at else "",
        "close_reason": b.close_reason or "", "created_by": b.created_by,
    }


def _csv_cell(v: Any) -> str:
    s = str(v)
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection).
    return "'" + s if s[:1] in ("=", "+", "-", "@", "\t", "\r") else s


def export_register(reg: Breaches, out_dir: str | Path,
                    name: str = "breach-register") -> dict[str, Path]:
    """Write the whole register (every breach, notified or not) as CSV and JSON."""
    all_b = reg.list()
    rows = [register_row(b) for b in all_b]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=REGISTER_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_cell(v) for k, v in r.items()})
    data_csv = buf.getvalue().encode()
    data_json = _json_bytes({"format": REGISTER_FORMAT, "generated_at": iso(datetime.now(UTC)),
                             "breaches": [{**r, "record": b.to_json()}
                                          for r, b in zip(rows, all_b, strict=True)]})
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", where=str(out)) from None
    paths = {"csv": out / f"{name}.csv", "json": out / f"{name}.json"}
    for kind, data in (("csv", data_csv), ("json", data_json)):
        try:
            atomic_write_bytes(paths[kind], data)
        except OSError as exc:
            raise InputError(f"cannot write the register: {exc.strerror}",
                             where=str(paths[kind])) from None
    reg.record_export(len(rows), {"csv": "sha256:" + hashlib.sha256(data_csv).hexdigest(),
                                  "json": "sha256:" + hashlib.sha256(data_json).hexdigest()})
    return paths
