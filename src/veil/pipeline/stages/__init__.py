"""The stages of a run, in the order of DESIGN.md's data flow: rights exclusions and consent
(while the subject id is still there), minimize, transform."""

from __future__ import annotations

from datetime import datetime

from veil.pipeline.plan import Plan
from veil.pipeline.stage import Stage
from veil.pipeline.stages.consent import ConsentFilter
from veil.pipeline.stages.minimize import Minimize
from veil.pipeline.stages.rights import RightsFilter
from veil.pipeline.stages.treat import Treat
from veil.store.workspace import Workspace

__all__ = ["ConsentFilter", "Minimize", "RightsFilter", "Treat", "build_stages"]


def build_stages(plan: Plan, workspace: Workspace, at: datetime) -> list[Stage]:
    """The stages of one run. Rights come first, so an erased subject is counted "erased
    (Art. 17)", not "consent withdrawn"; each filter is left out when it has nothing to do."""
    stages: list[Stage] = []
    rights = RightsFilter.for_run(plan, workspace)  # None without exclusions: no cost at all
    if rights is not None:
        stages.append(rights)
    if plan.purpose.needs_consent:
        stages.append(ConsentFilter(plan, workspace, at))
    return [*stages, Minimize([f.name for f in plan.output], plan.dropped), Treat(plan.output)]
