"""The ``risk:`` section of a policy dataset: which privacy models the released table must meet.

Example (YAML, inside ``datasets.<id>``)::

    risk:
      min_k: 5
      l_diversity: {attribute: income_band, l: 2}
      t_closeness: {attribute: income, t: 0.3, distance: ordered}
      suppression_limit: 4%
      auto_generalize: true
      quality: non_uniform_entropy
      hierarchies:
        age: hierarchies/age.csv       # relative to the policy file's folder
        postcode: hierarchies/postcode.csv

    risk:                              # the table is a 10% sample of the population
      model: population
      sampling_fraction: 10%
      max_uniqueness: 0.01             # estimated population uniqueness (Dankar et al.)
      max_risk: 0.2                    # highest journalist risk E[1/F | f]

    risk:                              # the table is a sample of a known population table
      delta_presence: {population: population.csv, delta_min: 0.0, delta_max: 0.5}

The quasi-identifiers default to the dataset's fields flagged ``quasi_identifier: true``; only
those the purpose releases (its output fields) are measured. This module needs only pydantic,
so the policy loader can import it cheaply; hierarchies are read by :meth:`RiskPolicy.check`
and by :func:`veil.risk.hierarchy.policy_hierarchies`.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from veil.policy.hierarchy_file import read_rows, validated_rows

__all__ = [
    "AlphaKRule",
    "BetaLikenessRule",
    "DeltaDisclosureRule",
    "DeltaPresenceRule",
    "LDiversityRule",
    "RiskPolicy",
    "RiskPolicyError",
    "TClosenessRule",
]

#: Field types of the policy model that have a natural order (ordered-distance t-closeness).
ORDERED_TYPES = frozenset({"integer", "float", "decimal", "date", "timestamp"})
#: The largest k, l, c, delta, beta or population a policy may name (a longer number is a
#: typing mistake; the message says this bound).
MAX_COUNT = 10**12
Quality = Literal[
    "non_uniform_entropy",
    "monotonic_non_uniform_entropy",
    "loss",
    "discernibility",
    "dm_star",
    "precision",
    "height",
    "aecs",
]
Aggregate = Literal["geometric", "arithmetic", "sum", "max", "rank"]
PopulationModel = Literal["dankar", "pitman", "zayatz", "snb"]


class RiskPolicyError(ValueError):
    """A ``risk:`` section that does not fit its dataset. ``path`` is the key path inside the
    section (for example ``("hierarchies", "age")``), so a loader can name file:line."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        self.path = path
        key = "risk" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        super().__init__(f"{key}: {message}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _one_or_many(value: Any) -> Any:
    """A single rule (a mapping) is shorthand for a list of one."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return (value,)
    return value


class LDiversityRule(_Strict):
    """Every class holds at least ``l`` "well-represented" values of ``attribute``.

    ``distinct``: at least l distinct values; ``entropy``: entropy >= log(l); ``recursive``:
    ``r1 < c (r_l + ... + r_m)`` (needs ``c``).
    """

    attribute: str
    l: float = Field(ge=1, le=MAX_COUNT)  # noqa: E741
    kind: Literal["distinct", "entropy", "recursive"] = "distinct"
    c: float | None = Field(default=None, gt=0, le=MAX_COUNT)
    estimator: Literal["shannon", "grassberger"] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> LDiversityRule:
        if self.kind in ("distinct", "recursive") and self.l != math.floor(self.l):
            raise ValueError(f"{self.kind} l-diversity needs a whole number l, got {self.l}")
        if self.kind == "recursive" and self.c is None:
            raise ValueError("recursive (c,l)-diversity needs c")
        if self.kind != "recursive" and self.c is not None:
            raise ValueError(f"c applies only to kind recursive, not {self.kind}")
        if self.estimator is not None and self.kind != "entropy":
            raise ValueError(f"estimator applies only to kind entropy, not {self.kind}")
        return self

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": f"{self.kind} l-diversity",
            "attribute": self.attribute,
            "l": self.l if self.kind == "entropy" else int(self.l),
        }
        if self.c is not None:
            d["c"] = self.c
        if self.estimator is not None:
            d["estimator"] = self.estimator
        return d


class TClosenessRule(_Strict):
    """The distribution of ``attribute`` in every class is within EMD ``t`` of the table's.

    ``equal``: every two values at distance 1 (categorical); ``ordered``: values in order
    (numeric fields, or ``order`` lists the values); ``hierarchical``: distance from a
    generalization hierarchy of the attribute (``hierarchy``, a CSV path, or the section's
    ``hierarchies`` entry for the attribute).
    """

    attribute: str
    t: float = Field(ge=0, le=1)
    distance: Literal["equal", "ordered", "hierarchical"] = "equal"
    hierarchy: str | None = None
    order: tuple[str | int | float, ...] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> TClosenessRule:
        if self.hierarchy is not None and self.distance != "hierarchical":
            raise ValueError("hierarchy applies only to distance hierarchical")
        if self.order is not None and self.distance != "ordered":
            raise ValueError("order applies only to distance ordered")
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "model": f"t-closeness ({self.distance} distance)",
            "attribute": self.attribute,
            "t": self.t,
        }


class AlphaKRule(_Strict):
    """(alpha,k)-anonymity: classes of at least ``k`` records in which no value of
    ``attribute`` (or the given ``value``) makes up more than ``alpha``."""

    attribute: str
    alpha: float = Field(gt=0, le=1)
    k: int = Field(default=1, ge=1, le=MAX_COUNT)
    value: str | int | float | None = None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "model": "(alpha,k)-anonymity",
            "attribute": self.attribute,
            "alpha": self.alpha,
            "k": self.k,
        }
        if self.value is not None:
            d["value"] = "(given)"  # the protected value itself may be telling
        return d


class DeltaDisclosureRule(_Strict):
    """delta-disclosure privacy: ``|log2(p(s|E) / p(s))| < delta`` for every value present."""

    attribute: str
    delta: float = Field(gt=0, le=MAX_COUNT)

    def describe(self) -> dict[str, Any]:
        return {
            "model": "delta-disclosure privacy",
            "attribute": self.attribute,
            "delta": self.delta,
        }


class BetaLikenessRule(_Strict):
    """beta-likeness (Cao & Karras 2012): the share of a value of ``attribute`` in a class
    exceeds its share ``q`` in the table by at most ``beta`` times ``q`` (``basic``), or by at
    most ``min(beta, -ln q)`` times (``enhanced``)."""

    attribute: str
    beta: float = Field(gt=0, le=MAX_COUNT)
    kind: Literal["basic", "enhanced"] = "enhanced"

    def describe(self) -> dict[str, Any]:
        return {
            "model": f"{self.kind} beta-likeness",
            "attribute": self.attribute,
            "beta": self.beta,
        }


class DeltaPresenceRule(_Strict):
    """delta-presence (Nergiz, Atzori & Clifton 2007): the released table is a sample of the
    ``population`` table (CSV, Parquet or JSON lines, relative to the policy file's folder,
    holding at least the quasi-identifiers); in every class the sample's share of the
    population's records, ``delta = f / F``, lies within ``[delta_min, delta_max]``, so an
    attacker holding the population is at most ``delta_max`` sure a person is in the release."""

    population: str = Field(min_length=1)
    delta_min: float = Field(default=0.0, ge=0, le=1)
    delta_max: float = Field(ge=0, le=1)
    delimiter: str = Field(default=",", min_length=1, max_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> DeltaPresenceRule:
        if self.delta_min > self.delta_max:
            raise ValueError(
                f"delta_min ({self.delta_min:g}) must not exceed delta_max ({self.delta_max:g})"
            )
        return self

    def describe(self) -> dict[str, Any]:
        return {
            "model": "delta-presence",
            "delta_min": self.delta_min,
            "delta_max": self.delta_max,
            "population": Path(self.population).name,
        }


SensitiveRule = (
    LDiversityRule | TClosenessRule | AlphaKRule | DeltaDisclosureRule | BetaLikenessRule
)


def _fraction(value: Any) -> Any:
    """``"4%"`` -> 0.04; anything else unchanged (the field's own type checks it)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"'{value}' is not a percentage like '4%'") from None
    return value


class RiskPolicy(_Strict):
    """What the released table of a dataset must satisfy, and what the run may do about it.

    * ``quasi_identifiers``: default, the dataset's fields flagged ``quasi_identifier``.
    * ``min_k`` and the sensitive-attribute rules are the privacy models; with none, the run
      only measures and records the figures.
    * ``suppression_limit``: the share of records the automatic generalization may remove
      (``0.04`` or ``"4%"``).
    * ``auto_generalize``: when the released table fails, apply the optimal full-domain
      generalization (with the ``hierarchies``) and re-check; otherwise the run is refused.
    * ``quality``: what "optimal" means (information-loss model); ``gs_factor`` weighs
      generalization against suppression (ARX's, 0.5 = neutral).
    * ``hierarchies``: column -> ARX-format CSV, relative to the policy file's folder. A QI
      without one can only be kept or replaced by ``*`` as a whole.
    * ``risk_threshold``: prosecutor risk above which a record counts as "at risk" (reported).
    * ``model``: ``sample`` (default) judges the table on its own; ``population`` treats it
      as a sample of a population of which it is ``sampling_fraction`` (or which has
      ``population_size`` records): uniqueness is then estimated in the population
      (``population_model``: Dankar et al.'s rule, or Pitman, Zayatz, SNB) and a record's
      risk is the journalist's ``E[1/F | f]``.
    * ``max_uniqueness``, ``max_risk``, ``max_average_risk``: bounds on the share of unique
      records, the highest and the average re-identification risk (of the sample, or of the
      population under ``model: population``), enforced like the other models.
    """

    quasi_identifiers: tuple[str, ...] | None = None
    min_k: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    l_diversity: tuple[LDiversityRule, ...] = ()
    t_closeness: tuple[TClosenessRule, ...] = ()
    alpha_k: tuple[AlphaKRule, ...] = ()
    delta_disclosure: tuple[DeltaDisclosureRule, ...] = ()
    beta_likeness: tuple[BetaLikenessRule, ...] = ()
    suppression_limit: float = Field(default=0.0, ge=0, le=1)
    auto_generalize: bool = False
    quality: Quality = "non_uniform_entropy"
    gs_factor: float = Field(default=0.5, ge=0, le=1)
    aggregate: Aggregate | None = None
    hierarchies: dict[str, str] = {}
    risk_threshold: float = Field(default=0.2, gt=0, le=1)
    model: Literal["sample", "population"] = "sample"
    sampling_fraction: float | None = Field(default=None, gt=0, le=1)
    population_size: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    population_model: PopulationModel = "dankar"
    max_uniqueness: float | None = Field(default=None, ge=0, le=1)
    max_risk: float | None = Field(default=None, gt=0, le=1)
    max_average_risk: float | None = Field(default=None, gt=0, le=1)
    delta_presence: DeltaPresenceRule | None = None

    @field_validator(
        "l_diversity", "t_closeness", "alpha_k", "delta_disclosure", "beta_likeness", mode="before"
    )
    @classmethod
    def _rules(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator(
        "suppression_limit",
        "sampling_fraction",
        "max_uniqueness",
        "max_risk",
        "max_average_risk",
        mode="before",
    )
    @classmethod
    def _percent(cls, value: Any) -> Any:
        return _fraction(value)

    @model_validator(mode="after")
    def _population(self) -> RiskPolicy:
        keys = ("sampling_fraction", "population_size")
        given = [k for k in keys if getattr(self, k) is not None]
        if self.model == "population" and len(given) != 1:
            raise RiskPolicyError(
                ("model",),
                "model population needs the sampling_fraction or the population_size (one)",
            )
        if self.model == "sample" and given:
            raise RiskPolicyError((given[0],), f"{given[0]} applies only to model population")
        if self.aggregate is not None and self.quality not in ("loss", "precision"):
            raise RiskPolicyError(
                ("aggregate",), "aggregate applies only to quality loss or precision"
            )
        return self

    @field_validator("quasi_identifiers")
    @classmethod
    def _unique_qis(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None:
            seen: set[str] = set()
            for q in value:
                if q in seen:
                    raise ValueError(f"quasi-identifier '{q}' is listed twice")
                seen.add(q)
        return value

    @model_validator(mode="after")
    def _attributes_apart(self) -> RiskPolicy:
        qis = set(self.quasi_identifiers or ())
        for name, rules in self._rule_groups():
            for i, r in enumerate(rules):
                if r.attribute in qis:
                    raise RiskPolicyError(
                        (name, i, "attribute"),
                        f"'{r.attribute}' is a quasi-identifier; a sensitive attribute must not be",
                    )
        return self

    # -- views ---------------------------------------------------------------------------------

    def _rule_groups(self) -> list[tuple[str, tuple[SensitiveRule, ...]]]:
        return [
            ("l_diversity", self.l_diversity),
            ("t_closeness", self.t_closeness),
            ("alpha_k", self.alpha_k),
            ("delta_disclosure", self.delta_disclosure),
            ("beta_likeness", self.beta_likeness),
        ]

    @property
    def rules(self) -> tuple[SensitiveRule, ...]:
        """Every sensitive-attribute rule, in section order."""
        return tuple(r for _, group in self._rule_groups() for r in group)

    @property
    def has_models(self) -> bool:
        return (
            self.min_k is not None
            or bool(self.rules)
            or bool(self.risk_bounds())
            or self.delta_presence is not None
        )

    def risk_bounds(self) -> list[tuple[str, float]]:
        """The bounds on uniqueness and risk that are set: (key, value)."""
        keys = ("max_uniqueness", "max_risk", "max_average_risk")
        return [(k, getattr(self, k)) for k in keys if getattr(self, k) is not None]

    def population_spec(self) -> dict[str, Any]:
        """The population of ``model: population`` (empty for ``sample``)."""
        if self.model != "population":
            return {}
        d: dict[str, Any] = {"population_model": self.population_model}
        if self.sampling_fraction is not None:
            d["sampling_fraction"] = self.sampling_fraction
        else:
            d["population_size"] = self.population_size
        return d

    def sensitive_attributes(self) -> list[str]:
        """The attributes the rules protect (each once, in order)."""
        return list(dict.fromkeys(r.attribute for r in self.rules))

    def resolve_qis(self, dataset_fields: Mapping[str, Any]) -> list[str]:
        """The quasi-identifiers: the declared list, or the fields flagged ``quasi_identifier``."""
        if self.quasi_identifiers is not None:
            return list(self.quasi_identifiers)
        return [n for n, f in dataset_fields.items() if getattr(f, "quasi_identifier", False)]

    def hierarchy_paths(self, policy_dir: str | PathLike[str]) -> dict[str, Path]:
        """Column -> hierarchy file: the ``hierarchies`` entries and those of hierarchical
        t-closeness rules, resolved against ``policy_dir``."""
        base = Path(policy_dir)
        out = {c: base / p for c, p in self.hierarchies.items()}
        for r in self.t_closeness:
            if r.hierarchy is not None:
                out[r.attribute] = base / r.hierarchy
        return out

    def describe_models(self) -> list[dict[str, Any]]:
        """The privacy models as plain dicts (for receipts and reports)."""
        out: list[dict[str, Any]] = []
        if self.min_k is not None:
            out.append({"model": "k-anonymity", "k": self.min_k})
        out.extend(r.describe() for r in self.rules)
        out.extend(self.describe_bound(k, v) for k, v in self.risk_bounds())
        if self.delta_presence is not None:
            out.append(self.delta_presence.describe())
        return out

    def population_path(self, policy_dir: str | PathLike[str]) -> Path | None:
        """The delta-presence population table, resolved against ``policy_dir`` (or None)."""
        if self.delta_presence is None:
            return None
        return Path(policy_dir) / self.delta_presence.population

    def describe_bound(self, key: str, value: float) -> dict[str, Any]:
        """A bound on uniqueness or risk as a plain dict."""
        population = self.model == "population"
        names = {
            "max_uniqueness": "population uniqueness" if population else "sample uniqueness",
            "max_risk": "highest journalist risk" if population else "highest prosecutor risk",
            "max_average_risk": "marketer risk" if population else "average prosecutor risk",
        }
        return {"model": names[key], "max": value, **self.population_spec()}

    # -- policy-check time ---------------------------------------------------------------------

    def check(self, dataset_fields: Mapping[str, Any], policy_dir: str | PathLike[str]) -> None:
        """Validate the section against its dataset's fields and the hierarchy files.

        ``dataset_fields`` maps field names to their definitions (objects with ``type``,
        ``quasi_identifier`` and ``sensitive`` attributes, like the policy's ``FieldDef``).
        Raises :class:`RiskPolicyError` (a ``ValueError`` with the key ``path``) for an unknown
        column, a missing or unreadable or inconsistent hierarchy file, an attribute that is
        not in the dataset, or a rule that cannot be evaluated on its field.
        """
        from veil.errors import VeilError

        fields = dict(dataset_fields)
        known = ", ".join(fields) or "none"

        def must_exist(path: tuple[str | int, ...], column: str, what: str) -> None:
            if column not in fields:
                raise RiskPolicyError(
                    path, f"{what} '{column}' is not a field of the dataset (fields: {known})"
                )

        for i, q in enumerate(self.quasi_identifiers or ()):
            must_exist(("quasi_identifiers", i), q, "quasi-identifier")
        qis = self.resolve_qis(fields)
        if self.has_models and not qis:
            raise RiskPolicyError(
                (),
                "privacy models need quasi-identifiers: flag the dataset's fields with "
                "'quasi_identifier: true' or list them in risk.quasi_identifiers",
            )
        for name, rules in self._rule_groups():
            for i, r in enumerate(rules):
                must_exist((name, i, "attribute"), r.attribute, "attribute")
                if r.attribute in qis:
                    raise RiskPolicyError(
                        (name, i, "attribute"),
                        f"'{r.attribute}' is a quasi-identifier; a sensitive attribute must not be",
                    )
        for i, t in enumerate(self.t_closeness):
            ftype = getattr(fields[t.attribute], "type", "string")
            if t.distance == "ordered" and t.order is None and ftype not in ORDERED_TYPES:
                raise RiskPolicyError(
                    ("t_closeness", i, "distance"),
                    f"ordered distance needs a numeric or date field, or 'order' listing the "
                    f"values; '{t.attribute}' is {ftype}",
                )
            if (
                t.distance == "hierarchical"
                and t.hierarchy is None
                and t.attribute not in self.hierarchies
            ):
                raise RiskPolicyError(
                    ("t_closeness", i, "hierarchy"),
                    f"hierarchical distance needs a hierarchy for '{t.attribute}' (here, or in "
                    f"risk.hierarchies)",
                )
        sensitive = set(self.sensitive_attributes())
        for column in self.hierarchies:
            must_exist(("hierarchies", column), column, "hierarchy column")
            if column not in qis and column not in sensitive:
                raise RiskPolicyError(
                    ("hierarchies", column),
                    f"'{column}' is neither a quasi-identifier nor a protected attribute",
                )
        where: dict[str, tuple[str | int, ...]] = {c: ("hierarchies", c) for c in self.hierarchies}
        for i, t in enumerate(self.t_closeness):
            if t.hierarchy is not None:
                where[t.attribute] = ("t_closeness", i, "hierarchy")
        self._check_population(qis, policy_dir)
        for column, path in self.hierarchy_paths(policy_dir).items():
            if not path.is_file():
                raise RiskPolicyError(
                    where[column], f"hierarchy file for '{column}' not found: {path}"
                )
            try:
                validated_rows(column, read_rows(path, column), source=str(path))
            except VeilError as exc:
                raise RiskPolicyError(where[column], exc.message) from None
            except (UnicodeDecodeError, csv.Error) as exc:
                raise RiskPolicyError(
                    where[column], f"hierarchy file for '{column}' is unreadable ({exc}): {path}"
                ) from None

    def _check_population(self, qis: list[str], policy_dir: str | PathLike[str]) -> None:
        """The delta-presence population table exists, opens, and holds every QI (its rows
        are read, and each bad one named with its line, when the run reads the table)."""
        path = self.population_path(policy_dir)
        if path is None or self.delta_presence is None:
            return
        where = ("delta_presence", "population")
        if not path.is_file():
            raise RiskPolicyError(where, f"population table not found: {path}")
        from veil.errors import VeilError
        from veil.io.readers import CsvOptions, open_source

        try:
            header = open_source(
                path, csv_options=CsvOptions(delimiter=self.delta_presence.delimiter)
            ).header()
        except VeilError as exc:
            place = f"{exc.where}: " if exc.where else f"{path}: "
            raise RiskPolicyError(where, f"population table {place}{exc.message}") from None
        missing = [q for q in qis if q not in header]
        if missing:
            raise RiskPolicyError(
                where,
                f"population table {path}: quasi-identifier '{missing[0]}' is not a column "
                f"(columns: {', '.join(header)})",
            )
