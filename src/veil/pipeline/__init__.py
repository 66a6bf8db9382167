"""The run: the pipeline of stages between a source and a sink."""

from veil.pipeline.context import RunContext
from veil.pipeline.plan import Plan, make_plan
from veil.pipeline.run import RunResult, run
from veil.pipeline.stage import Stage

__all__ = ["Plan", "RunContext", "RunResult", "Stage", "make_plan", "run"]
