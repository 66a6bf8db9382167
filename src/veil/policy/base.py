"""The pieces every policy section is built from: the strict model base, identifiers, contacts
and duration-valued fields (kept apart so each section can live in a small file of its own)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from veil.policy.duration import Duration

IDENT = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
Ident = Annotated[str, Field(pattern=IDENT, max_length=128)]
#: ISO 3166-1 alpha-2 country code (upper case).
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Contact(_Strict):
    name: str
    email: str | None = None
    phone: str | None = None
    address: str | None = None

    def line(self) -> str:
        parts = [self.name] + [p for p in (self.email, self.phone, self.address) if p]
        return ", ".join(parts)


def check_duration(value: str | None, what: str) -> str | None:
    """A pydantic validator body: the text must parse as a calendar :class:`Duration`; the
    text is kept as written (the policy file's words), the Duration comes from a property."""
    if value is not None:
        Duration.parse(value, what=what)
    return value


def duration(value: str | None, what: str = "duration") -> Duration | None:
    return None if value is None else Duration.parse(value, what=what)
