"""Load and validate a policy file; every error names file:line and the key."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from veil.errors import PolicyError
from veil.policy.legal import legal_findings
from veil.policy.model import Policy, _RefError
from veil.policy.yamlines import DuplicateKeyError, load_with_lines

#: The bundled sample policy: ``load_policy("sample")``, ``--policy sample``.
SAMPLE_POLICY = Path(__file__).resolve().parent.parent / "sample" / "sample_policy.yaml"


def policy_path(name: str | Path) -> Path:
    """The file a policy name stands for: ``"sample"`` is the bundled sample policy, anything
    else a path."""
    return SAMPLE_POLICY if str(name) == "sample" else Path(name)


def load_policy(path: str | Path) -> Policy:
    """Read a YAML policy file (or ``"sample"``, the bundled sample policy) and return the
    validated :class:`Policy`."""
    path = policy_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError("policy file not found", where=str(path)) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror}", where=str(path)) from None
    return parse_policy(raw, source=str(path))


def parse_policy(raw: bytes | str, source: str = "<policy>") -> Policy:
    """Validate policy text; `source` is the name used in error messages. A policy with several
    problems raises one `PolicyError` naming the first; its ``problems`` holds them all."""
    policy, problems = policy_problems(raw, source)
    if problems:
        raise PolicyError.several(problems)
    assert policy is not None
    return policy


def load_policy_problems(path: str | Path) -> tuple[Policy | None, list[PolicyError]]:
    """Like :func:`load_policy`, but returns every problem found instead of raising on the
    first: the policy (None when it does not validate) and the problems in file order."""
    path = policy_path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError("policy file not found", where=str(path)) from None
    except OSError as exc:
        raise PolicyError(f"cannot read policy file: {exc.strerror}", where=str(path)) from None
    return policy_problems(raw, source=str(path))


def policy_problems(raw: bytes | str,
                    source: str = "<policy>") -> tuple[Policy | None, list[PolicyError]]:
    """Every problem of policy text, in file order: every schema error, else every risk and
    legal-rule breach; the policy is returned when it validated against the schema. Text
    that is not a YAML mapping raises (nothing after the first YAML error can be read)."""
    data_bytes = raw.encode() if isinstance(raw, str) else raw
    try:
        text = data_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(f"not UTF-8 text (byte {exc.start})", where=source) from None
    try:
        data, lines = load_with_lines(text)
    except DuplicateKeyError as exc:
        raise PolicyError(str(exc), where=f"{source}:{exc.line}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark else source
        context = ""
        if exc.context and exc.context_mark and exc.problem_mark and (
                exc.context_mark.line != exc.problem_mark.line):
            context = f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise PolicyError(f"invalid YAML: {exc.problem or exc.context}{context}",
                          where=where) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"invalid YAML: {exc}", where=source) from None
    if not isinstance(data, dict):
        raise PolicyError("a policy must be a YAML mapping (controller, datasets, purposes)",
                          where=f"{source}:1")
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        return None, in_file_order(_schema_errors(exc, lines, source))
    policy._source = source
    policy._lines = lines
    policy._digest = hashlib.sha256(data_bytes).hexdigest()
    # what the law forbids never loads (veil run refuses too)
    problems = _risk_errors(policy, Path(source).parent) + [
        PolicyError(f"{f.key()}: {f.message} [{f.article}]", where=policy.locate(*f.path))
        for f in legal_findings(policy)]
    return policy, in_file_order(problems)


def _risk_errors(policy: Policy, policy_dir: Path) -> list[PolicyError]:
    """Risk sections name columns and hierarchy files: check them before any data is read."""
    from veil.policy.risk import RiskPolicyError

    out = []
    for ds_name, ds in policy.datasets.items():
        if ds.risk is not None:
            try:
                ds.risk.check(ds.fields, policy_dir)
            except RiskPolicyError as exc:
                out.append(PolicyError(f"datasets.{ds_name}.{exc}", where=policy.locate(
                    "datasets", ds_name, "risk", *exc.path)))
    return out


def _schema_errors(exc: ValidationError, lines: dict, source: str) -> list[PolicyError]:
    """One error per schema problem pydantic found (at most 100), each with file:line."""
    out: list[PolicyError] = []
    seen: set[str] = set()
    for err in exc.errors()[:100]:
        loc = tuple(p for p in err["loc"] if not _is_pydantic_tag(p))
        ctx_error = (err.get("ctx") or {}).get("error")
        if isinstance(ctx_error, _RefError):
            loc = loc + tuple(ctx_error.path)
            message = str(ctx_error)
        else:
            message = _message(err)
        path = _existing_prefix(loc, lines)
        line = lines.get(path) or lines.get(())
        key = ".".join(str(p) for p in loc) or "(top level)"
        text = f"{key}: {message}"
        if text not in seen:  # a union reports one mistake once per member
            seen.add(text)
            out.append(PolicyError(text, where=f"{source}:{line}" if line else source))
    return out


def in_file_order(problems: list[PolicyError]) -> list[PolicyError]:
    """Sorted by line (stable: problems on one line keep their order)."""
    def line(e: PolicyError) -> int:
        tail = (e.where or "").rpartition(":")[2]
        return int(tail) if tail.isdigit() else 0

    return sorted(problems, key=line)


def _is_pydantic_tag(part: Any) -> bool:
    # Union and function validators add tags like 'function-before[...]' to locations.
    return isinstance(part, str) and ("[" in part and part.endswith("]"))


def _existing_prefix(loc: tuple, lines: dict) -> tuple:
    p = loc
    while p and p not in lines:
        p = p[:-1]
    return p


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    msg = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg
