"""The OpenAPI document says exactly what the server accepts.

Two parts. (1) What JSON Schema can say is in the schemas and the server checks the same
patterns (see :mod:`veil.service.models`). What depends on the policy in force is marked in
the committed document (docs/openapi.json, built without a workspace) and filled in by a
running service: ``x-purpose`` (``any``, ``consent`` or ``automated_decisions``) gets the
policy's purpose ids as an ``enum``, ``x-timezone`` the IANA zone names, ``x-protected`` the
columns a bias check needs. (2) What no schema can say (the clock, the ledger's state, one
field against another, a file's content, a signature) is listed per operation in
``x-rules`` (:data:`RULES`): each rule in words and the message it answers 422 with. A
schema-valid request is refused with 422 only by one of its operation's rules; the
schemathesis test holds the server to that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI


@dataclass(frozen=True)
class Rule:
    """A check beyond the schema: where it applies, what it says, and why no schema can."""

    operations: tuple[str, ...]  # "POST /v1/consent/grant"
    says: str  # a regular expression the 422 message matches
    rule: str  # the rule in words


_CONSENT_WRITE = ("POST /v1/consent/grant", "POST /v1/consent/renew")
_CONSENT_ANY = (*_CONSENT_WRITE, "POST /v1/consent/withdraw")
_CHECKS = ("POST /v1/consent/check", "POST /v1/consent/check-bulk")

RULES: list[Rule] = [
    Rule(_CONSENT_ANY, r"is in the future",
         "the event time is not in the future (the server's clock)"),
    Rule(_CHECKS, r"is in the future",
         "`at` is now or past (5 minutes of clock skew allowed)"),
    Rule(_CONSENT_WRITE, r"has no notice in effect|unknown notice version",
         "the purpose has a privacy notice in effect at the event time (or the one named)"),
    Rule(_CHECKS, r"unknown notice version", "the notice version named exists"),
    Rule(_CONSENT_WRITE, r"expiry .* is not after the event time",
         "`expires` is after the event time"),
    Rule(_CONSENT_WRITE, r"is not an explicit action",
         "the action is not silence, a pre-ticked box or inactivity (GDPR Recital 32)"),
    Rule(_CONSENT_WRITE, r"guardian|minimum age|under \d+",
         "a subject under the purpose's minimum age needs a guardian (Art. 8)"),
    Rule(_CONSENT_ANY, r"duplicate event id", "an event id is used once"),
    Rule(("POST /v1/consent/withdraw",), r"withdrawal (without a prior grant|of a consent that "
         r"is already withdrawn)", "a withdrawal ends a consent in force"),
    Rule(("POST /v1/consent/renew",), r"renew", "a renewal follows a grant not withdrawn"),
    Rule(("POST /v1/dsr",), r"is for restriction and objection requests|are for "
         r"rectification requests|needs details", "`purposes` only for restriction and "
         "objection; `details.corrections` only, and always, for rectification"),
    Rule(("POST /v1/dsr",), r"received time .* is in the future",
         "`received` is not in the future"),
    Rule(("POST /v1/breaches", "POST /v1/breaches/{ref}/update",
          "POST /v1/breaches/{ref}/notify"),
         r"has no UTC offset", "a time without an offset needs `tz` (or the policy's "
         "controller.timezone)"),
    Rule(("POST /v1/breaches", "POST /v1/breaches/{ref}/update"),
         r"is before the breach|before .* occurred|say what was exposed|is in the future",
         "times in order (occurred, until, aware, not in the future); something exposed"),
    Rule(("POST /v1/breaches/{ref}/notify",), r"delay_reason|is in the future|before",
         "a late notification gives `delay_reason`; `sent_at` after awareness, not future"),
    Rule(("POST /v1/decisions/fairness",), r"name the purpose|no decision|too few|listed twice",
         "the purpose is named when several decide; each subject once; decisions of the "
         "period match the table's subjects"),
    Rule(("POST /v1/decisions/actuals",), r"unknown|already in row",
         "every decision id is a recorded decision, each listed once"),
    Rule(("POST /v1/decisions",), r"objected|not declared",
         "a subject who objected to the purpose is refused; features and reasons are the "
         "model's declared ones"),
    Rule(("POST /v1/scan",), r".", "the file is a readable CSV (UTF-8), JSON lines, Parquet "
         "or text file in the `format` given"),
    Rule(("POST /v1/witness/{origin}",), r".", "the checkpoint is a signed note (C2SP) for "
         "`origin`, signed by `public_key`, consistent with the last one witnessed"),
    Rule(("POST /v1/retention/sweep",), r"is in the future", "`now` is not in the future"),
]


def rules_for(method: str, path: str) -> list[Rule]:
    key = f"{method.upper()} {path}"
    return [r for r in RULES if key in r.operations]


def with_rules(doc: dict[str, Any]) -> None:
    """List each operation's rules beyond the schema in its ``x-rules`` (in place)."""
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            rules = rules_for(method, path)
            if rules:
                op["x-rules"] = [{"rule": r.rule, "says": r.says} for r in rules]


def policy_values(policy: Any) -> dict[str, Any]:
    """What the served document names from the policy: purpose ids for each ``x-purpose``
    marker, and the protected attributes of the purposes that decide."""
    items = sorted(policy.purposes.items())
    deciding = [p for _, p in items if getattr(p, "automated_decisions", None) is not None]
    protected = sorted({a for p in deciding
                        for a in (p.automated_decisions.protected_attributes or [])})
    return {
        "any": [pid for pid, _ in items],
        "consent": [pid for pid, p in items if p.needs_consent],
        "automated_decisions": [pid for pid, p in items
                                if getattr(p, "automated_decisions", None) is not None],
        "protected": ["subject_id", *protected],
    }


def with_values(doc: Any, values: dict[str, Any] | None) -> None:
    """Fill the markers of ``doc`` (in place): purposes (when ``values``), time zones."""
    from zoneinfo import available_timezones

    zones = sorted(available_timezones())
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            kind = node.get("x-purpose")
            if values is not None and isinstance(kind, str) and kind in values:
                node["enum"] = list(values[kind])
            if node.get("x-timezone") is True and node.get("type") == "string":
                node["enum"] = zones
            if values is not None and node.get("x-protected") is True \
                    and isinstance(node.get("items"), dict):
                node["items"]["required"] = list(values["protected"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def committed(doc: dict[str, Any]) -> dict[str, Any]:
    """The committed document: the rules listed (the markers stay markers)."""
    with_rules(doc)
    return doc


def serve_exact_document(app: FastAPI, policy: Any | None) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) the served document: the rules listed,
    the markers filled from ``policy`` and this machine's time zones."""
    build: Callable[[], dict[str, Any]] = app.openapi
    done = False

    def openapi() -> dict[str, Any]:
        nonlocal done
        doc = build()
        if not done:
            with_rules(doc)
            with_values(doc, policy_values(policy) if policy is not None else None)
            done = True
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


__all__ = ["RULES", "Rule", "committed", "policy_values", "rules_for", "serve_exact_document",
           "with_rules", "with_values"]
