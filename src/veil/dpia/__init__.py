"""Data protection impact assessment drafts (Art. 35 GDPR) from what Veil knows: the policy,
the EDPB high-risk criteria, the minimization plan, the last run's measured risk and the
safeguards in force, with the questions only the DPO can answer left open."""

from veil.dpia.document import Dpia
from veil.dpia.draft import draft_dpia
from veil.dpia.write import write_dpia

__all__ = ["Dpia", "draft_dpia", "write_dpia"]
