"""One exception family for everything a user can get wrong.

Each subclass carries the exit code the CLI uses, so the library and the CLI agree on
what went wrong. Messages name the place (file:line, row, column, field) and never hold
personal data: refer to subjects by pseudonym.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence


class VeilError(Exception):
    """Base class: a problem the user can fix. The CLI prints one line, no traceback."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class PolicyError(VeilError):
    """The policy file is invalid (YAML, schema, references) or asks for the impossible.

    ``problems`` holds every problem found (this one alone unless built by :meth:`several`),
    so `veil policy check` can print them all while `veil run` stops at the first.
    """

    exit_code = 3
    kind = "policy error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        super().__init__(message, where=where)
        self.problems: tuple[PolicyError, ...] = (self,)

    @classmethod
    def several(cls, problems: Sequence[PolicyError]) -> PolicyError:
        """One error standing for ``problems`` (in order): it reads as the first one plus
        "(and N more)" and carries them all in ``problems``."""
        if not problems:
            raise ValueError("several() needs at least one problem")
        first = problems[0]
        if len(problems) == 1:
            return first
        combined = copy.copy(first)  # keeps the subclass, whatever its constructor takes
        combined.message = (f"{first.message} (and {len(problems) - 1} more: "
                            "`veil policy check` lists them)")
        combined.args = (f"{first.where}: {combined.message}" if first.where
                         else combined.message,)
        combined.problems = tuple(problems)
        return combined



class InputError(VeilError):
    """Input data is unreadable or does not fit the policy (bad row, missing field, type)."""

    exit_code = 4
    kind = "input error"


class NotFoundError(InputError):
    """A named record (request, breach, output ...) does not exist; the service answers 404."""


class ConflictError(InputError):
    """The record's state forbids the change (a closed breach or request); the service answers
    409."""


class InProgressError(ConflictError):
    """Another live operation holds the record (a request being run): refused, nothing changed.
    Exit 6 like every refusal by a safeguard; the service answers 409."""

    exit_code = 6
    kind = "refused"


class StoreError(VeilError):
    """The workspace or its database is missing, unreachable or at the wrong schema."""

    exit_code = 5
    kind = "store error"


class RunRefused(VeilError):
    """The run was stopped by a safeguard (consent, risk gate, ...); nothing was published."""

    exit_code = 6
    kind = "run refused"


class CryptoError(VeilError):
    """A key is wrong, missing or destroyed, or a ciphertext is not authentic."""

    exit_code = 7
    kind = "crypto error"


class AuditError(VeilError):
    """The audit log or a proof failed verification."""

    exit_code = 8
    kind = "audit error"


class ConsentError(VeilError):
    """A consent operation breaks the ledger's rules (no prior grant, a backdated event ...)."""

    exit_code = 9
    kind = "consent error"


class UnknownPurposeError(PolicyError, ConsentError, InputError):
    """A purpose id the policy does not declare. The same mistake gets the same code wherever
    it is named (run, consent, decisions, dsr, dpia): exit 3. It is also a ConsentError and an
    InputError, so callers that catch those families around a purpose still do."""

    exit_code = 3
    kind = "policy error"


class ConsentInputError(InputError, ConsentError):
    """A consent command's input is unusable (a missing file, a malformed time or duration, an
    unknown channel): exit 4 like the same mistake anywhere else; 9 is kept for the ledger's
    rules (no prior grant, a backdated event, consent not valid)."""


class AuditInputError(InputError, AuditError):
    """An audit command's input is unusable (a file that cannot be read, a malformed time):
    exit 4 like any other input, not 8, which means a verification failed."""


class AuditNotFoundError(NotFoundError, AuditError):
    """No audit event at the index asked for: exit 4 (HTTP 404) like every unknown id."""


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (a bug: please report it)",
    2: "command-line usage error (unknown option, missing argument, number out of bounds)",
    3: "policy error",
    4: "input data error",
    5: "workspace or database error",
    6: "run refused by a safeguard; nothing published",
    7: "key or ciphertext error",
    8: "audit verification failed",
    9: "consent rule violated",
}
