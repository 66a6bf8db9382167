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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.errors import InputError
from veil.incidents.clock import Clock, iso, local, parse_time, zone
from veil.incidents.scope import records_text, subjects_text
from veil.io.writers import atomic_write_bytes
from veil.policy.taxonomy import BUILTIN_CATEGORIES

if TYPE_CHECKING:
    from veil.incidents.breach import Breach
    from veil.incidents.register import Breaches

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


@dataclass(frozen=True)
class _Draft:
    """What a notification is drafted from: the breach, seen from ``now`` in zone ``tz``."""

    b: Breach
    tz: str | None
    now: datetime
    phase: str
    first: dict[str, Any] | None  # the first notification to the authority
    clock: Clock
    contact: str | None
    measures: list[str]
    delays: list[str]  # the reasons given for a late notification
    late: bool

    @property
    def scope(self) -> dict[str, Any]:
        return self.b.scope or {}


#: Contents Art. 33(3) needs that the record may lack: when it is lacking, and what to say.
MISSING: tuple[tuple[Callable[[_Draft], bool], str], ...] = (
    (lambda d: not (d.b.controller or {}).get("supervisory_authority"),
     "supervisory authority (controller.supervisory_authority in the policy)"),
    (lambda d: d.contact is None,
     "DPO or other contact point (Art. 33(3)(b): controller.dpo in the policy)"),
    (lambda d: not d.measures,
     "measures taken or proposed (Art. 33(3)(d): veil breach update --measure)"),
    (lambda d: d.b.assessment is None, "risk assessment (veil breach assess)"),
    (lambda d: bool((d.b.assessment or {}).get("stale")),
     "an up-to-date risk assessment (the record changed since: assess again)"),
    (lambda d: d.late and not d.delays,
     "reasons for the delay (Art. 33(1): notified after 72 hours)"),
)
#: What the notification says of the assessment, and of each exposed item.
ASSESSMENT_FIELDS = ("method", "severity", "score", "likelihood", "likelihood_reason", "risk",
                     "decision", "computed_decision", "override", "exceptions",
                     "subjects_communication")
EXPOSED_FIELDS = ("kind", "ref", "run_id", "output", "purpose", "dataset", "records",
                  "subjects", "encrypted", "key_safe")


def _contact_point(ctl: dict[str, Any]) -> str | None:
    """The DPO's name and contacts, else the controller's contact (Art. 33(3)(b))."""
    dpo = ctl.get("dpo") or None
    if dpo:
        return ", ".join(str(v) for v in (dpo.get("name"), dpo.get("email"), dpo.get("phone"),
                                          dpo.get("address")) if v)
    if ctl.get("contact"):
        return f"{ctl.get('name')}, {ctl['contact']}"
    return None


def _phase(b: Breach, phase: str | None, first: dict[str, Any] | None) -> str:
    """The phase asked for, else what comes next: the complete one, a follow-up, or the
    record of a complete one (Art. 33(4))."""
    from veil.incidents.notices import PHASES

    if phase is None:
        done = any(n["recipient"] == "authority" and n["phase"] in ("single", "final")
                   for n in b.notifications)
        phase = "single" if first is None else "final" if done else "follow_up"
    if phase not in PHASES:
        raise InputError(f"phase '{phase}' is not one of {', '.join(PHASES)}", where="--phase")
    if phase in ("follow_up", "final") and first is None:
        raise InputError(f"{b.ref} has no notification to the authority yet: a {phase} "
                         "draft follows one (draft --phase single or initial)", where="--phase")
    return phase


def _draft(b: Breach, tz: str | None, now: datetime, phase: str | None) -> _Draft:
    clk = b.clock(now)
    first = b.first_authority_notification()
    phase = _phase(b, phase, first)
    delays = [n["delay_reason"] for n in b.notifications
              if n["recipient"] == "authority" and n.get("delay_reason")]
    late = clk.state in ("overdue", "notified_late") or (first is None and now > clk.deadline)
    return _Draft(b=b, tz=tz, now=now, phase=phase, first=first, clock=clk,
                  contact=_contact_point(b.controller or {}), measures=_measures(b),
                  delays=delays, late=late)


def _timeline(d: _Draft) -> dict[str, Any]:
    b, tz, clk = d.b, d.tz, d.clock

    def both(name: str, t: datetime | None) -> dict[str, Any]:
        return {name: iso(t) if t else None, f"{name}_local": local(t, tz) if t else None}

    return {"timezone": tz or "UTC", **both("occurred_at", b.occurred_at),
            **both("occurred_until", b.occurred_until), **both("aware_at", b.aware_at),
            **both("deadline", clk.deadline), "clock": clk.text(tz),
            **both("notified_at", clk.notified_at), "late": d.late,
            "reasons_for_delay": d.delays}


def _subjects(scope: dict[str, Any]) -> dict[str, Any]:
    subj = scope.get("subjects") or {}
    who = sorted({str(i.get("subject_kind")) for i in scope.get("items", [])
                  if i.get("subject_kind")})
    return {"categories": who or ["MISSING: categories of data subjects"],
            "approximate_number": subj.get("count"), "exact": subj.get("exact"),
            "upper_bound": subj.get("upper_bound"), "source": subj.get("source"),
            "from_lineage": subj.get("from_lineage"), "estimated_by_dpo": subj.get("estimated"),
            "basis": list(subj.get("basis") or []), "text": subjects_text(subj)}


def _records(scope: dict[str, Any]) -> dict[str, Any]:
    recs = scope.get("records") or {}
    return {"approximate_number": recs.get("count"), "exact": recs.get("exact"),
            "source": recs.get("source"), "estimated_by_dpo": recs.get("estimated"),
            "text": records_text(recs)}


def notification(b: Breach, *, tz: str | None = None, now: datetime | None = None,
                 phase: str | None = None) -> dict[str, Any]:
    """The Art. 33(3) notification as a JSON-ready dict (contents (a)-(d) and the timeline).

    ``phase`` (Art. 33(4)) defaults to ``single``, or ``follow_up`` once a notification to the
    authority is recorded; ``follow_up`` and ``final`` need one."""
    d = _draft(b, tz or b.timezone, now or datetime.now(UTC), phase)
    ctl, scope, a = b.controller or {}, d.scope, b.assessment or {}
    first = d.first
    return {
        "format": FORMAT, "breach": b.ref, "title": b.title, "status": b.status,
        "phase": d.phase,
        "phase_text": PHASE_TEXT[d.phase].format(
            first=local(parse_time(first["sent_at"], "sent_at"), d.tz) if first else ""),
        "further_information_to_follow": d.phase in ("initial", "follow_up"),
        "addressed_to": ctl.get("supervisory_authority") or "MISSING: supervisory authority",
        "controller": {"name": ctl.get("name"), "contact": ctl.get("contact"),
                       "address": ctl.get("address")} if ctl else "MISSING: controller",
        "contact_point": d.contact or "MISSING: DPO or other contact point",
        "timeline": _timeline(d),
        "nature": {"types": b.nature, "description": b.description or b.title},
        "subjects": _subjects(scope),
        "records": _records(scope),
        "data_categories": _category_rows(b),
        "special_categories": scope.get("special") or [],
        "financial_data": scope.get("financial") or [],
        "likely_consequences": likely_consequences(b),
        "measures": d.measures or ["MISSING: measures taken or proposed"],
        "risk_assessment": {k: a.get(k) for k in ASSESSMENT_FIELDS} if a else None,
        "exposed": [{k: i.get(k) for k in EXPOSED_FIELDS} for i in scope.get("items", [])],
        "generated_at": iso(d.now),
        "missing": [text for lacking, text in MISSING if lacking(d)],
    }


# ------------------------------------------------------------------------------- wording

@dataclass(frozen=True)
class Section:
    """One part of a document: its heading (None: none) and blocks, when it applies."""

    heading: str | None
    blocks: Callable[[dict[str, Any]], list[Block]]
    when: Callable[[dict[str, Any]], bool] = lambda n: True


Row = tuple[str, Callable[[dict[str, Any]], Any]]


def _line(v: Any) -> Any:
    """A dict of contact details on one line (a MISSING text stays as it is)."""
    return ", ".join(str(x) for x in v.values() if x) if isinstance(v, dict) else v


def _rows(rows: Sequence[Row], data: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(label, value(data)) for label, value in rows]


def _occurred(tl: dict[str, Any]) -> str:
    return tl["occurred_at_local"] + (f" until {tl['occurred_until_local']}"
                                      if tl["occurred_until"] else "")


#: The overview table at the top of the notification.
OVERVIEW: tuple[Row, ...] = (
    ("To", lambda n: _line(n["addressed_to"])),
    ("Controller", lambda n: _line(n["controller"])),
    ("DPO / contact point (Art. 33(3)(b))", lambda n: n["contact_point"]),
    ("Phase", lambda n: n["phase_text"]),
    ("Breach occurred", lambda n: _occurred(n["timeline"])),
    ("Controller became aware", lambda n: n["timeline"]["aware_at_local"]),
    ("72-hour deadline",
     lambda n: f"{n['timeline']['deadline']} ({n['timeline']['deadline_local']})"),
    ("Status", lambda n: n["timeline"]["clock"]),
)
#: Who and how much (Art. 33(3)(a)).
FIGURES: tuple[Row, ...] = (
    ("Categories of data subjects", lambda n: ", ".join(n["subjects"]["categories"])),
    ("Number of data subjects",
     lambda n: n["subjects"]["text"] + "".join(f"; {x}" for x in n["subjects"].get("basis")
                                               or [])),
    ("Number of personal data records", lambda n: n["records"]["text"]),
    ("Special categories (Art. 9/10)", lambda n: ", ".join(n["special_categories"]) or "none"),
    ("Financial data", lambda n: ", ".join(n["financial_data"]) or "none"),
)
#: The risk assessment's table (rows read the assessment).
ASSESSMENT: tuple[Row, ...] = (
    ("Method", lambda a: a["method"]),
    ("Severity", lambda a: f"{a['severity']} (score {a['score']})"),
    ("Likelihood", lambda a: a["likelihood"] + (f" ({a['likelihood_reason']})"
                                                 if a.get("likelihood_reason") else "")),
    ("Result", lambda a: a["risk"]),
    ("Decision", lambda a: a["decision"] + (f" (override: {a['override']['reason']})"
                                             if a.get("override") else "")),
    ("Communication to subjects", lambda a: a["subjects_communication"]),
)


def _nature_text(n: dict[str, Any]) -> str:
    desc = n["nature"]["description"]
    return n["title"] if desc == n["title"] else f"{n['title']}: {desc}"


def _assessment_table(a: dict[str, Any]) -> list[Block]:
    return [("table", _rows(ASSESSMENT, a) + [(f"Exception {e['exception']}", e["reason"])
                                             for e in a.get("exceptions") or []])]


#: The notification to the authority, section by section.
NOTIFICATION: tuple[Section, ...] = (
    Section(None, lambda n: [
        ("h1", f"Personal data breach notification {n['breach']} (Art. 33 GDPR)"),
        ("table", _rows(OVERVIEW, n))]),
    Section("Nature of the breach (Art. 33(3)(a))", lambda n: [
        ("p", _nature_text(n)), ("p", "Type: loss of " + ", ".join(n["nature"]["types"])),
        ("table", _rows(FIGURES, n))]),
    Section("Categories of personal data", lambda n: [
        ("ul", [f"{c['id']}: {c['description']}"
                + ("" if c["intelligible"] else " (encrypted, unintelligible)")
                for c in n["data_categories"]] or ["none recorded"])]),
    Section("Likely consequences (Art. 33(3)(c))",
            lambda n: [("ul", n["likely_consequences"] or ["none identified"])]),
    Section("Measures taken or proposed (Art. 33(3)(d))", lambda n: [("ul", n["measures"])]),
    Section("Risk assessment", lambda n: _assessment_table(n["risk_assessment"]),
            when=lambda n: bool(n["risk_assessment"])),
    Section("Reasons for the delay (Art. 33(1))",
            lambda n: [("ul", n["timeline"]["reasons_for_delay"]
                        or ["MISSING: reasons for the delay"])],
            when=lambda n: bool(n["timeline"]["reasons_for_delay"] or n["timeline"]["late"])),
    Section("Missing before sending", lambda n: [("ul", n["missing"])],
            when=lambda n: bool(n["missing"])),
)


def render_sections(sections: Sequence[Section], data: dict[str, Any]) -> list[Block]:
    """The blocks of the sections that apply to ``data``, each under its heading."""
    blocks: list[Block] = []
    for s in sections:
        if s.when(data):
            blocks += ([("h2", s.heading)] if s.heading else []) + s.blocks(data)
    return blocks


def notification_blocks(n: dict[str, Any]) -> list[Block]:
    return render_sections(NOTIFICATION, n)


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


def _plain_contact(ctl: dict[str, Any]) -> str | None:
    dpo = ctl.get("dpo") or {}
    return ", ".join(str(v) for v in (dpo.get("name"), dpo.get("email"), dpo.get("phone"))
                     if v) or ctl.get("contact")


def _plain_categories(cats: Sequence[str]) -> list[str]:
    return [PLAIN_CATEGORIES.get(c) or (BUILTIN_CATEGORIES[c].description
                                        if c in BUILTIN_CATEGORIES else c) for c in cats
            if c != "non_personal"]


def _when(b: Breach, tz: str | None) -> str:
    started, found = _day(b.occurred_at, tz), _day(b.aware_at, tz)
    return (f"It started on {started}, and we found out about it on {found}." if started != found
            else f"It happened on {started}, and we found out about it the same day.")


def _notice_facts(b: Breach, tz: str | None) -> dict[str, Any]:
    """What the notice to the people affected says, gathered from the breach."""
    ctl = b.controller or {}
    scope = b.scope or {}
    cats = scope.get("intelligible_categories") or scope.get("categories") or []
    contact = _plain_contact(ctl)
    missing = ((["a contact point (controller.dpo in the policy)"] if not contact else [])
               + (["what we have done (veil breach update --measure)"]
                  if not b.measures else []))
    return {"name": ctl.get("name") or "We", "what_happened": b.description or b.title,
            "when": _when(b, tz), "what": _plain_categories(cats),
            "consequences": plain_consequences(b), "measures": list(b.measures),
            "advice": [ADVICE[c] for c in cats if c in ADVICE] + [
                "If you have questions, or think you are affected in a way not described "
                "here, contact us (details below)."],
            "contact": contact, "authority": ctl.get("supervisory_authority") or {},
            "missing": missing}


#: The notice to the people affected (Art. 34(2)), section by section, in plain words.
SUBJECT_NOTICE: tuple[Section, ...] = (
    Section(None, lambda f: [
        ("h1", "Important: a security incident involving your personal data"),
        ("p", f"{f['name']} is writing to tell you about an incident that affects some of your "
              "personal data. We are sorry this happened.")]),
    Section("What happened", lambda f: [("p", f["what_happened"]), ("p", f["when"])]),
    Section("What information was involved",
            lambda f: [("ul", f["what"] or ["MISSING: what information was involved"])]),
    Section("What this may mean for you",
            lambda f: [("ul", f["consequences"] or ["We do not expect any harm to you, but we "
                                                    "want you to know."])]),
    Section("What we have done", lambda f: [("ul", f["measures"] or ["MISSING: measures taken"])]),
    Section("What you can do", lambda f: [("ul", f["advice"])]),
    Section("Contact", lambda f: [
        ("p", f"Our data protection officer: {f['contact'] or 'MISSING: contact point'}.")]),
    Section(None, lambda f: [
        ("p", "You also have the right to complain to the data protection authority: "
              + ", ".join(str(v) for v in f["authority"].values() if v) + ".")],
            when=lambda f: bool(f["authority"])),
    Section("Missing before sending", lambda f: [("ul", f["missing"])],
            when=lambda f: bool(f["missing"])),
)


def subject_notice(b: Breach, *, now: datetime | None = None,
                   tz: str | None = None) -> tuple[list[Block], list[str]]:
    """The Art. 34(2) notice to the people affected, in plain language: what happened, what
    data, what it may mean for them, what we did, what they can do, whom to contact. Dates are
    days in the breach's time zone. Returns the blocks and what it lacks."""
    facts = _notice_facts(b, tz or b.timezone)
    return render_sections(SUBJECT_NOTICE, facts), facts["missing"]


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


def _sent(b: Breach, *to: str) -> list[dict[str, Any]]:
    return [n for n in b.notifications if n["recipient"] in to]


def _scope(b: Breach, key: str) -> Any:
    return (b.scope or {}).get(key) or {}


def _listed(b: Breach, *keys: str) -> str:
    return ", ".join(c for k in keys for c in (b.scope or {}).get(k) or [])


def _assessed(b: Breach, key: str) -> Any:
    return (b.assessment or {}).get(key, "")


#: The Art. 33(5) register: each column and how a breach fills it (facts, effects, remedial
#: action).
REGISTER: dict[str, Callable[[Breach], Any]] = {
    "id": lambda b: b.ref,
    "title": lambda b: b.title,
    "status": lambda b: b.status,
    "nature": lambda b: ", ".join(b.nature),
    "occurred_at": lambda b: iso(b.occurred_at),
    "occurred_until": lambda b: iso(b.occurred_until) if b.occurred_until else "",
    "aware_at": lambda b: iso(b.aware_at),
    "deadline": lambda b: iso(b.clock().deadline),
    "subjects": lambda b: _scope(b, "subjects").get("count", ""),
    "subjects_exact": lambda b: _scope(b, "subjects").get("exact", ""),
    "records": lambda b: _scope(b, "records").get("count", ""),
    "categories": lambda b: _listed(b, "categories"),
    "special_categories": lambda b: _listed(b, "special", "criminal"),
    "financial_data": lambda b: _listed(b, "financial"),
    "encrypted_key_safe": lambda b: bool((b.scope or {}).get("all_unintelligible")),
    "severity": lambda b: _assessed(b, "severity"),
    "likelihood": lambda b: _assessed(b, "likelihood"),
    "decision": lambda b: b.decision or "not assessed",
    "decision_override": lambda b: (_assessed(b, "override") or {}).get("reason", "")
    if b.assessment else "",
    "exceptions": lambda b: "; ".join(f"{e['exception']}: {e['reason']}"
                                      for e in _assessed(b, "exceptions") or []),
    "authority_notified_at": lambda b: next(
        (n["sent_at"] for n in _sent(b, "authority")), ""),
    "notified_late": lambda b: any(n["late"] for n in _sent(b, "authority")),
    "reasons_for_delay": lambda b: "; ".join(n["delay_reason"] for n in _sent(b, "authority")
                                             if n["delay_reason"]),
    "subjects_notified_at": lambda b: next(
        (n["sent_at"] for n in _sent(b, "subjects", "public")), ""),
    "consequences": lambda b: "; ".join(likely_consequences(b)),
    "measures": lambda b: "; ".join(_measures(b)),
    "closed_at": lambda b: iso(b.closed_at) if b.closed_at else "",
    "close_reason": lambda b: b.close_reason or "",
    "created_by": lambda b: b.created_by,
}
REGISTER_COLUMNS = tuple(REGISTER)


def register_row(b: Breach) -> dict[str, Any]:
    """One breach as a row of the Art. 33(5) register: facts, effects, remedial action."""
    return {column: cell(b) for column, cell in REGISTER.items()}


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
