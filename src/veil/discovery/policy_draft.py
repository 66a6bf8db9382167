"""A starter policy from a scan: ``draft_policy(scan) -> YAML text``.

The draft declares the scanned dataset (each column as a field with the category the scan
suggests, its type, a ``subject_id`` guess and ``quasi_identifier`` flags) and a purpose
skeleton that keeps only the columns where nothing personal was found; every other column is
listed as a comment with the treatment the scan suggests. The controller is left empty on
purpose: the draft loads with :func:`veil.policy.parse_policy` once a person fills it in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from veil.discovery.columns import SUBJECT_ID_NAME, ColumnReport
from veil.discovery.scan import SourceScan
from veil.errors import InputError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_SUBJECT = SUBJECT_ID_NAME
_QUASI_CATEGORIES = {"demographic", "location", "employment"}
_NOT_QUASI_TYPES = {"street_address"}
# categories whose columns a starter purpose may keep as they are (still to be reviewed)
_KEEPABLE = {"transaction", "income_credit", "inferred", "non_personal"}
_RULE_BY_CATEGORY = {
    "direct_identifier": "pseudonymize",
    "contact": "drop",
    "government_id": "drop",
    "account": "pseudonymize",
    "card": "mask",
    "location": "generalize",
    "demographic": "generalize",
    "online_identifier": "generalize",
    "employment": "generalize",
    "free_text": "redact_text",
}
LEGAL_BASES = (
    "consent",
    "contract",
    "legal_obligation",
    "vital_interests",
    "public_task",
    "legitimate_interests",
)


def dataset_id(source: str) -> str:
    """A policy dataset id from a file name or table reference."""
    stem = Path(source.split("#")[-1]).stem if "#" in source else Path(source).stem
    ident = re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_") or "dataset"
    if not re.match(r"[A-Za-z_]", ident):
        ident = "d_" + ident
    return ident[:64]


def guess_subject_id(scan: SourceScan) -> str | None:
    """The column that most likely identifies the data subject (by name: customer_id,
    client_no, user_id ...), or None."""
    names = [c.name for c in scan.report.columns]
    for n in names:
        if _SUBJECT.match(n.strip()):
            return n
    return None


def _yaml_key(name: str) -> str:
    try:
        plain = yaml.safe_load(f"{name}: 1")
    except yaml.YAMLError:
        plain = None
    if isinstance(plain, dict) and list(plain) == [name] and not name.startswith(("-", "?")):
        return name
    return json.dumps(name)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _finding(c: ColumnReport) -> str:
    if c.free_text:
        found = ", ".join(list(c.embedded)[:5]) or "nothing found"
        return f"free text ({found})"
    if c.types:
        h = c.types[0]
        return f"{h.type} in {h.share * 100:.0f}% of values (confidence {c.confidence:.2f})"
    if c.non_null == 0:
        return "no values to look at"
    return "nothing personal found in the values"


def _category(c: ColumnReport, subject: str | None) -> tuple[str, bool]:
    """(category, is a guess that needs review)."""
    if c.pii and c.category:
        return c.category, False
    if c.name == subject:
        return "direct_identifier", True
    if c.category:
        return c.category, True
    return "non_personal", True


@dataclass(frozen=True)
class _Treated:
    """A column a purpose may only use with a treatment (listed as a comment)."""

    name: str
    rule: str
    category: str


def draft_policy(
    scan: SourceScan,
    *,
    dataset: str | None = None,
    recognizers: Sequence[Mapping[str, Any]] = (),
    today: dt.date | None = None,
) -> str:
    """YAML text of a starter policy for the scanned dataset (see the module doc)."""
    ds = dataset or dataset_id(scan.source)
    if not _IDENT.match(ds):
        raise InputError(f"dataset id {ds!r} must be letters, digits, _ . - (start with a letter)")
    subject = guess_subject_id(scan)
    out = _header(scan, today or dt.date.today())
    out += _custom_categories(scan.report.columns)
    out += _recognizers(recognizers)
    out += _dataset(scan, ds, subject)
    keep: list[str] = []
    treat: list[_Treated] = []
    for c in scan.report.columns:
        out += _field(scan, c, subject, keep, treat)
    out += _purpose(ds, keep, treat)
    return "\n".join(out) + "\n"


def _header(scan: SourceScan, day: dt.date) -> list[str]:
    mode = "full scan" if scan.mode == "full" else "sample: the first rows only"
    return [
        f"# Starter policy drafted by `veil scan` from {scan.source} ({scan.report.rows:,} rows, "
        f"{mode}) on {day.isoformat()}.",
        "# Every line below is a suggestion drawn from the values found: review each one.",
        "# 1. Fill in the controller (the policy does not load until you do).",
        "# 2. Check each field's category, type and quasi_identifier flag.",
        "# 3. Name the purpose, its legal basis and retention; list only the fields it needs",
        "#    (deny by default). Suggested treatments are in comments.",
        "version: 1",
        "controller:",
        "  name:        # TODO: the controller's legal name",
        "  contact:     # TODO: privacy contact, e.g. an e-mail address",
    ]


def _custom_categories(columns: Sequence[ColumnReport]) -> list[str]:
    """Categories the scan used that the built-in taxonomy lacks: declared, to describe."""
    from veil.policy.taxonomy import BUILTIN_CATEGORIES

    custom = sorted(
        {c.category for c in columns if c.category and c.category not in BUILTIN_CATEGORIES}
    )
    out = ["categories:"] if custom else []
    for cat in custom:
        out.append(f"  {_yaml_key(cat)}:")
        out.append(f"    description: {_scalar('TODO: describe ' + cat)}")
    return out


def _recognizers(recognizers: Sequence[Mapping[str, Any]]) -> list[str]:
    if not recognizers:
        return []
    dumped = yaml.safe_dump(
        [dict(r) for r in recognizers], sort_keys=False, allow_unicode=True, width=100
    )
    return ["recognizers:"] + ["  " + line for line in dumped.rstrip("\n").splitlines()]


def _dataset(scan: SourceScan, ds: str, subject: str | None) -> list[str]:
    out = [
        "datasets:",
        f"  {ds}:",
        f"    description: {_scalar('TODO: what this dataset holds')}",
        "    subjects: customers         # TODO: whose data this is",
        f"    source: {_scalar(scan.source)}",
    ]
    if subject:
        out.append(f"    subject_id: {_yaml_key(subject)}   # guessed from the column name: check")
    else:
        out.append("    # subject_id: TODO     # the column that identifies the data subject")
    out.append("    fields:")
    return out


def _field(
    scan: SourceScan,
    c: ColumnReport,
    subject: str | None,
    keep: list[str],
    treat: list[_Treated],
) -> list[str]:
    """The field line of column ``c``; notes whether a purpose may keep it or must treat it."""
    name = c.name
    if not _IDENT.match(name):
        return [
            f"      # {json.dumps(name, ensure_ascii=False)}: cannot be a policy field name "
            f"(letters, digits, _ . - only): rename the column ({_finding(c)})"
        ]
    cat, guess = _category(c, subject)
    attrs = [f"category: {_yaml_key(cat)}"]
    ftype = scan.field_types.get(name, "string")
    if ftype != "string":
        attrs.append(f"type: {ftype}")
    if _quasi(c, cat):
        attrs.append("quasi_identifier: true")
    if c.pii or name == subject or cat not in _KEEPABLE:
        rule = (c.rule if c.pii else None) or _RULE_BY_CATEGORY.get(cat, "drop")
        treat.append(_Treated(name, rule, cat))
    else:
        keep.append(name)
    return [f"      {_yaml_key(name)}: {{{', '.join(attrs)}}}   # {_comment(c, guess)}"]


def _quasi(c: ColumnReport, cat: str) -> bool:
    return (cat in _QUASI_CATEGORIES and c.top_type not in _NOT_QUASI_TYPES) or (
        c.top_type in ("date_of_birth", "postcode")
    )


def _comment(c: ColumnReport, guess: bool) -> str:
    if guess and c.category:
        return _finding(c) + "; category guessed from the name: check"
    return _finding(c) + ("; check" if guess else "")


def _purpose(ds: str, keep: list[str], treat: list[_Treated]) -> list[str]:
    out = [
        "purposes:",
        "  todo_purpose:                 # TODO: name the purpose, e.g. credit_scoring",
        f"    description: {_scalar('TODO: what the data is used for')}",
        "    legal_basis: contract       # TODO: one of " + ", ".join(LEGAL_BASES),
        "    retention: 1 year           # TODO: how long the output may be kept",
        "    datasets:",
        f"      {ds}:",
    ]
    if keep:
        out.append("        fields:                 # deny by default: remove what is not needed")
        out += [f"          {_yaml_key(n)}: keep" for n in keep]
    else:
        out.append("        fields: {}              # deny by default: add what is needed")
    if treat:
        out.append("          # personal data: uncomment what the purpose needs, with a treatment")
        for t in treat:
            if _IDENT.match(t.name):
                out.append(f"          # {_yaml_key(t.name)}: {t.rule}   # {t.category}")
    return out


def write_policy_draft(
    scan: SourceScan,
    path: str | os.PathLike[str],
    *,
    dataset: str | None = None,
    recognizers: Sequence[Mapping[str, Any]] = (),
    overwrite: bool = False,
) -> Path:
    """Write :func:`draft_policy` to ``path`` (atomically; never over an existing file unless
    ``overwrite``)."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise InputError("already exists: choose another name or remove it", where=str(target))
    text = draft_policy(scan, dataset=dataset, recognizers=recognizers)
    parent = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def fill_controller(draft: str, name: str, contact: str) -> str:
    """The draft with its controller filled in (what a person does by hand; used in tests
    and examples)."""
    out = re.sub(r"(?m)^  name:\s+# TODO.*$", f"  name: {_scalar(name)}", draft, count=1)
    return re.sub(r"(?m)^  contact:\s+# TODO.*$", f"  contact: {_scalar(contact)}", out, count=1)
