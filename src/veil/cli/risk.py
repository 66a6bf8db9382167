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


QiOpt = Annotated[
    list[str],
    typer.Option("--qi", help="Quasi-identifier columns, comma-separated (or repeat --qi)."),
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
    qi: QiOpt,
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
        float, typer.Option(min=0.0, max=1.0,
                            help="Prosecutor risk above which a record is 'at risk'.")
    ] = 0.2,
    recursive_l: Annotated[
        int, typer.Option(min=1, max=1_000_000, help="l of the recursive (c,l)-diversity figure.")
    ] = 2,
    top: Annotated[int, typer.Option(min=0, max=MAX_LIMIT,
                                     help="How many riskiest classes to show.")] = 10,
    format: InputFormatOpt = None,
    delimiter: DelimiterOpt = ",",
    quote_char: QuoteCharOpt = '"',
    encoding: EncodingOpt = "utf-8",
    as_json: JsonOpt = False,
) -> None:
    """Measure the re-identification risk of FILE: k-anonymity, class sizes, uniqueness,
    prosecutor risk, records at risk, l-diversity and t-closeness of sensitive attributes, the
    riskiest classes (masked) and which quasi-identifier makes records unique.

    Example: veil risk adult.csv --delimiter ';' --qi sex,age,race --sensitive salary-class
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
        typer.Option("--k", min=1, max=MAX_COUNT,
                     help="k-anonymity: every class holds at least k records."),
    ] = None,
    l_diversity: Annotated[
        list[str] | None,
        typer.Option("--l", help="ATTRIBUTE=L: l-diversity of a sensitive attribute."),
    ] = None,
    l_kind: Annotated[
        str, typer.Option(help="l-diversity kind: distinct, entropy or recursive.")
    ] = "distinct",
    c: Annotated[float | None, typer.Option("--c", min=0.0, max=1e9,
                                            help="c of recursive (c,l)-diversity.")] = None,
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
    suppression: Annotated[
        str, typer.Option(help="Largest share of records that may be suppressed: 0.04 or 4%.")
    ] = "0",
    quality: Annotated[
        str,
        typer.Option(help="Information-loss model: non_uniform_entropy, loss or discernibility."),
    ] = "non_uniform_entropy",
    gs_factor: Annotated[
        float, typer.Option(min=0.0, max=1.0,
                            help="Generalization vs suppression weight (ARX's gs-factor, 0..1).")
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
    """
    from pydantic import ValidationError

    from veil.policy.risk import RiskPolicy
    from veil.risk.files import anonymize_file
    from veil.risk.render import render_gate

    spec: dict[str, Any] = {
        "suppression_limit": suppression.strip(),
        "quality": quality,
        "gs_factor": gs_factor,
    }
    try:
        spec["suppression_limit"] = float(spec["suppression_limit"])
    except ValueError:
        pass  # "4%": the policy model parses it
    if k is not None:
        spec["min_k"] = k
    ls = _pairs(l_diversity, "--l")
    if ls:
        spec["l_diversity"] = [
            {"attribute": a, "l": v, "kind": l_kind, **({"c": c} if c is not None else {})}
            for a, v in ls.items()
        ]
    ts = _pairs(t_closeness, "--t")
    if ts:
        spec["t_closeness"] = [
            {"attribute": a, "t": v, "distance": t_distance} for a, v in ts.items()
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
