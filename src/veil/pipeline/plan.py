"""The plan of a run: which dataset, which fields are read, kept, transformed or dropped, and
why. Everything here is decided from the policy and the input's header, before any row is
read, so a policy mistake never costs a half-done run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from veil.errors import InputError, PolicyError
from veil.io.types import arrow_schema
from veil.policy.model import Dataset, Policy, Purpose, Treatment
from veil.transforms.registry import REGISTRY, check_treatment


@dataclass(frozen=True)
class FieldPlan:
    name: str
    treatment: Treatment


@dataclass
class Plan:
    policy: Policy
    purpose_id: str
    purpose: Purpose
    dataset_id: str
    dataset: Dataset
    read: list[str]  # columns read from the source (kept fields + the subject id)
    output: list[FieldPlan]  # columns written, in policy order
    dropped: dict[str, str] = field(default_factory=dict)  # field -> why
    missing_optional: list[str] = field(default_factory=list)

    @property
    def types(self) -> dict[str, str]:
        return {n: self.dataset.fields[n].type for n in self.read}

    @property
    def output_types(self) -> dict[str, str]:
        """Policy type of each output column: the field's type, or what its transform makes
        of it (a pseudonym of an integer id is text)."""
        return {f.name: REGISTRY[f.treatment.transform].output_type(
                    self.dataset.fields[f.name], dict(f.treatment.params))
                for f in self.output}

    @property
    def output_schema(self) -> pa.Schema:
        return arrow_schema([f.name for f in self.output], self.output_types)


def choose_dataset(policy: Policy, purpose_id: str, dataset: str | None) -> str:
    """The dataset named, or the purpose's only dataset."""
    purpose = policy.purpose(purpose_id)
    if dataset is not None:
        if dataset not in policy.datasets:
            known = ", ".join(sorted(policy.datasets))
            raise PolicyError(f"unknown dataset '{dataset}' (known: {known})",
                              where=policy.source)
        if dataset not in purpose.datasets:
            raise PolicyError(f"purpose '{purpose_id}' may not use dataset '{dataset}'",
                              where=policy.locate("purposes", purpose_id, "datasets"))
        return dataset
    if len(purpose.datasets) == 1:
        return next(iter(purpose.datasets))
    raise PolicyError(f"purpose '{purpose_id}' uses several datasets "
                      f"({', '.join(purpose.datasets)}): choose one with --dataset",
                      where=policy.locate("purposes", purpose_id, "datasets"))


def check_treatments(policy: Policy, purpose_id: str | None = None) -> None:
    """Every treatment names a registered transform whose parameters fit the field."""
    problems = treatment_errors(policy, purpose_id)
    if problems:
        raise PolicyError.several(problems)


def treatment_errors(policy: Policy, purpose_id: str | None = None) -> list[PolicyError]:
    """Every treatment that names an unknown transform or parameters that do not fit."""
    base_dir = (Path(policy.source).resolve().parent
                if policy.source and not policy.source.startswith("<") else None)
    out: list[PolicyError] = []
    for p_id, purpose in policy.purposes.items():
        if purpose_id is not None and p_id != purpose_id:
            continue
        for ds_id, use in purpose.datasets.items():
            fields = policy.datasets[ds_id].fields
            for f_name, treat in use.fields.items():
                where = policy.locate("purposes", p_id, "datasets", ds_id, "fields", f_name)
                t = REGISTRY.get(treat.transform)
                if t is None:
                    known = ", ".join(sorted(REGISTRY))
                    out.append(PolicyError(f"field '{f_name}': unknown transform "
                                           f"'{treat.transform}' (known: {known})", where=where))
                    continue
                try:
                    check_treatment(t, fields[f_name], dict(treat.params), base_dir)
                except ValueError as exc:
                    out.append(PolicyError(f"field '{f_name}': transform '{treat.transform}' "
                                           f"{exc}", where=where))
                if t.needs_subject and not policy.datasets[ds_id].subject_id:
                    out.append(PolicyError(f"field '{f_name}': transform '{treat.transform}' "
                                           f"needs each row's subject: dataset '{ds_id}' "
                                           "declares no subject_id", where=where))
    return out


def make_plan(policy: Policy, purpose_id: str, header: list[str],
              dataset: str | None = None) -> Plan:
    purpose = policy.purpose(purpose_id)
    ds_id = choose_dataset(policy, purpose_id, dataset)
    ds = policy.datasets[ds_id]
    check_treatments(policy, purpose_id)
    use = purpose.datasets[ds_id].fields
    present = set(header)

    needed = [f for f, t in use.items() if not REGISTRY[t.transform].drops_field]
    needed_for_run = [ds.subject_id] if ds.subject_id else []
    missing = [f for f in dict.fromkeys(needed + needed_for_run) if f not in present]
    if missing:
        raise InputError(
            f"field{'s' if len(missing) > 1 else ''} {', '.join(missing)} required by purpose "
            f"'{purpose_id}' (dataset '{ds_id}') not in the data",
        )

    dropped: dict[str, str] = {}
    for col in header:
        if col not in ds.fields:
            dropped[col] = f"not declared in dataset '{ds_id}' of the policy"
        elif col not in use:
            dropped[col] = f"not needed for purpose '{purpose_id}' (minimization)"
        elif REGISTRY[use[col].transform].drops_field:
            dropped[col] = f"dropped by purpose '{purpose_id}' (treatment: drop)"
    output = [FieldPlan(f, use[f]) for f in needed]
    read = list(dict.fromkeys([f.name for f in output] + needed_for_run))
    missing_optional = [f for f in ds.fields if f not in present]
    return Plan(policy, purpose_id, purpose, ds_id, ds, read, output, dropped, missing_optional)
