"""`veil risk` and `veil anonymize`: measure re-identification risk, and fix it.

Registered by the main app with ``veil.cli.risk.register(app)``. Each command calls one
library function (:func:`veil.risk.files.measure_file`, :func:`veil.risk.files.anonymize_file`)
and prints its result; bad input is a ``VeilError`` (one line, documented exit code).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from veil.cli.common import (
    MAX_COUNT,
    MAX_LIMIT,
    DelimiterOpt,
    EncodingOpt,
    InputFormatOpt,
    JsonOpt,
    QuoteCharOpt,
    csv_options,
    print_json,
    stdout_console,
)
from veil.errors import PolicyError

__all__ = ["register"]


def _split(values: Sequence[str] | None) -> list[str]:
    """`--qi a,b --qi c` -> [a, b, c]."""
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def _pairs(values: Sequence[str] | None, option: str) -> dict[str, str]:
    """`col=value` items (each option may also hold several, comma-separated)."""
    out: dict[str, str] = {}
    for item in values or ():
        for part in item.split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise PolicyError(f"{option} takes COLUMN=VALUE, got '{part.strip()}'")
            if name.strip() in out:
                raise PolicyError(f"{option} is given twice for column '{name.strip()}'")
            out[name.strip()] = value.strip()
    return out


def _orders(values: Sequence[str] | None) -> dict[str, list[str]]:
    """`--order attr=low,mid,high` (repeat for several attributes)."""
    out: dict[str, list[str]] = {}
    for item in values or ():
        name, sep, rest = item.partition("=")
        order = [v.strip() for v in rest.split(",") if v.strip()]
        if not sep or not name.strip() or not order:
            raise PolicyError(f"--order takes ATTRIBUTE=VALUE1,VALUE2,..., got '{item}'")
        if name.strip() in out:
            raise PolicyError(f"--order is given twice for '{name.strip()}'")
        out[name.strip()] = order
    return out


def _fraction(value: str | None, option: str) -> float | None:
    """`0.1` or `10%` -> 0.1."""
    if value is None:
        return None
    v = value.strip()
    try:
        return float(v[:-1]) / 100.0 if v.endswith("%") else float(v)
    except ValueError:
        raise PolicyError(f"{option} takes a share like 0.1 or 10%, got '{value}'") from None


def _presence(
    population: str | None, delta_min: float | None, delta_max: float | None
) -> dict[str, Any] | None:
    """The ``delta_presence`` rule of `--population --delta-min --delta-max` (None: none)."""
    if population is None:
        if delta_min is not None or delta_max is not None:
            raise PolicyError("--delta-min and --delta-max need --population (a population table)")
        return None
    if delta_max is None:
        raise PolicyError("--population needs --delta-max (delta-presence's largest f / F)")
    rule: dict[str, Any] = {"population": population, "delta_max": delta_max}
    if delta_min is not None:
        rule["delta_min"] = delta_min
    return rule  # read with the input's CSV options (veil.risk.files.anonymize_file)


QiOpt = Annotated[
    list[str],
    typer.Option("--qi", help="Quasi-identifier columns, comma-separated (or repeat --qi)."),
]
OrderOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--order",
        help="ATTRIBUTE=V1,V2,...: the values of a text sensitive attribute in order "
        "(ordered-distance t-closeness). Repeat for each attribute.",
    ),
]
FractionOpt = Annotated[
    str | None,
    typer.Option(
        "--sampling-fraction",
        help="The table is this share of its population (0.1 or 10%): adds population "
        "uniqueness and journalist / marketer risk.",
    ),
]
PopulationSizeOpt = Annotated[
    int | None,
    typer.Option(
        "--population-size",
        min=1,
        max=10**12,
        help="Records in the population (instead of --sampling-fraction).",
    ),
]
PopulationModelOpt = Annotated[
    str,
    typer.Option(
        "--population-model",
        help="Population uniqueness model: dankar (Dankar et al.'s rule), pitman, zayatz, snb.",
    ),
]
PopulationOpt = Annotated[
    str | None,
    typer.Option(
        "--population",
        help="A population table FILE the input is a sample of (same format options; "
        "at least the quasi-identifier columns): delta-presence, delta = f / F per class.",
    ),
]
HierarchyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--hierarchy",
        help="COLUMN=FILE: an ARX-format hierarchy CSV (';'-separated, "
        "one row per value, columns = levels). Repeat for each column.",
    ),
]


def risk_command(
    file: Annotated[str, typer.Argument(help="CSV, Parquet or JSON-lines file.")],
    qi: Annotated[
        list[str] | None,
        typer.Option(
            "--qi",
            help="Quasi-identifier columns, comma-separated (or repeat --qi). None: the "
            "whole table is one class (figures of the sensitive attributes over the table).",
        ),
    ] = None,
    sensitive: Annotated[
        list[str] | None,
        typer.Option(
            "--sensitive",
            help="Sensitive attributes (l-diversity, t-closeness, alpha, delta), comma-separated.",
        ),
    ] = None,
    hierarchy: HierarchyOpt = None,
    numeric: Annotated[
        list[str] | None,
        typer.Option(
            "--numeric",
            help="Sensitive attributes to read as numbers (adds the ordered-distance t-closeness).",
        ),
    ] = None,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Prosecutor risk above which a record is 'at risk'."),
    ] = 0.2,
    recursive_l: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="l of the recursive (c,l)-diversity figure.")
    ] = 2,
    top: Annotated[
        int, typer.Option(min=0, max=MAX_LIMIT, help="How many riskiest classes to show.")
    ] = 10,
    order: OrderOpt = None,
    sampling_fraction: FractionOpt = None,
    population_size: PopulationSizeOpt = None,
    population_model: PopulationModelOpt = "dankar",
    population: PopulationOpt = None,
    format: InputFormatOpt = None,
    delimiter: DelimiterOpt = ",",
    quote_char: QuoteCharOpt = '"',
    encoding: EncodingOpt = "utf-8",
    as_json: JsonOpt = False,
) -> None:
    """Measure the re-identification risk of FILE: k-anonymity, class sizes, uniqueness,
    prosecutor risk, records at risk, l-diversity, t-closeness and beta-likeness of
    sensitive attributes, the riskiest classes (masked) and which quasi-identifier makes
    records unique; with --sampling-fraction, population uniqueness and journalist and
    marketer risk; with --population, delta-presence.

    Example: veil risk adult.csv --delimiter ';' --qi sex,age,race --sensitive salary-class
    --sampling-fraction 10%

    Example: veil risk sample.csv --qi sex,age --population everyone.csv
    """
    from veil.risk.files import measure_file
    from veil.risk.render import render_report

    result = measure_file(
        file,
        _split(qi),
        _split(sensitive),
        hierarchies=_pairs(hierarchy, "--hierarchy"),
        numeric=_split(numeric),
        risk_threshold=threshold,
        recursive_l=recursive_l,
        top=top,
        input_format=format,
        csv_options=csv_options(delimiter, quote_char, encoding),
        orders=_orders(order),
        sampling_fraction=_fraction(sampling_fraction, "--sampling-fraction"),
        population_size=population_size,
        population_model=population_model,
        population=population,
    )
    if as_json:
        print_json(result.to_dict())
        return
    render_report(result, stdout_console(), source=file)


def anonymize_command(
    file: Annotated[str, typer.Argument(help="CSV, Parquet or JSON-lines file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output file (.parquet or .csv).")],
    qi: QiOpt,
    hierarchy: HierarchyOpt = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", min=1, max=MAX_COUNT, help="k-anonymity: every class holds at least k records."
        ),
    ] = None,
    l_diversity: Annotated[
        list[str] | None,
        typer.Option("--l", help="ATTRIBUTE=L: l-diversity of a sensitive attribute."),
    ] = None,
    l_kind: Annotated[
        str, typer.Option(help="l-diversity kind: distinct, entropy or recursive.")
    ] = "distinct",
    l_estimator: Annotated[
        str | None,
        typer.Option(help="Entropy estimator of entropy l-diversity: shannon or grassberger."),
    ] = None,
    c: Annotated[
        float | None, typer.Option("--c", min=0.0, max=1e9, help="c of recursive (c,l)-diversity.")
    ] = None,
    beta: Annotated[
        list[str] | None,
        typer.Option("--beta", help="ATTRIBUTE=BETA: beta-likeness of a sensitive attribute."),
    ] = None,
    beta_kind: Annotated[str, typer.Option(help="beta-likeness: enhanced or basic.")] = "enhanced",
    t_closeness: Annotated[
        list[str] | None,
        typer.Option("--t", help="ATTRIBUTE=T: t-closeness of a sensitive attribute."),
    ] = None,
    t_distance: Annotated[
        str,
        typer.Option(
            help="t-closeness ground distance: equal, ordered "
            "(numbers) or hierarchical (needs --hierarchy for "
            "the attribute)."
        ),
    ] = "equal",
    order: OrderOpt = None,
    model: Annotated[
        str,
        typer.Option(
            help="sample: judge the table on its own; population: as a sample of a "
            "population (needs --sampling-fraction or --population-size)."
        ),
    ] = "sample",
    sampling_fraction: FractionOpt = None,
    population_size: PopulationSizeOpt = None,
    population_model: PopulationModelOpt = "dankar",
    max_uniqueness: Annotated[
        str | None,
        typer.Option(help="Largest share of unique records (sample, or population): 0.01 or 1%."),
    ] = None,
    max_risk: Annotated[
        str | None,
        typer.Option(help="Highest re-identification risk of a record (prosecutor or journalist)."),
    ] = None,
    max_average_risk: Annotated[
        str | None,
        typer.Option(help="Highest average risk (prosecutor, or marketer)."),
    ] = None,
    population: PopulationOpt = None,
    delta_min: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="delta-presence: smallest share f / F of a population class "
            "(default 0; needs --population).",
        ),
    ] = None,
    delta_max: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="delta-presence: largest share f / F of a population class (needs --population).",
        ),
    ] = None,
    suppression: Annotated[
        str, typer.Option(help="Largest share of records that may be suppressed: 0.04 or 4%.")
    ] = "0",
    quality: Annotated[
        str,
        typer.Option(
            help="Information-loss model: non_uniform_entropy, monotonic_non_uniform_entropy, "
            "loss, discernibility, dm_star, precision, height or aecs."
        ),
    ] = "non_uniform_entropy",
    aggregate: Annotated[
        str | None,
        typer.Option(
            help="How loss and precision combine the quasi-identifiers: geometric, "
            "arithmetic, sum, max or rank."
        ),
    ] = None,
    gs_factor: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Generalization vs suppression weight (ARX's gs-factor, 0..1)."
        ),
    ] = 0.5,
    format: InputFormatOpt = None,
    delimiter: DelimiterOpt = ",",
    quote_char: QuoteCharOpt = '"',
    encoding: EncodingOpt = "utf-8",
    as_json: JsonOpt = False,
) -> None:
    """Write the optimal full-domain generalization of FILE to OUTPUT: the least information
    loss that meets the privacy models, with at most --suppression of the records removed.
    A quasi-identifier without --hierarchy is kept or replaced by '*' as a whole.

    Example: veil anonymize adult.csv --delimiter ';' -o safe.parquet --qi sex,age,race
    --hierarchy age=adult_hierarchy_age.csv --k 5 --suppression 4%

    Example: veil anonymize adult.csv --delimiter ';' -o safe.csv --qi sex,age --k 2
    --model population --sampling-fraction 1% --max-uniqueness 0.1%

    Example: veil anonymize sample.csv -o safe.csv --qi sex,age --hierarchy age=age.csv
    --population everyone.csv --delta-max 0.5
    """
    from pydantic import ValidationError

    from veil.policy.risk import RiskPolicy
    from veil.risk.files import anonymize_file
    from veil.risk.render import render_gate

    spec: dict[str, Any] = {
        "suppression_limit": suppression.strip(),
        "quality": quality,
        "gs_factor": gs_factor,
        "model": model,
        "population_model": population_model,
    }
    try:
        spec["suppression_limit"] = float(spec["suppression_limit"])
    except ValueError:
        pass  # "4%": the policy model parses it
    optional = {
        "min_k": k,
        "aggregate": aggregate,
        "sampling_fraction": sampling_fraction,
        "population_size": population_size,
        "max_uniqueness": max_uniqueness,
        "max_risk": max_risk,
        "max_average_risk": max_average_risk,
    }
    spec.update({key: v for key, v in optional.items() if v is not None})
    ls = _pairs(l_diversity, "--l")
    if ls:
        extra: dict[str, Any] = {"c": c} if c is not None else {}
        if l_estimator is not None:
            extra["estimator"] = l_estimator
        spec["l_diversity"] = [
            {"attribute": a, "l": v, "kind": l_kind, **extra} for a, v in ls.items()
        ]
    orders = _orders(order)
    ts = _pairs(t_closeness, "--t")
    if ts:
        spec["t_closeness"] = [
            {"attribute": a, "t": v, "distance": t_distance}
            | ({"order": orders[a]} if a in orders else {})
            for a, v in ts.items()
        ]
    unused = sorted(set(orders) - set(ts))
    if unused:
        raise PolicyError(f"--order is given for '{unused[0]}', which has no --t")
    presence = _presence(population, delta_min, delta_max)
    if presence is not None:
        spec["delta_presence"] = presence
    bs = _pairs(beta, "--beta")
    if bs:
        spec["beta_likeness"] = [
            {"attribute": a, "beta": v, "kind": beta_kind} for a, v in bs.items()
        ]
    try:
        risk = RiskPolicy.model_validate(spec)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise PolicyError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None
    except ValueError as exc:
        raise PolicyError(str(exc)) from None
    result = anonymize_file(
        file,
        output,
        _split(qi),
        risk,
        hierarchies=_pairs(hierarchy, "--hierarchy"),
        input_format=format,
        csv_options=csv_options(delimiter, quote_char, encoding),
    )
    if as_json:
        body = result.to_receipt()
        body["output"] = {"path": str(output), "sha256": result.sha256, "bytes": result.bytes}
        print_json(body)
        return
    render_gate(result, stdout_console(), output=str(output))


def register(app: typer.Typer) -> None:
    """Add `veil risk` and `veil anonymize` to the Typer app."""
    app.command("risk")(risk_command)
    app.command("anonymize")(anonymize_command)
