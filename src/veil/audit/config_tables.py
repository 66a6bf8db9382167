"""The ``[audit.sinks]`` and ``[audit.witnesses]`` tables of ``veil.toml`` share one shape: a
sub-table per named target, with a ``type`` that says which keys it may have."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from veil.errors import AuditError

__all__ = ["typed_tables"]


def typed_tables(table: object, section: str, keys: Mapping[str, set[str]],
                 what: str) -> Iterator[tuple[str, str, Mapping[str, Any], str]]:
    """(name, type, settings, where) of each sub-table of ``[audit.<section>]``, after checking
    the type and that every key belongs to it (one AuditError naming the table otherwise)."""
    if not isinstance(table, Mapping):
        raise AuditError(f"[audit.{section}] must be a table of {what} tables", where="veil.toml")
    for name, cfg in table.items():
        where = f"veil.toml [audit.{section}.{name}]"
        if not isinstance(cfg, Mapping):
            raise AuditError(f"a {what} must be a table", where=where)
        kind = str(cfg.get("type"))
        if kind not in keys:
            raise AuditError(f"type must be one of {sorted(keys)}, got {cfg.get('type')!r}",
                             where=where)
        unknown = sorted(set(cfg) - keys[kind])
        if unknown:
            raise AuditError(f"unknown key(s) {', '.join(unknown)} for a {kind} {what}",
                             where=where)
        yield str(name), kind, cfg, where
