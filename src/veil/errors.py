"""One exception family for everything a user can get wrong.

Each subclass carries the exit code the CLI uses, so the library and the CLI agree on
what went wrong. Messages name the place (file:line, row, column, field) and never hold
personal data: refer to subjects by pseudonym.
"""

from __future__ import annotations


class VeilError(Exception):
    """Base class: a problem the user can fix. The CLI prints one line, no traceback."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class PolicyError(VeilError):
    """The policy file is invalid (YAML, schema, references) or asks for the impossible."""

    exit_code = 3
    kind = "policy error"


class InputError(VeilError):
    """Input data is unreadable or does not fit the policy (bad row, missing field, type)."""

    exit_code = 4
    kind = "input error"


class NotFoundError(InputError):
    """A named record (request, breach, output ...) does not exist; the service answers 404."""


class ConflictError(InputError):
    """The record's state forbids the change (a closed breach or request); the service answers
    409."""


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
    """A consent operation breaks the ledger's rules (unknown purpose, no prior grant, ...)."""

    exit_code = 9
    kind = "consent error"


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected internal error (a bug: please report it)",
    2: "command-line usage error (unknown option, missing argument)",
    3: "policy error",
    4: "input data error",
    5: "workspace or database error",
    6: "run refused by a safeguard; nothing published",
    7: "key or ciphertext error",
    8: "audit verification failed",
    9: "consent rule violated",
}
