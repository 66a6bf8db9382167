"""The DPIA draft as data (``to_dict``) and as the Markdown a DPO edits (``to_markdown``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Dpia:
    purpose: str
    reference: str | None  # the policy's `dpia:` reference, if any
    generated_at: str
    policy: dict[str, Any]  # path, sha256, controller
    description: dict[str, Any]  # Art. 35(7)(a): the processing and its purposes
    criteria: list[dict[str, Any]]  # every EDPB criterion: id, title, met, why
    necessity: dict[str, Any]  # Art. 35(7)(b): fields used vs declared, treatments
    measured_risk: dict[str, Any] | None  # the last succeeded run's figures, or None
    safeguards: list[str]  # Art. 35(7)(d): measures actually in force
    open_risks: list[str]  # questions the DPO must answer; never answered here

    @property
    def required(self) -> bool:
        """Two or more EDPB criteria met: a DPIA is likely required (WP248 rev.01)."""
        return sum(1 for c in self.criteria if c["met"]) >= 2

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["document"] = "GDPR Art. 35 data protection impact assessment (draft)"
        d["dpia_required"] = self.required
        return d

    def to_markdown(self) -> str:
        d, n = self.description, self.necessity
        ref = f" ({self.reference})" if self.reference else ""
        out = [f"# DPIA draft: purpose `{self.purpose}`{ref}", "",
               f"Draft generated {self.generated_at} from policy `{self.policy['path']}` "
               f"(SHA-256 `{self.policy['sha256'][:16]}…`), controller "
               f"{self.policy['controller']}. A draft for the DPO: every statement below is "
               "read from the policy or the workspace; the open questions at the end are not "
               "answered here.", "",
               "## 1. Systematic description (Art. 35(7)(a))", "",
               f"- **Purpose:** {d['description']}",
               f"- **Legal basis:** {d['legal_basis']}"
               + (f" — {d['legitimate_interest']}" if d.get("legitimate_interest") else ""),
               f"- **Data subjects:** {', '.join(d['data_subjects'])}",
               f"- **Datasets:** {', '.join(d['datasets'])}",
               f"- **Categories of personal data:** {', '.join(d['categories'])}",
               f"- **Retention:** {d['retention']}",
               f"- **On erasure of a subject:** outputs are {d['on_erasure']}"]
        out.append("- **Recipients:** " + ("; ".join(
            f"{r['name']} ({r['role']}{', ' + r['country'] if r['country'] else ''}"
            f"{', contract ' + r['contract'] if r['contract'] else ''})"
            for r in d["recipients"]) or "none declared"))
        out.append("- **Transfers outside the EEA:** " + ("; ".join(
            f"{t['recipient']} in {t['country']} under {t['safeguard']}"
            f"{' (' + t['reference'] + ')' if t['reference'] else ''}"
            for t in d["transfers"]) or "none declared"))
        ad = d.get("automated_decisions")
        if ad:
            out.append(f"- **Automated decisions (Art. 22):** {ad['decision']}; basis "
                       f"{ad['basis']}; legal effect: {'yes' if ad['legal_effect'] else 'no'}; "
                       f"model inputs: {', '.join(ad['features'])}")
        out += ["", "## 2. High-risk criteria (EDPB WP248 rev.01)", "",
                f"{sum(1 for c in self.criteria if c['met'])} of {len(self.criteria)} criteria "
                f"met: a DPIA is {'required' if self.required else 'not clearly required'}.", "",
                "| criterion | met | why |", "|---|---|---|"]
        out += [f"| {c['title']} | {'yes' if c['met'] else 'not shown by the policy'} | "
                f"{c['why'] or '—'} |" for c in self.criteria]
        out += ["", "## 3. Necessity and proportionality (Art. 35(7)(b))", ""]
        for ds, x in n["datasets"].items():
            out.append(f"- **{ds}:** uses {len(x['used'])} of {x['declared']} declared fields; "
                       f"not used: {', '.join(x['not_used']) or 'none'}")
            out += [f"  - `{f}`: {t}" for f, t in x["used"].items()]
        out += ["", "## 4. Measured re-identification risk", ""]
        out += _risk_lines(self.measured_risk)
        out += ["", "## 5. Safeguards in force (Art. 35(7)(d))", ""]
        out += [f"- {s}" for s in self.safeguards]
        out += ["", "## 6. Open risks: questions for the DPO", ""]
        out += [f"{i}. {q}" for i, q in enumerate(self.open_risks, 1)]
        return "\n".join(out) + "\n"


def _risk_lines(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return ["No succeeded run of this purpose in the workspace: nothing measured yet."]
    out = [f"From run `{r['run_id']}` ({r['finished_at']}): {r['rows_in']:,} rows in, "
           f"{r['rows_out']:,} out, {r['subjects'] if r['subjects'] is not None else '?'} "
           "subjects."]
    if r.get("dropped"):
        out.append("Rows dropped: " + ", ".join(f"{k} {v:,}" for k, v in r["dropped"].items())
                   + ".")
    gate = r.get("gate")
    if gate is None:
        out.append("The run measured no re-identification risk (the dataset has no `risk:` "
                   "section).")
    else:
        after = gate.get("after") or gate.get("before") or {}
        out.append(f"Risk gate: {gate.get('outcome')}; quasi-identifiers "
                   f"{', '.join(gate.get('quasi_identifiers') or []) or 'none'}; k = "
                   f"{after.get('k')}; highest prosecutor risk "
                   f"{after.get('prosecutor_risk_highest')}; average "
                   f"{after.get('prosecutor_risk_average')}; records at risk "
                   f"{after.get('records_at_risk')}; sample uniqueness "
                   f"{after.get('sample_uniqueness')}.")
    return out
