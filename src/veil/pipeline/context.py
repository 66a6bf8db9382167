"""The run's context: what the stages of one run share, each slot with one writer."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

from veil.pipeline.plan import Plan
from veil.store.workspace import Workspace
from veil.transforms.context import TransformContext
from veil.transforms.keys import TransformKeys


@dataclass
class RunContext:
    """What the stages of one run share (the same object in the local engine, one per task on
    Spark executors).

    * ``dropped_rows``: rows each filtering stage dropped, by reason (each adds its own);
    * ``subject_ids``: the subject ids of the rows leaving the minimize stage, which takes the
      subject-id column out of the batch (its only writer; read by the transforms and the
      lineage);
    * ``transforms``: what the transforms read (`veil.transforms.context.TransformContext`),
      made once from the fields above.
    """

    run_id: str
    plan: Plan
    keys: TransformKeys | None = None
    workspace: Workspace | None = None
    partition: int = 0
    dropped_rows: Counter[str] = field(default_factory=Counter)  # reason -> rows
    subject_ids: pa.Array | None = None
    transforms: TransformContext = field(init=False)

    def __post_init__(self) -> None:
        plan = self.plan
        self.transforms = TransformContext(
            run_id=self.run_id, purpose_id=plan.purpose_id, dataset_id=plan.dataset_id,
            dataset=plan.dataset, policy=plan.policy, keys=self.keys, workspace=self.workspace,
            partition=self.partition)
