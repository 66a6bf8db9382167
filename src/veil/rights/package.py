"""Access and portability packages (JSON + a readable HTML page), encrypted at rest, and the
erasure certificate.

A package holds what Art. 15(1) lists: the data held in the registered stores (read in clear
for the package), the consent history, the purposes with their legal bases, recipients,
transfers and retention, the sources, and the run outputs and trained models that used the
subject's data (lineage). An access package covers EVERY registered store, whether a purpose
uses it or not (Art. 15 is about all data held). A portability package (Art. 20) holds the
data the subject provided: the registered stores of datasets used by purposes based on consent
or a contract (Art. 20(1)(a)-(b)), machine-readable.

Both files are written encrypted with the workspace's ``dsr-packages`` streaming keyset (Tink
AES-GCM-HKDF streaming), bound to ``veil:dsr-package:v1:<request id>:<file name>``, under
``<workspace>/dsr/<request id>/``; `Requests.export` decrypts them, recorded, for delivery
through the controller's secure channel. The erasure certificate holds no personal data (the
subject is a pseudonym) and is written in clear beside them.
"""

from __future__ import annotations

import hashlib
import html
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from veil.errors import InputError, RunRefused
from veil.io.writers import atomic_write_bytes
from veil.rights.records import KINDS, PACKAGE_KEYSET, PORTABLE_BASES, iso

if TYPE_CHECKING:  # pragma: no cover
    from veil.rights.context import StepContext
    from veil.rights.records import RequestRecord
    from veil.rights.requests import Requests

YOUR_RIGHTS = [
    "Art. 16: have inaccurate data corrected (rectification).",
    "Art. 17: have your data erased where the law allows.",
    "Art. 18: have processing restricted.",
    "Art. 20: receive the data you provided in a machine-readable format.",
    "Art. 21: object to processing based on legitimate interests or a public task.",
    "Art. 77: lodge a complaint with a supervisory authority.",
]


def _ad(request_id: str, name: str) -> bytes:
    return f"veil:dsr-package:v1:{request_id}:{name}".encode()


def build_package(ctx: StepContext) -> dict[str, Any]:
    """The package as a dict (personal data: it is only ever written encrypted)."""
    from veil.rights.exclusions import subject_exclusions
    from veil.rights.steps import _history, _stores

    pol, r = ctx.policy, ctx.request
    portable = r.kind == "portability"
    # Art. 15: every registered store (all data held, used by a purpose or not); Art. 20: the
    # data the subject provided, i.e. the datasets used by consent or contract purposes
    provided = {d for p in pol.purposes.values() for d in p.datasets
                if p.legal_basis in PORTABLE_BASES}
    data: dict[str, Any] = {}
    for d, store in _stores(ctx).items():
        if portable and d not in provided:
            continue
        ds = pol.datasets[d]
        data[d] = {"description": ds.description, "source": ds.source,
                   "store": store.table_name,
                   "data_categories": sorted({f.category for f in ds.fields.values()}),
                   "rows": store.rows(ctx.subject_id)}
    c = pol.controller
    pkg: dict[str, Any] = {
        "format": "veil.dsr-package.v1",
        "package": f"{r.kind} ({KINDS[r.kind]})",
        "request": {"id": r.id, "received_at": iso(r.received_at), "due_at": iso(r.due_at)},
        "generated_at": iso(datetime.now(UTC)),
        "controller": {"name": c.name, "contact": c.contact, "address": c.address,
                       "dpo": c.dpo.line() if c.dpo else None},
        "subject": {"id": ctx.subject_id, "pseudonym": ctx.token},
        "data": data,
    }
    if portable:
        return pkg
    lin = ctx.lineage()
    used = {o.purpose for o in lin.outputs}
    pkg["consent"] = [e.to_json() for e in _history(ctx)]
    pkg["processing"] = [
        {"purpose": pid, "description": p.description, "legal_basis": p.legal_basis_text,
         "legitimate_interest": p.legitimate_interest, "retention": p.retention,
         "recipients": list(p.recipients),
         "transfers": [t.model_dump() for t in p.transfers],
         "data_categories": sorted({pol.datasets[d].fields[f].category
                                    for d, u in p.datasets.items() for f in u.fields}),
         "datasets": sorted(p.datasets), "your_data_used_in_outputs": pid in used}
        for pid, p in pol.purposes.items()]
    pkg["recipients"] = _recipients(pol, used)
    pkg["retention"] = {pid: p.retention for pid, p in pol.purposes.items()}
    pkg["sources"] = {d: ds.source for d, ds in pol.datasets.items()}
    pkg["outputs"] = [o.to_dict() for o in lin.outputs]
    pkg["models"] = [m.to_dict() for m in lin.models]
    with ctx.workspace.engine.connect() as conn:
        pkg["restrictions"] = subject_exclusions(conn, ctx.token)
    pkg["automated_decisions"] = _decisions(ctx)
    pkg["your_rights"] = YOUR_RIGHTS
    return pkg


def _decisions(ctx: StepContext) -> list[dict[str, Any]]:
    """Art. 15(1)(h): the automated decisions about the person, each with its explanation and
    review history (`veil.decisions.access`)."""
    from veil.decisions.access import access_section
    from veil.decisions.ledger import DecisionLedger

    return access_section(DecisionLedger(ctx.workspace, ctx.policy), ctx.subject_id,
                          actor=ctx.actor)


def write_package(ctx: StepContext, pkg: dict[str, Any]) -> list[dict[str, Any]]:
    """Encrypt the JSON and HTML into the request's folder; returns name, path and digest."""
    from veil.crypto.streaming import encrypt_bytes
    from veil.keys.manager import KeyManager

    ks = KeyManager(ctx.workspace, actor=ctx.actor).ensure(
        PACKAGE_KEYSET, "streaming", "veil dsr: access and portability packages")
    folder = ctx.requests.folder(ctx.request.id)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    contents = {"package.json": (json.dumps(pkg, indent=2, ensure_ascii=False, default=str)
                                 + "\n").encode("utf-8"),
                "package.html": render_html(pkg, "Your personal data").encode("utf-8")}
    for name, data in contents.items():
        ct = encrypt_bytes(data, ks, _ad(ctx.request.id, name))
        path = folder / f"{name}.enc"
        atomic_write_bytes(path, ct)
        out.append({"name": name, "path": str(path), "keyset": PACKAGE_KEYSET,
                    "associated_data": _ad(ctx.request.id, name).decode(),
                    "sha256": hashlib.sha256(ct).hexdigest()})
    return out


def decrypt_package(reqs: Requests, rec: RequestRecord, output: Path, *, actor: str,
                    reason: str) -> list[Path]:
    """Decrypt a request's package files into ``output`` (a folder, created 0700), each file
    0600. All or nothing: every file is decrypted before any is written. Recorded as one
    ``dsr.export`` event (`veil.keys.key_use`): the request, the subject's pseudonym, the
    keyset and key ids, byte counts and ``sha256:`` digests of the encrypted and written
    files; a failed decryption too, and then nothing is written."""
    from veil.crypto.streaming import decrypt_bytes
    from veil.keys.key_use import recorded_use
    from veil.keys.manager import KeyManager

    step = next((s["detail"] for s in rec.steps
                 if s["step"] == "package" and s["status"] == "done"), None)
    if step and step.get("destroyed_by"):
        raise RunRefused(f"request {rec.id}: the package was destroyed on "
                         f"{step.get('destroyed_at')} by erasure request {step['destroyed_by']}"
                         " (Art. 17); nothing can be exported")
    files = (step or {}).get("files")
    if not files:
        raise InputError(f"request {rec.id} has no package (only access and portability "
                         "requests that ran have one)")
    if output.exists() and not output.is_dir():
        raise InputError("the output must be a folder", where=str(output))
    details = {"request": rec.id, "kind": rec.kind, "reason": reason.strip()[:200],
               "keyset": PACKAGE_KEYSET}
    with recorded_use(reqs.workspace, "dsr.export", actor=actor, purpose="data-subject-rights",
                      legal_basis=KINDS[rec.kind], details=details) as use:
        use.subjects.append(f"dsr:{rec.subject}")
        km = KeyManager(reqs.workspace, actor=actor)
        ks = km.keyset(PACKAGE_KEYSET)
        use.key_ids(e.key_id for e in ks.enabled("streaming"))
        use.details["kek_id"] = km.kek.kek_id
        plain: dict[str, bytes] = {}
        read = 0
        for f in files:
            src = Path(f["path"])
            try:
                ct = src.read_bytes()
            except OSError as exc:
                raise InputError(f"cannot read the package: {exc.strerror}",
                                 where=str(src)) from None
            read += len(ct)
            use.digests[f"input:{f['name']}"] = _sha256(ct)
            plain[f["name"]] = decrypt_bytes(ct, ks, f["associated_data"].encode())
        use.counts.update(files=len(plain), input_bytes=read,
                          output_bytes=sum(len(d) for d in plain.values()))
        if not output.exists():
            output.mkdir(parents=True)
            output.chmod(0o700)
            use.published.append(output)
        for name, data in plain.items():
            dst = output / name
            write_private(dst, data)  # personal data in clear: owner only, from the first byte
            use.published.append(dst)
            use.digests[f"output:{name}"] = _sha256(data)
    return [output / name for name in plain]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_private(path: Path, data: bytes) -> None:
    """Atomically write a file created 0600 (never readable by others, not even briefly)."""
    import os

    from veil.io.writers import publish, temp_path_for

    tmp = temp_path_for(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _recipients(pol: Any, used: set[str]) -> list[dict[str, Any]]:
    """Art. 15(1)(c): who receives (or may receive) the data of each purpose: the register's
    name, role, country, an Art. 28 contract for processors, and whether the subject's data
    went into that purpose's outputs."""
    out: dict[str, dict[str, Any]] = {}
    for pid in pol.purposes:
        for rid, r in pol.recipients_of(pid):
            d = out.setdefault(rid, {"id": rid, "name": r.name, "role": r.role,
                                     "country": r.country, "contract": r.contract,
                                     "purposes": [], "received_your_data": False})
            d["purposes"].append(pid)
            d["received_your_data"] = d["received_your_data"] or pid in used
    return sorted(out.values(), key=lambda d: d["id"])


def write_certificate(ctx: StepContext, cert: dict[str, Any]) -> list[str]:
    folder = ctx.requests.folder(ctx.request.id)
    folder.mkdir(parents=True, exist_ok=True)
    js = folder / "erasure-certificate.json"
    page = folder / "erasure-certificate.html"
    atomic_write_bytes(js, (json.dumps(cert, indent=2, ensure_ascii=False) + "\n").encode())
    atomic_write_bytes(page, render_html(cert, "Erasure certificate").encode("utf-8"))
    return [str(js), str(page)]


# -- HTML --------------------------------------------------------------------------------------

_CSS = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em;"
        "color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid "
        "#ccc;padding:.3em .6em;vertical-align:top;text-align:left}th{background:#f3f3f3}"
        "h2{margin-top:1.5em;border-bottom:1px solid #ddd}")


def _title(key: str) -> str:
    return key.replace("_", " ").capitalize()


def _value(v: Any) -> str:
    if isinstance(v, dict):
        if not v:
            return "<em>none</em>"
        return ("<table>" + "".join(f"<tr><th>{html.escape(_title(str(k)))}</th>"
                                    f"<td>{_value(x)}</td></tr>" for k, x in v.items())
                + "</table>")
    if isinstance(v, list):
        if not v:
            return "<em>none</em>"
        if all(isinstance(x, dict) for x in v):
            keys = list(dict.fromkeys(k for x in v for k in x))
            head = "".join(f"<th>{html.escape(_title(str(k)))}</th>" for k in keys)
            body = "".join("<tr>" + "".join(f"<td>{_value(x.get(k))}</td>" for k in keys)
                           + "</tr>" for x in v)
            return f"<table><tr>{head}</tr>{body}</table>"
        return "<ul>" + "".join(f"<li>{_value(x)}</li>" for x in v) + "</ul>"
    if v is None:
        return "<em>-</em>"
    return html.escape(str(v))


def render_html(doc: dict[str, Any], title: str) -> str:
    """A readable page of a package or certificate: one section per top-level key."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>"
             f"{html.escape(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for k, v in doc.items():
        parts.append(f"<h2>{html.escape(_title(k))}</h2>{_value(v)}")
    parts.append("</body></html>\n")
    return "".join(parts)
