"""The navigation bar: one row per page, with the permission a role needs to see the link.

A page's route checks the same permission (``need(...)`` in :mod:`veil.ui.auth`); the bar only
hides links a role could not open. Add a row here when you add a page (docs/ui.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NavItem:
    path: str  # under /ui/
    label: str
    permission: str | None  # None: every logged-in role


NAV: list[NavItem] = [
    NavItem("/ui/", "Today", None),
    NavItem("/ui/requests", "Requests", "dsr.list"),
    NavItem("/ui/breaches", "Breaches", "breach.read"),
    NavItem("/ui/consent", "Consent", "consent.check"),
    NavItem("/ui/runs", "Runs", "ropa.read"),
    NavItem("/ui/records", "Records", "ropa.read"),
    NavItem("/ui/decisions", "Decisions", "decisions.read"),
]

__all__ = ["NAV", "NavItem"]
