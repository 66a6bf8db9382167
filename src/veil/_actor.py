"""Who acts: recorded with runs, consent changes, key operations, requests and breaches."""

from __future__ import annotations

import getpass
import os


def default_actor(given: str | None = None) -> str:
    """``given`` if set, else ``VEIL_ACTOR``, else the OS user (``"unknown"`` if none)."""
    if given:
        return given
    env = os.environ.get("VEIL_ACTOR")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
