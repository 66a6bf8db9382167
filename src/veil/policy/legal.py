"""Rules the law sets on a policy, checked when it loads, so neither ``veil policy check`` nor
``veil run`` accepts what the GDPR forbids: special categories without an Art. 9(2) condition,
criminal data without an Art. 10 authorisation, transfers with no Chapter V ground, automated
decisions without an Art. 22(2) basis and the Art. 22(3)/(4) and AI Act duties.

Each rule is a row (id, article, check); a check reads one purpose and yields (key path,
message) for every breach. The engine that applies them is short; the error names the file:line
of the key (``Policy.locate``) and the rule's article. Warnings (a purpose meeting two or more
EDPB criteria without a DPIA reference, an adequacy decision of partial scope) are returned by
:func:`legal_warnings` and never stop a load.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from veil.errors import PolicyError
from veil.policy.automated import ALL_SAFEGUARDS
from veil.policy.countries import adequacy_list, eea_list
from veil.policy.duration import Duration
from veil.policy.edpb import criteria_met

if TYPE_CHECKING:
    from veil.policy.model import Policy, Purpose

__all__ = ["DECISION_LOG_MINIMUM", "RULES", "Finding", "LegalRule", "enforce_legal",
           "legal_findings", "legal_warnings"]

Path_ = tuple[str | int, ...]
Check = Callable[["Policy", str, "Purpose"], Iterable[tuple[Path_, str]]]
#: AI Act Art. 26(6): deployers keep the logs of a high-risk system at least six months.
DECISION_LOG_MINIMUM = Duration(months=6)


@dataclass(frozen=True)
class LegalRule:
    id: str
    article: str
    check: Check


@dataclass(frozen=True)
class Finding:
    rule: str
    article: str
    severity: str  # "error" | "warning"
    purpose: str
    path: Path_
    message: str

    def key(self) -> str:
        return ".".join(str(p) for p in self.path)

    def line(self, policy: Policy) -> str:
        """'file:line: key: message [article]', the form the CLI prints."""
        return f"{policy.locate(*self.path)}: {self.key()}: {self.message} [{self.article}]"

    def to_dict(self, policy: Policy) -> dict[str, str]:
        return {"rule": self.rule, "article": self.article, "severity": self.severity,
                "purpose": self.purpose, "key": self.key(),
                "where": policy.locate(*self.path), "message": self.message}


def _fields(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str, str]]:
    for d, use in p.datasets.items():
        for f, t in use.fields.items():
            if t.transform != "drop":
                yield ("purposes", pid, "datasets", d, "fields", f), f, policy.datasets[d].fields[
                    f].category


def _art9(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    if p.special_categories_condition is not None:
        return
    for path, f, cat in _fields(policy, pid, p):
        if policy.category(cat).special:
            yield path, (f"field '{f}' is of the special category '{cat}' and the purpose "
                         "names no Art. 9(2) condition: set special_categories_condition "
                         "(a: explicit consent ... j: research), or stop using the field")


def _art10(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    if p.criminal_data_authorisation:
        return
    for path, f, cat in _fields(policy, pid, p):
        if policy.category(cat).criminal:
            yield path, (f"field '{f}' holds criminal convictions or offences data ('{cat}') "
                         "and the purpose names no authorisation: set "
                         "criminal_data_authorisation (the Union or Member State law)")


def _transfers(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    eea, adequate = eea_list(), adequacy_list()
    for i, t in enumerate(p.transfers):
        path: Path_ = ("purposes", pid, "transfers", i)
        if t.safeguard == "adequacy" and t.country not in adequate and t.country not in eea:
            yield path + ("safeguard",), (
                f"no adequacy decision covers '{t.country}' ({adequate.note()}): name an "
                "Art. 46 safeguard (sccs, bcrs, ...) or an Art. 49 derogation")


def _recipients_abroad(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    declared = {t.recipient for t in p.transfers}
    eea = eea_list()
    for i, r in enumerate(p.recipients):
        country = policy.recipients[r].country
        if country and country not in eea and r not in declared:
            yield ("purposes", pid, "recipients", i), (
                f"recipient '{r}' receives the data in {country}, outside the EEA, and the "
                "purpose declares no transfer to it: add it under 'transfers' with its "
                "safeguard")


def _art22_basis(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    ad = p.automated_decisions
    if ad is not None and ad.legal_effect and ad.basis is None:
        yield ("purposes", pid, "automated_decisions"), (
            "a decision with legal or similarly significant effect needs 'basis': contract, "
            "law or explicit_consent (Art. 22(2)(a)-(c))")


def _art22_safeguards(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    ad = p.automated_decisions
    if ad is None or not ad.legal_effect or ad.basis not in ("contract", "explicit_consent"):
        return
    missing = [s for s in ALL_SAFEGUARDS if s not in ad.safeguards]
    if missing:
        yield ("purposes", pid, "automated_decisions", "safeguards"), (
            f"basis {ad.basis} needs all three Art. 22(3) safeguards; missing: "
            f"{', '.join(missing)}")


def _overseers(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    ad = p.automated_decisions
    if ad is not None and ad.legal_effect and not [o for o in ad.overseers if o.strip()]:
        yield ("purposes", pid, "automated_decisions"), (
            "name the people or roles who oversee the decisions in 'overseers' (human "
            "oversight, AI Act Art. 14)")


def _log_retention(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    ad = p.automated_decisions
    if ad is not None and ad.legal_effect and not ad.log_period.covers(DECISION_LOG_MINIMUM):
        yield ("purposes", pid, "automated_decisions", "log_retention"), (
            f"log_retention '{ad.log_retention}' is shorter than the six months deployers "
            "must keep a high-risk system's logs (AI Act Art. 26(6))")


def _art22_4(policy: Policy, pid: str, p: Purpose) -> Iterable[tuple[Path_, str]]:
    ad = p.automated_decisions
    if ad is None or not ad.legal_effect:
        return
    cond = p.special_categories_condition
    if cond == "g" or (cond == "a" and ad.basis == "explicit_consent"):
        return
    fields = {f: policy.datasets[d].fields[f].category
              for d, u in p.datasets.items() for f in u.fields}
    for name in ad.features:
        cat = fields.get(ad.feature_field(name))
        if cat is not None and policy.category(cat).special:
            yield ("purposes", pid, "automated_decisions", "features", name), (
                f"decision feature '{name}' is special-category data ('{cat}'): allowed only "
                "with basis explicit_consent and special_categories_condition a, or with "
                "condition g (substantial public interest) (Art. 22(4))")


RULES: tuple[LegalRule, ...] = (
    LegalRule("special_category_condition", "Art. 9(2) GDPR", _art9),
    LegalRule("criminal_data_authorisation", "Art. 10 GDPR", _art10),
    LegalRule("transfer_ground", "Art. 44-46 GDPR", _transfers),
    LegalRule("recipient_abroad_without_transfer", "Art. 44 GDPR", _recipients_abroad),
    LegalRule("automated_decision_basis", "Art. 22(2) GDPR", _art22_basis),
    LegalRule("automated_decision_safeguards", "Art. 22(3) GDPR", _art22_safeguards),
    LegalRule("automated_decision_overseers", "Art. 14 AI Act", _overseers),
    LegalRule("decision_log_retention", "Art. 26(6) AI Act", _log_retention),
    LegalRule("automated_decision_special_categories", "Art. 22(4) GDPR", _art22_4),
)


def legal_findings(policy: Policy) -> list[Finding]:
    """Every breach of a legal rule, in purpose and rule order."""
    return [Finding(rule.id, rule.article, "error", pid, path, message)
            for pid, p in policy.purposes.items() for rule in RULES
            for path, message in rule.check(policy, pid, p)]


def enforce_legal(policy: Policy) -> None:
    """Raise a PolicyError naming file:line for the first breach (and how many more)."""
    found = legal_findings(policy)
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PolicyError(f"{first.key()}: {first.message} [{first.article}]{more}",
                          where=policy.locate(*first.path))


def legal_warnings(policy: Policy) -> list[Finding]:
    """What a DPO should look at although the law is not plainly broken."""
    out = []
    for pid, p in policy.purposes.items():
        met = criteria_met(policy, pid)
        if len(met) >= 2 and not p.dpia:
            out.append(Finding(
                "dpia_needed", "Art. 35 GDPR; EDPB WP248 rev.01", "warning", pid,
                ("purposes", pid),
                f"meets {len(met)} EDPB high-risk criteria ({', '.join(c.id for c, _ in met)}) "
                f"and names no DPIA: draft one with `veil dpia --purpose {pid}` and set 'dpia:'"))
        for i, t in enumerate(p.transfers):
            adequacy = adequacy_list().get(t.country)
            if t.safeguard == "adequacy" and adequacy is not None and adequacy.scope:
                out.append(Finding(
                    "adequacy_scope", "Art. 45 GDPR", "warning", pid,
                    ("purposes", pid, "transfers", i),
                    f"the adequacy decision for {t.country} ({adequacy.decision}) covers only "
                    f"{adequacy.scope}: check that '{t.recipient}' is one"))
    return out
