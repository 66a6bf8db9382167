"""The open risks of a DPIA draft: what the DPO must answer because Veil cannot know it. Each
row is a condition on the policy or the last run, and the question it raises; no answers."""

from __future__ import annotations

from typing import Any

from veil.policy.countries import adequacy_list, eea_list
from veil.policy.model import Policy


def open_questions(policy: Policy, pid: str, met: dict[str, str],
                   measured: dict[str, Any] | None) -> list[str]:
    p = policy.purposes[pid]
    q: list[str] = []
    if "large_scale" not in met:
        q.append("Large scale: how many data subjects, what share of the customer base, what "
                 "volume and geographic extent (EDPB criterion 5)?")
    if "innovative_technology" not in met:
        q.append("Innovative technology: does the processing use new technology or a new "
                 "combination (e.g. machine learning) whose risks are not well known?")
    if measured is None:
        q.append("No run of this purpose has succeeded in the workspace: what re-identification "
                 "risk does the output carry? (run it, or measure with `veil risk`)")
    elif measured["gate"] is None:
        q.append("The last run measured no re-identification risk: which quasi-identifiers "
                 "remain in the output and is a `risk:` gate (k-anonymity) needed?")
    for f in _clear_identifiers(policy, pid):
        q.append(f"Field '{f}' leaves the run in clear: is it necessary for the purpose, or can "
                 "it be pseudonymized or dropped?")
    if p.legal_basis == "legitimate_interests":
        q.append("Legitimate interests: where is the balancing test recorded, and how can people "
                 "object (Art. 21)?")
    q.append(f"Retention of {p.retention}: why is this period necessary, and from which event "
             "is it counted?")
    for t in p.transfers:
        if t.country in eea_list():
            continue
        a = adequacy_list().get(t.country)
        if t.safeguard == "adequacy" and a is not None and a.scope:
            q.append(f"Transfer to {t.recipient} ({t.country}): the adequacy decision covers "
                     f"only {a.scope}; is the recipient covered, and how is that checked?")
        elif t.safeguard != "adequacy":
            q.append(f"Transfer to {t.recipient} ({t.country}) under {t.safeguard}: where is the "
                     "transfer impact assessment, and which supplementary measures apply?")
    for r, x in policy.recipients_of(pid):
        if x.notify is None and x.role != "internal":
            q.append(f"Recipient '{r}' has no notification channel: how is it told of "
                     "rectifications, erasures and restrictions (Art. 19)?")
    q += _decision_questions(policy, pid)
    q += ["Have the data subjects or their representatives been consulted (Art. 35(9))?",
          "What is the DPO's advice (Art. 35(2)), and does a high residual risk remain that "
          "requires prior consultation of the supervisory authority (Art. 36)?"]
    return q


def _clear_identifiers(policy: Policy, pid: str) -> list[str]:
    p = policy.purposes[pid]
    return [f for d, u in p.datasets.items() for f, t in u.fields.items()
            if t.transform == "keep" and policy.category(
                policy.datasets[d].fields[f].category).id in ("direct_identifier",
                                                               "government_id", "contact")]


def _decision_questions(policy: Policy, pid: str) -> list[str]:
    ad = policy.purposes[pid].automated_decisions
    if ad is None:
        return []
    q = ["How are the model's accuracy and error rates measured before use and monitored "
         "after (AI Act Art. 15), and who acts on a drift?",
         "What do reviewers see, and do they have the authority and time to change an "
         "automated decision (meaningful human intervention, Art. 22(3))?"]
    if ad.protected_attributes:
        q.append(f"Bias monitoring on {', '.join(ad.protected_attributes)}: where do these "
                 "attributes come from, under which condition (AI Act Art. 10(5)), and when "
                 "are they deleted?")
    if ad.basis == "contract":
        q.append("Art. 22(2)(a): why is a solely automated decision necessary for the "
                 "contract, rather than a decision with human involvement?")
    return q
