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
from veil.incidents.clock import iso, local, parse_time, zone
from veil.incidents.scope import records_text, subjects_text
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

#: The data categories in words for the people affected (Art. 34(2): clear and plain language).
PLAIN_CATEGORIES: dict[str, str] = {
    "direct_identifier": "your name and your customer number or login",
    "contact": "your contact details (e-mail address, phone number or postal address)",
    "government_id": "an official identification number (such as your ID card or tax number)",
    "account": "your bank account details (such as your IBAN)",
    "card": "your payment card number",
    "transaction": "details of your payments (amounts, dates, shops or payees)",
    "income_credit": "information about your income, balances, debts or credit rating",
    "location": "your address or where you were",
    "online_identifier": "online identifiers such as your IP address or device id",
    "demographic": "personal details such as your date of birth, gender or nationality",
    "employment": "information about your job or education",
    "free_text": "notes written about you, which may contain other personal details",
    "inferred": "scores or assessments we made about you",
}

#: What could happen to the people affected, in their words, by data category.
PLAIN_CONSEQUENCES: dict[str, str] = {
    "card": "Someone could try to pay with your card.",
    "account": "Someone could try to set up direct debits or payments from your account.",
    "transaction": "Someone could learn about your spending, or quote it in a fake message "
                   "to make it look genuine.",
    "income_credit": "Someone could learn about your financial situation.",
    "government_id": "Someone could try to pretend to be you, for example to apply for credit "
                     "in your name.",
    "contact": "You may receive fake e-mails, texts or calls that try to get more information "
               "or money from you.",
    "location": "Someone could learn where you live.",
    "online_identifier": "You could be tracked online.",
    "demographic": "Someone could learn personal details such as your age.",
    "employment": "Someone could learn about your job.",
    "free_text": "Someone could learn what our notes about you say.",
    "inferred": "Someone could learn how we assessed you.",
}
PHASE_TEXT = {
    "single": "single notification: complete, no further information is expected",
    "initial": "initial notification - further information will follow (Art. 33(4))",
    "follow_up": "follow-up to the notification of {first} - further information will "
                 "follow (Art. 33(4))",
    "final": "final notification, completing the notification of {first} (Art. 33(4))",
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
    """The Art. 33(3) notification as a JSON-ready dict (contents (a)-(d) and the timeline).

    ``phase`` (Art. 33(4)) defaults to ``single``, or ``follow_up`` once a notification to the
    authority is recorded; ``follow_up`` and ``final`` need one."""
    from veil.incidents.register import PHASES

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
    if phase is None:  # what comes next: the complete one, a follow-up, or the record of it
        done = any(n["recipient"] == "authority" and n["phase"] in ("single", "final")
                   for n in b.notifications)
        phase = "single" if first is None else "final" if done else "follow_up"
    if phase not in PHASES:
        raise InputError(f"phase '{phase}' is not one of {', '.join(PHASES)}", where="--phase")
    if phase in ("follow_up", "final") and first is None:
        raise InputError(f"{b.ref} has no notification to the authority yet: a {phase} "
                         "draft follows one (draft --phase single or initial)", where="--phase")
    delays = [n["delay_reason"] for n in b.notifications
              if n["recipient"] == "authority" and n.get("delay_reason")]
    late = clk.state in ("overdue", "notified_late") or (first is None and now > clk.deadline)
    if late and not delays:
        missing.append("reasons for the delay (Art. 33(1): notified after 72 hours)")
    who = sorted({str(i.get("subject_kind")) for i in scope.get("items", [])
                  if i.get("subject_kind")})
    subj = scope.get("subjects") or {}
    recs = scope.get("records") or {}
    return {
        "format": FORMAT,
        "breach": b.ref,
        "title": b.title,
        "status": b.status,
        "phase": phase,
        "phase_text": PHASE_TEXT[phase].format(
            first=local(parse_time(first["sent_at"], "sent_at"), tz) if first else ""),
        "further_information_to_follow": phase in ("initial", "follow_up"),
        "addressed_to": authority or "MISSING: supervisory authority",
        "controller": {"name": ctl.get("name"), "contact": ctl.get("contact"),
                       "address": ctl.get("address")} if ctl else "MISSING: controller",
        "contact_point": contact or "MISSING: DPO or other contact point",
        "timeline": {
            "timezone": tz or "UTC",
            "occurred_at": iso(b.occurred_at),
            "occurred_at_local": local(b.occurred_at, tz),
            "occurred_until": iso(b.occurred_until) if b.occurred_until else None,
            "occurred_until_local": local(b.occurred_until, tz) if b.occurred_until else None,
            "aware_at": iso(b.aware_at),
            "aware_at_local": local(b.aware_at, tz),
            "deadline": iso(clk.deadline),
            "deadline_local": local(clk.deadline, tz),
            "clock": clk.text(tz),
            "notified_at": iso(clk.notified_at) if clk.notified_at else None,
            "notified_at_local": local(clk.notified_at, tz) if clk.notified_at else None,
            "late": late,
            "reasons_for_delay": delays,
        },
        "nature": {"types": b.nature, "description": b.description or b.title},
        "subjects": {"categories": who or ["MISSING: categories of data subjects"],
                     "approximate_number": subj.get("count"), "exact": subj.get("exact"),
                     "upper_bound": subj.get("upper_bound"), "source": subj.get("source"),
                     "from_lineage": subj.get("from_lineage"),
                     "estimated_by_dpo": subj.get("estimated"),
                     "basis": list(subj.get("basis") or []),
                     "text": subjects_text(subj)},
        "records": {"approximate_number": recs.get("count"), "exact": recs.get("exact"),
                    "source": recs.get("source"), "estimated_by_dpo": recs.get("estimated"),
                    "text": records_text(recs)},
        "data_categories": _category_rows(b),
        "special_categories": scope.get("special") or [],
        "financial_data": scope.get("financial") or [],
        "likely_consequences": likely_consequences(b),
        "measures": measures or ["MISSING: measures taken or proposed"],
        "risk_assessment": ({k: a.get(k) for k in ("method", "severity", "score", "likelihood",
                                                   "likelihood_reason",
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
    blocks: list[Block] = [
        ("h1", f"Personal data breach notification {n['breach']} (Art. 33 GDPR)"),
        ("table", [("To", auth_line), ("Controller", ctl_line),
                   ("DPO / contact point (Art. 33(3)(b))", n["contact_point"]),
                   ("Phase", n["phase_text"]),
                   ("Breach occurred", tl["occurred_at_local"]
                    + (f" until {tl['occurred_until_local']}" if tl["occurred_until"] else "")),
                   ("Controller became aware", tl["aware_at_local"]),
                   ("72-hour deadline", f"{tl['deadline']} ({tl['deadline_local']})"),
                   ("Status", tl["clock"])]),
        ("h2", "Nature of the breach (Art. 33(3)(a))"),
        ("p", n["title"] if n["nature"]["description"] == n["title"]
         else f"{n['title']}: {n['nature']['description']}"),
        ("p", "Type: loss of " + ", ".join(n["nature"]["types"])),
        ("table", [("Categories of data subjects", ", ".join(subj["categories"])),
                   ("Number of data subjects", subj["text"]
                    + "".join(f"; {x}" for x in subj.get("basis") or [])),
                   ("Number of personal data records", recs["text"]),
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
                              ("Likelihood", a["likelihood"]
                               + (f" ({a['likelihood_reason']})"
                                  if a.get("likelihood_reason") else "")),
                              ("Result", a["risk"]),
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


def subjects_concerned(b: Breach) -> bool:
    """Does the breach's decision include telling the people affected (Art. 34)?"""
    return b.decision == "authority_and_subjects" and \
        (b.assessment or {}).get("subjects_communication") in ("individual", "public")


def _day(t: datetime, tz: str | None) -> str:
    lt = t.astimezone(zone(tz))
    return f"{lt.day} {lt:%B %Y}"


def plain_consequences(b: Breach) -> list[str]:
    """What could happen to the people affected, in plain words (no authority jargon)."""
    scope = b.scope or {}
    out: list[str] = []
    if scope.get("all_unintelligible"):
        out.append("We do not expect any harm to you: the data was encrypted and the key "
                   "needed to read it was not exposed.")
    else:
        cats = scope.get("intelligible_categories") or []
        out += [PLAIN_CONSEQUENCES[c] for c in cats if c in PLAIN_CONSEQUENCES]
        if scope.get("special") or scope.get("criminal"):
            out.append("Sensitive information about you could become known to others, which "
                       "could be distressing or lead to unfair treatment.")
    if "availability" in b.nature:
        out.append("Some of our services that use this information may not have worked for a "
                   "while.")
    if "integrity" in b.nature:
        out.append("Some of your information may have been changed without permission.")
    return out + list(b.consequences)


def subject_notice(b: Breach, *, now: datetime | None = None,
                   tz: str | None = None) -> tuple[list[Block], list[str]]:
    """The Art. 34(2) notice to the people affected, in plain language: what happened, what
    data, what it may mean for them, what we did, what they can do, whom to contact. Dates are
    days in the breach's time zone. Returns the blocks and what it lacks."""
    tz = tz or b.timezone
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
    what = [PLAIN_CATEGORIES.get(c) or (BUILTIN_CATEGORIES[c].description
                                        if c in BUILTIN_CATEGORIES else c) for c in cats
            if c != "non_personal"]
    measures = list(b.measures)
    if not measures:
        missing.append("what we have done (veil breach update --measure)")
    advice = [ADVICE[c] for c in cats if c in ADVICE]
    advice.append("If you have questions, or think you are affected in a way not described "
                  "here, contact us (details below).")
    auth = ctl.get("supervisory_authority") or {}
    started, found = _day(b.occurred_at, tz), _day(b.aware_at, tz)
    when = (f"It started on {started}, and we found out about it on {found}." if started != found
            else f"It happened on {started}, and we found out about it the same day.")
    blocks: list[Block] = [
        ("h1", "Important: a security incident involving your personal data"),
        ("p", f"{name} is writing to tell you about an incident that affects some of your "
              "personal data. We are sorry this happened."),
        ("h2", "What happened"),
        ("p", b.description or b.title),
        ("p", when),
        ("h2", "What information was involved"),
        ("ul", what or ["MISSING: what information was involved"]),
        ("h2", "What this may mean for you"),
        ("ul", plain_consequences(b) or ["We do not expect any harm to you, but we want you "
                                         "to know."]),
        ("h2", "What we have done"),
        ("ul", measures or ["MISSING: measures taken"]),
        ("h2", "What you can do"),
        ("ul", advice),
        ("h2", "Contact"),
        ("p", f"Our data protection officer: {contact or 'MISSING: contact point'}."),
    ]
    if auth:
        blocks.append(("p", "You also have the right to complain to the data protection "
                            "authority: " + ", ".join(str(v) for v in auth.values() if v) + "."))
    if missing:
        blocks += [("h2", "Missing before sending"), ("ul", missing)]
    return blocks, missing


# ------------------------------------------------------------------------------- files


def _json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode()


def write_drafts(reg: Breaches, ref: str | int, out_dir: str | Path, *, tz: str | None = None,
                 now: datetime | None = None, phase: str | None = None,
                 subjects_notice: bool | None = None) -> dict[str, Path]:
    """Write ``BR-0001.authority.{json,md,html}`` (the notification for ``phase``) and, when the
    decision includes the subjects or ``subjects_notice`` is True, ``BR-0001.subjects.{md,html}``
    into ``out_dir``; returns them by kind. Recorded as a step and an audit event (digests)."""
    b = reg.get(ref)
    if tz is not None:
        zone(tz)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("not a folder", where=str(out))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", where=str(out)) from None
    n = notification(b, tz=tz, now=now, phase=phase)
    blocks = notification_blocks(n)
    title = f"Breach notification {b.ref}"
    files = {
        "authority.json": _json_bytes(n),
        "authority.md": render_markdown(blocks).encode(),
        "authority.html": render_html(blocks, title).encode(),
    }
    if subjects_notice if subjects_notice is not None else subjects_concerned(b):
        sblocks, _ = subject_notice(b, now=now, tz=tz)
        files["subjects.md"] = render_markdown(sblocks).encode()
        files["subjects.html"] = render_html(
            sblocks, "A security incident involving your data").encode()
    paths: dict[str, Path] = {}
    for kind, data in files.items():
        p = out / f"{b.ref}.{kind}"
        try:
            atomic_write_bytes(p, data)
        except OSError as exc:
            raise InputError(f"cannot write the draft: {exc.strerror}", where=str(p)) from None
        paths[kind] = p
    kind = f"authority ({n['phase']})" + (" + subjects" if "subjects.md" in files else "")
    reg.record_draft(b, kind, {
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
