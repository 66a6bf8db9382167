"""Records of processing activities (Art. 30(1)), one per purpose, from the policy file.

Every item of Art. 30(1)(a)-(g) is present, or explicitly marked missing with what the
policy should add; nothing is silently left out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from veil.io.writers import atomic_write_bytes
from veil.policy.model import Policy, Transfer
from veil.transforms.registry import REGISTRY

ITEMS = {
    "a": "Name and contact details of the controller, joint controllers, representative and DPO",
    "b": "Purposes of the processing",
    "c": "Categories of data subjects and of personal data",
    "d": "Categories of recipients, including in third countries or international organisations",
    "e": "Transfers to third countries or international organisations, with safeguards",
    "f": "Envisaged time limits for erasure",
    "g": "General description of technical and organisational security measures (Art. 32(1))",
}

VEIL_MEASURES = [
    "Minimization by default: only fields a purpose lists leave a Veil run (deny by default)",
    "Every run writes a receipt with input/output SHA-256 digests and the policy digest",
    "Runs are recorded in the Veil store; failed runs publish no output",
    "Every run, stage, consent change and key operation is appended to a tamper-evident audit "
    "log (RFC 6962 Merkle tree, Ed25519-signed tree heads)",
]


def _missing(what: str) -> dict[str, Any]:
    return {"status": "missing", "note": what}


def _recipients(policy: Policy, purpose_id: str) -> list[dict[str, Any]]:
    """Art. 30(1)(d): each recipient of the purpose's data with its role, where it receives
    the data and, for a processor, its Art. 28(3) contract."""
    return [{"id": r, "name": x.name, "role": x.role, "country": x.country,
             "contract": x.contract} for r, x in policy.recipients_of(purpose_id)]


def _transfer(policy: Policy, t: Transfer) -> dict[str, Any]:
    """Art. 30(1)(e): the transfer and its safeguard (Art. 46) or derogation (Art. 49(1))."""
    rec = policy.recipients.get(t.recipient)
    return {**t.model_dump(), "recipient_name": rec.name if rec else t.recipient}


def _recipient_text(r: dict[str, Any]) -> str:
    where = f", {r['country']}" if r["country"] else ""
    contract = f", Art. 28(3) contract {r['contract']}" if r["contract"] else ""
    return f"{r['name']} ({r['role'].replace('_', ' ')}{where}{contract})"


def _transfer_text(t: dict[str, Any]) -> str:
    ground = t["safeguard"] + (f" Art. 49(1)({t['derogation']})" if t.get("derogation") else "")
    ref = f": {t['reference']}" if t.get("reference") else ""
    return f"{t['recipient_name']} ({t['country']}), safeguard: {ground}{ref}"


def build_ropa(policy: Policy) -> dict[str, Any]:
    c = policy.controller
    controller: dict[str, Any] = {
        "controller": {"name": c.name, "contact": c.contact, "address": c.address},
        "joint_controllers": [j.line() for j in c.joint_controllers] or "none declared",
        "representative": c.eu_representative.line() if c.eu_representative else _missing(
            "controller.eu_representative (or state that none is required)"),
        "dpo": c.dpo.line() if c.dpo else _missing("controller.dpo"),
    }
    records = []
    for p_id, p in policy.purposes.items():
        subjects = sorted({policy.datasets[d].subjects for d in p.datasets})
        categories: dict[str, dict[str, Any]] = {}
        for ds_id, use in p.datasets.items():
            ds = policy.datasets[ds_id]
            for f_name, treat in use.fields.items():
                if REGISTRY.get(treat.transform) and REGISTRY[treat.transform].drops_field:
                    continue
                cat = policy.category(ds.fields[f_name].category)
                entry = categories.setdefault(cat.id, {
                    "category": cat.id, "description": cat.description,
                    "special_category": cat.special, "criminal_offences": cat.criminal,
                    "fields": []})
                entry["fields"].append(f"{ds_id}.{f_name}" + (
                    "" if treat.transform == "keep" else f" ({treat.transform})"))
        personal = [v for v in categories.values() if policy.category(v["category"]).personal]
        measures = list(policy.security_measures) + VEIL_MEASURES
        transforms = sorted({t.transform for u in p.datasets.values() for t in u.fields.values()
                             if t.transform not in ("keep", "drop")})
        if transforms:
            measures.append("Field transforms applied in the run: " + ", ".join(transforms))
        if p.encryption.at_rest:
            measures.append("Outputs encrypted at rest (Tink AES-GCM-HKDF streaming AEAD, keys "
                            "wrapped under a key-encryption key)")
        if p.needs_consent:
            measures.append("Rows are used only for subjects holding valid consent at run time "
                            "(Veil consent ledger)")
        records.append({
            "purpose_id": p_id,
            "a_controller": controller,
            "b_purpose": {"description": p.description, "legal_basis": p.legal_basis_text,
                          "legitimate_interest": p.legitimate_interest,
                          "consent_required": p.needs_consent},
            "c_categories": {
                "data_subjects": subjects,
                "personal_data": personal or _missing("the purpose uses no personal data fields"),
                "special_categories_present": any(v["special_category"] for v in personal),
            },
            "d_recipients": _recipients(policy, p_id) or _missing(
                f"purposes.{p_id}.recipients"),
            "e_transfers": ([_transfer(policy, t) for t in p.transfers] if p.transfers
                            else "none: no transfers to third countries or international "
                                 "organisations are declared"),
            "f_erasure_time_limit": {"retention": p.retention,
                                     "iso_8601": p.retention_period.iso()},
            "g_security_measures": measures,
        })
    return {
        "record_type": "GDPR Art. 30(1) record of processing activities",
        "generated_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "policy": {"path": policy.source, "sha256": policy.digest, "name": policy.name},
        "controller": c.name,
        "items": ITEMS,
        "records": records,
        "missing": [f"{r['purpose_id']}: {k}" for r in records for k, v in _walk(r)
                    if isinstance(v, dict) and v.get("status") == "missing"],
    }


def _walk(d: dict[str, Any], prefix: str = ""):  # type: ignore[no-untyped-def]
    for k, v in d.items():
        key = f"{prefix}{k}"
        yield key, v
        if isinstance(v, dict) and v.get("status") != "missing":
            yield from _walk(v, key + ".")


def _fmt(v: Any) -> str:
    if isinstance(v, dict) and v.get("status") == "missing":
        return f"**MISSING**: add {v['note']}"
    if isinstance(v, list):
        return "; ".join(_fmt(x) for x in v) if v else "none"
    if isinstance(v, dict) and "role" in v:
        return _recipient_text(v)
    if v is None:
        return "not given"
    return str(v)


def render_markdown(ropa: dict[str, Any]) -> str:
    out = [f"# Records of processing activities: {ropa['controller']}", "",
           f"{ropa['record_type']}. Generated {ropa['generated_at']} from policy "
           f"`{ropa['policy']['path']}` (SHA-256 `{ropa['policy']['sha256'][:16]}…`).", ""]
    if ropa["missing"]:
        out += ["**Items missing from the policy:** " + "; ".join(ropa["missing"]), ""]
    for r in ropa["records"]:
        a, b, c = r["a_controller"], r["b_purpose"], r["c_categories"]
        out += [f"## Purpose `{r['purpose_id']}`", "",
                "| Art. 30(1) | Item | Record |", "|---|---|---|",
                f"| (a) | Controller | {a['controller']['name']}, {a['controller']['contact']}"
                f"{', ' + a['controller']['address'] if a['controller']['address'] else ''} |",
                f"| (a) | Joint controllers | {_fmt(a['joint_controllers'])} |",
                f"| (a) | Representative | {_fmt(a['representative'])} |",
                f"| (a) | Data protection officer | {_fmt(a['dpo'])} |",
                f"| (b) | Purpose | {b['description']} |",
                f"| (b) | Legal basis | {b['legal_basis']}"
                f"{' — ' + b['legitimate_interest'] if b['legitimate_interest'] else ''}"
                f"{' (consent required)' if b['consent_required'] else ''} |",
                f"| (c) | Categories of data subjects | {_fmt(c['data_subjects'])} |"]
        pd = c["personal_data"]
        if isinstance(pd, list):
            special = " **[Art. 9 special category]**"
            cats = "; ".join(
                f"{x['description']}{special if x['special_category'] else ''}"
                f" ({', '.join(x['fields'])})" for x in pd)
        else:
            cats = _fmt(pd)
        out += [f"| (c) | Categories of personal data | {cats} |",
                f"| (d) | Recipients | {_fmt(r['d_recipients'])} |"]
        tr = r["e_transfers"]
        trs = tr if isinstance(tr, str) else "; ".join(_transfer_text(t) for t in tr)
        out += [f"| (e) | Third-country transfers | {trs} |",
                f"| (f) | Time limit for erasure | {r['f_erasure_time_limit']['retention']} "
                f"({r['f_erasure_time_limit']['iso_8601']}) |",
                f"| (g) | Security measures | {_fmt(r['g_security_measures'])} |", ""]
    return "\n".join(out)


def write_ropa(policy: Policy, out_dir: str | Path) -> tuple[Path, Path, dict[str, Any]]:
    """Write `ropa.md` and `ropa.json` into `out_dir`; returns both paths and the record."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ropa = build_ropa(policy)
    md, js = out / "ropa.md", out / "ropa.json"
    atomic_write_bytes(js, (json.dumps(ropa, indent=2, ensure_ascii=False) + "\n").encode())
    atomic_write_bytes(md, render_markdown(ropa).encode())
    return md, js, ropa
