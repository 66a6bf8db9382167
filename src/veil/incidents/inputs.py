"""What the DPO gives, checked before anything is recorded: references, natures, texts, times,
circumstances and estimates. Errors name the CLI option (``--aware``); :func:`api_where` renames
it to the Python parameter (``aware_at``) unless the CLI is the caller."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from veil.errors import InputError, VeilError
from veil.incidents import risk as risk_rules
from veil.incidents.clock import iso, parse_time, zone

NATURES = ("confidentiality", "integrity", "availability")
_REF = re.compile(r"^(?:BR-?)?0*(\d{1,12})$", re.IGNORECASE)

#: Where the Python API's errors point: the parameter, not the CLI option (``veil breach``
#: keeps the options; the REST service's body fields are the parameter names).
PARAMS = {"--title": "title", "--description": "description", "--occurred": "occurred_at",
          "--aware": "aware_at", "--until": "occurred_until", "--nature": "nature",
          "--recipients": "recipients", "--tz": "tz", "--subjects": "estimate_subjects",
          "--records": "estimate_records", "--category": "categories",
          "--key-exposed": "key_exposed", "--status": "status", "--exception": "exceptions",
          "--override": "override", "--reason": "reason", "--to": "recipient",
          "--sent": "sent_at", "--phase": "phase", "--delay-reason": "delay_reason",
          "--output": "outputs", "--dataset": "datasets", "--keyset": "keysets",
          "--window": "windows", "--other": "other", "--consequence": "consequences",
          "--measure": "measures"}
UPDATE_PARAMS = {**PARAMS, **{f"--{k}": f"add_{v}" for k, v in (
    ("output", "outputs"), ("dataset", "datasets"), ("keyset", "keysets"),
    ("window", "windows"), ("other", "other"), ("consequence", "consequences"),
    ("measure", "measures"))}}
_P = ParamSpec("_P")
_R = TypeVar("_R")


def api_where(names: dict[str, str]) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Rename a CLI option in an error's ``where`` to the parameter, unless called by the CLI."""
    def deco(fn: Callable[_P, _R]) -> Callable[_P, _R]:
        @functools.wraps(fn)
        def wrapper(*args: _P.args, **kw: _P.kwargs) -> _R:
            try:
                return fn(*args, **kw)
            except VeilError as exc:
                if getattr(args[0], "cli", False) or exc.where not in names:
                    raise
                try:
                    new = type(exc)(exc.message, where=names[str(exc.where)])
                except TypeError:  # a subclass with another constructor: keep it as it is
                    raise exc from None
                raise new from None
        return wrapper
    return deco


def parse_ref(ref: str | int) -> int:
    """The breach number in ``BR-0001``, ``BR1``, ``0001`` or ``1``."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    m = _REF.match(str(ref).strip())
    if not m:
        raise InputError(f"'{ref}' is not a breach reference like BR-0001", where="breach")
    return int(m.group(1))


def title_of(title: str | None) -> str:
    title = (title or "").strip()
    if not title:
        raise InputError("a breach needs a title", where="--title")
    return title


def texts(values: Iterable[str] | str | None, what: str) -> list[str]:
    """Free texts (measures, consequences, other items), each non-empty, stripped."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        if not isinstance(v, str) or not v.strip():
            raise InputError("must be non-empty text", where=what)
        out.append(v.strip())
    return out


def natures(values: Iterable[str] | str) -> list[str]:
    """The breach's nature(s), from a list or a comma list, in the order of :data:`NATURES`."""
    vals = [values] if isinstance(values, str) else list(values)
    parts = [p.strip().lower() for v in vals for p in str(v).split(",") if p.strip()]
    if not parts:
        raise InputError("give the nature of the breach: confidentiality, integrity and/or "
                         "availability", where="--nature")
    for p in parts:
        if p not in NATURES:
            raise InputError(f"'{p}' is not a breach nature (confidentiality, integrity, "
                             "availability)", where="--nature")
    return [n for n in NATURES if n in parts]


@dataclass(frozen=True)
class Times:
    """When the breach began (and ended, if it did) and when the controller became aware."""

    occurred_at: datetime
    aware_at: datetime
    occurred_until: datetime | None

    @classmethod
    def read(cls, occurred_at: datetime | str, aware_at: datetime | str,
             occurred_until: datetime | str | None, tz: str | None, now: datetime) -> Times:
        """Parse the three times (a time without an offset is read in ``tz``) and check them."""
        occ = parse_time(occurred_at, "--occurred", tz)
        aware = parse_time(aware_at, "--aware", tz)
        until = parse_time(occurred_until, "--until", tz) if occurred_until is not None else None
        times = cls(occ, aware, until)
        times.check(now)
        return times

    def check(self, now: datetime) -> None:
        """Awareness not before the breach, nothing in the future, the end after the start."""
        occ, aware, until = self.occurred_at, self.aware_at, self.occurred_until
        if aware < occ:
            raise InputError(f"awareness ({iso(aware)}) is before the breach itself "
                             f"({iso(occ)})", where="--aware")
        if occ > now:
            raise InputError(f"the breach time {iso(occ)} is in the future", where="--occurred")
        if aware > now:
            raise InputError(f"the awareness time {iso(aware)} is in the future",
                             where="--aware")
        if until is not None and until < occ:
            raise InputError(f"the end of the breach ({iso(until)}) is before its "
                             f"start ({iso(occ)})", where="--until")
        if until is not None and until > now:
            raise InputError(f"the end of the breach {iso(until)} is in the future "
                             "(leave it out while it goes on)", where="--until")


def windows(values: Sequence[tuple[datetime | str, datetime | str]],
            tz: str | None) -> list[tuple[datetime, datetime]]:
    return [(parse_time(a, "--window", tz), parse_time(z, "--window", tz)) for a, z in values]


def checked_zone(tz: str | None) -> str | None:
    """``tz`` once known to be an IANA zone name (None stays None)."""
    if tz is not None:
        zone(tz)
    return tz


def circumstances(recipients: str, malicious: bool, recoverable: bool) -> dict[str, Any]:
    """Who got the data, with what intent, and whether it can be restored."""
    if recipients not in risk_rules.RECIPIENTS:
        raise InputError(f"recipients '{recipients}' is not one of "
                         f"{', '.join(risk_rules.RECIPIENTS)}", where="--recipients")
    return {"recipients": recipients, "malicious": bool(malicious),
            "recoverable": bool(recoverable)}


def estimates(subjects: int | None, records: int | None, categories: Sequence[str],
              policy: Any | None) -> dict[str, Any]:
    """The DPO's figures for what Veil has no record of: subjects, records, categories."""
    from veil.policy.taxonomy import BUILTIN_CATEGORIES

    for n, what in ((subjects, "--subjects"), (records, "--records")):
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 0):
            raise InputError("must be a whole number of at least 0", where=what)
    known = set(BUILTIN_CATEGORIES) | set(getattr(policy, "categories", {}) or {})
    cats = sorted({c.strip() for c in categories if c.strip()})
    for c in cats:
        if c not in known:
            raise InputError(f"unknown data category '{c}' (see `veil policy check`; "
                             "built in: " + ", ".join(sorted(BUILTIN_CATEGORIES)) + ")",
                             where="--category")
    return {"subjects": subjects, "records": records, "categories": cats}
