"""The Records pages' data: the Art. 30 records (``veil.ropa.build_ropa``, as ``veil ropa``
writes them) as rows of (item of Art. 30(1), what it is, the record), and the DPIA drafts
(``veil.dpia.draft_dpia``, as ``veil dpia`` writes them) per purpose.

Rows are text; a missing item (the policy does not say) is marked so the page can flag it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from veil.dpia import Dpia, draft_dpia
from veil.ropa import build_ropa


@dataclass(frozen=True)
class Row:
    article: str  # "(a)" ... "(g)"
    item: str
    text: str
    missing: bool = False


@dataclass(frozen=True)
class PurposeRecord:
    purpose: str
    rows: list[Row]
    dpia: Dpia | None  # the draft (None when the workspace could not be read for it)


@dataclass(frozen=True)
class Records:
    ropa: dict[str, Any]  # the record as veil.ropa builds it (policy, generated_at, missing)
    purposes: list[PurposeRecord]


def _missing(v: Any) -> bool:
    return isinstance(v, dict) and v.get("status") == "missing"


def _text(v: Any) -> str:
    if _missing(v):
        return f"Missing: add {v.get('note')}"
    if isinstance(v, list):
        return "; ".join(_text(x) for x in v) if v else "none"
    if isinstance(v, dict) and "role" in v:
        return _recipient(v)
    if isinstance(v, dict) and "safeguard" in v:
        return _transfer(v)
    if v is None:
        return "not given"
    return str(v)


def _recipient(r: dict[str, Any]) -> str:
    bits = [str(r.get("role", "")).replace("_", " ")]
    if r.get("country"):
        bits.append(str(r["country"]))
    if r.get("contract"):
        bits.append(f"Art. 28(3) contract {r['contract']}")
    return f"{r.get('name', r.get('id', ''))} ({', '.join(bits)})"


def _transfer(t: dict[str, Any]) -> str:
    ground = str(t.get("safeguard", ""))
    if t.get("derogation"):
        ground += f" Art. 49(1)({t['derogation']})"
    ref = f": {t['reference']}" if t.get("reference") else ""
    return f"{t.get('recipient_name', t.get('recipient', ''))} ({t.get('country', '')}), " \
           f"safeguard: {ground}{ref}"


def _categories(pd: Any) -> str:
    if not isinstance(pd, list):
        return _text(pd)
    return "; ".join(
        f"{x['description']}{' [Art. 9 special category]' if x['special_category'] else ''}"
        f" ({', '.join(x['fields'])})" for x in pd)


def record_rows(r: dict[str, Any]) -> list[Row]:
    """One purpose's record as the rows of Art. 30(1) (a) to (g)."""
    a, b, c = r["a_controller"], r["b_purpose"], r["c_categories"]
    ctl = a["controller"]
    basis = b["legal_basis"] + (f" — {b['legitimate_interest']}" if b.get("legitimate_interest")
                                else "") + (" (consent required)" if b.get("consent_required")
                                            else "")
    limit = r["f_erasure_time_limit"]
    transfers = r["e_transfers"]
    return [
        Row("(a)", "Controller", ", ".join(str(x) for x in (ctl.get("name"), ctl.get("contact"),
                                                            ctl.get("address")) if x)),
        Row("(a)", "Joint controllers", _text(a["joint_controllers"]),
            _missing(a["joint_controllers"])),
        Row("(a)", "Representative", _text(a["representative"]), _missing(a["representative"])),
        Row("(a)", "Data protection officer", _text(a["dpo"]), _missing(a["dpo"])),
        Row("(b)", "Purpose", str(b["description"])),
        Row("(b)", "Legal basis", basis),
        Row("(c)", "Categories of data subjects", _text(c["data_subjects"])),
        Row("(c)", "Categories of personal data", _categories(c["personal_data"]),
            _missing(c["personal_data"])),
        Row("(d)", "Recipients", _text(r["d_recipients"]), _missing(r["d_recipients"])),
        Row("(e)", "Third-country transfers",
            transfers if isinstance(transfers, str) else _text(transfers)),
        Row("(f)", "Time limit for erasure", f"{limit['retention']} ({limit['iso_8601']})"),
        Row("(g)", "Security measures", _text(r["g_security_measures"])),
    ]


def records(policy: Any, workspace: Any) -> Records:
    """The Art. 30 records of every purpose of the policy, each with its DPIA draft."""
    ropa = build_ropa(policy)
    out = [PurposeRecord(r["purpose_id"], record_rows(r),
                         draft_dpia(policy, r["purpose_id"], workspace))
           for r in ropa["records"]]
    return Records(ropa, out)


def dpia(policy: Any, purpose: str, workspace: Any) -> Dpia:
    """One purpose's DPIA draft (`PolicyError` for a purpose the policy does not have)."""
    return draft_dpia(policy, purpose, workspace)


__all__ = ["PurposeRecord", "Records", "Row", "dpia", "record_rows", "records"]
